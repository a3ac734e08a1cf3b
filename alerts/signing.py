"""Signatures: Twilio-style webhook signatures and the signed acknowledgement links of 叫应.

``twilio_signature`` is Twilio's documented scheme (base64 HMAC-SHA1 of the full URL followed by the
POST parameters sorted by name, each name immediately followed by its value); the SMS gateway stub
signs with it and the webhooks verify with it. A link token is ``{id}.{mac}``: a random id (the
``ack_links`` row that carries expiry and single use) and an HMAC-SHA256 of it with FLOOD_SECRET_KEY,
short enough for an SMS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

LINK_ID_BYTES = 9  # 12 URL-safe characters
LINK_MAC_BYTES = 12  # 16 URL-safe characters


def twilio_signature(key: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(key, url + name+value for params sorted by name))."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def valid_twilio_signature(keys: list[str], url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Whether ``signature`` was made with one of ``keys`` (live and drill gateways have their own)."""
    if not signature:
        return False
    given = signature.encode("utf-8", "surrogateescape")  # bytes: a non-ASCII header is simply not a match
    return any(hmac.compare_digest(twilio_signature(key, url, params).encode(), given) for key in keys if key)


def _mac(secret: str, link_id: str) -> str:
    digest = hmac.new(secret.encode(), b"ack-link:" + link_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:LINK_MAC_BYTES]).decode().rstrip("=")


def new_link_token(secret: str) -> tuple[str, str]:
    """(link id to store, token to put in the URL)."""
    link_id = secrets.token_urlsafe(LINK_ID_BYTES)
    return link_id, f"{link_id}.{_mac(secret, link_id)}"


def link_id_of(secret: str, token: str) -> str | None:
    """The link id of a well-signed token, else None (expiry and single use are the database's)."""
    link_id, _, mac = token.partition(".")
    if not link_id or not mac or len(token) > 64:
        return None
    return (
        link_id if hmac.compare_digest(_mac(secret, link_id).encode(), mac.encode("utf-8", "surrogateescape")) else None
    )
