"""Accounts, roles and bearer tokens.

- :mod:`floodctl.auth.store`: accounts in the database (argon2 password hashes, roles, audit).
- :mod:`floodctl.auth.tokens`: signed access tokens (JWT, HS256).
- :mod:`floodctl.auth.routes`: ``/api/v1/auth`` (token, session, me, users, unlock).
- :mod:`floodctl.auth.throttle`: failed-login throttling in the database (account, address, known device).
- :mod:`floodctl.auth.privacy`: phone numbers masked for roles that do not call people.
- :mod:`floodctl.auth.cli`: ``floodctl user …``.
- Route dependencies (``ViewerDep``, ``CommanderDep``, ``require(...)``) live in ``floodctl.auth.deps``.

Roles (DESIGN.md): admin has every right; commander approves orders and sets the response level;
duty_officer drafts orders and acknowledges warnings; inspector files field reports; town_officer
acknowledges orders for their town; viewer reads. Every role may read. A new account has no role,
so no right, until one is granted.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: tuple[str, ...] = ("admin", "commander", "duty_officer", "inspector", "town_officer", "viewer")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an account (``authenticated``) or the anonymous reader."""

    name: str
    roles: frozenset[str]
    town: str | None = None  # a town officer's town code
    authenticated: bool = False

    def has_any(self, *roles: str) -> bool:
        """True when the principal holds one of ``roles``; admin holds every right."""
        return "admin" in self.roles or not self.roles.isdisjoint(roles)


ANONYMOUS = Principal("anonymous", frozenset({"viewer"}), authenticated=False)

__all__ = ["ANONYMOUS", "ROLES", "Principal"]
