"""Bearer access tokens: JWT (HS256, PyJWT) signed with a key derived from ``FLOOD_SECRET_KEY``.

Claims: ``sub`` (user name), ``ver`` (the account's token_version when issued), ``iat``, ``exp``
(iat + FLOOD_TOKEN_TTL_S), ``typ`` = "access", ``iss`` = "floodctl". The token carries no roles:
the API reloads the account on every request, so a revoked role, a disabled account or a bumped
token_version takes effect at once. The signing key is HMAC-SHA256(secret_key, purpose), so other
things signed with the same secret (links, cookies) can never pass for an access token.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt

from floodctl.auth import Principal
from floodctl.core.errors import Unauthorized
from floodctl.core.settings import Settings

# The web pages' session cookie holds an access token (HttpOnly, SameSite=Strict); the API takes it for
# reads only (floodctl.auth.deps.current_principal), the wall for everything it serves.
SESSION_COOKIE = "floodctl_session"
ALGORITHM = "HS256"
ISSUER = "floodctl"
TOKEN_TYPE = "access"
_PURPOSE = b"floodctl access token v1"


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.get_secret_value().encode(), _PURPOSE, hashlib.sha256).digest()


def issue(
    settings: Settings,
    principal_or_name: Principal | str,
    version: int,
    *,
    ttl_s: int | None = None,
    now: float | None = None,
) -> str:
    """A signed access token for the account, valid ``ttl_s`` (default FLOOD_TOKEN_TTL_S) seconds."""
    name = principal_or_name.name if isinstance(principal_or_name, Principal) else principal_or_name
    issued = int(time.time() if now is None else now)
    ttl = settings.token_ttl_s if ttl_s is None else ttl_s
    claims = {"sub": name, "ver": int(version), "iat": issued, "exp": issued + ttl, "typ": TOKEN_TYPE, "iss": ISSUER}
    return jwt.encode(claims, _key(settings), algorithm=ALGORITHM)


def verify(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a valid, unexpired access token; Unauthorized otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("access token expired; log in again (POST /api/v1/auth/token)") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid access token; log in again (POST /api/v1/auth/token)") from None
    if (
        claims.get("typ") != TOKEN_TYPE
        or not isinstance(claims.get("sub"), str)
        or not isinstance(claims.get("ver"), int)
        or isinstance(claims.get("ver"), bool)
    ):
        raise Unauthorized("invalid access token; log in again (POST /api/v1/auth/token)")
    return claims


# --- known-device cookies (floodctl.auth.throttle) ---------------------------------------------------------

DEVICE_COOKIE = "floodctl_device"
DEVICE_TYPE = "device"
DEVICE_TTL_S = 180 * 86_400
_DEVICE_PURPOSE = b"floodctl device cookie v1"


def _device_key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.get_secret_value().encode(), _DEVICE_PURPOSE, hashlib.sha256).digest()


def issue_device(settings: Settings, name: str, version: int, device_id: str, *, now: float | None = None) -> str:
    """A signed known-device cookie: this client logged in as ``name`` (with token_version ``version``)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": name,
        "ver": int(version),
        "did": device_id,
        "iat": issued,
        "exp": issued + DEVICE_TTL_S,
        "typ": DEVICE_TYPE,
        "iss": ISSUER,
    }
    return jwt.encode(claims, _device_key(settings), algorithm=ALGORITHM)


def device_claims(settings: Settings, cookie: str | None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired known-device cookie, else None (never an error: a bad cookie
    only means an unknown client)."""
    if not cookie or len(cookie) > 1024:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            cookie,
            _device_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    if (
        claims.get("typ") != DEVICE_TYPE
        or not isinstance(claims.get("sub"), str)
        or not isinstance(claims.get("did"), str)
        or not isinstance(claims.get("ver"), int)
    ):
        return None
    return claims
