"""Phone numbers are shown in full only to the roles that call people; everyone else sees them masked.

The one rule for every response that may carry a phone number (the duty roster layer, an order's
deliveries and events, anything a later route adds): pass it through :func:`for_principal`.

- Roles that call people: admin, commander, duty_officer (``CALLER_ROLES``) see every number.
- A town officer sees its own town's numbers (a dict whose ``town`` / ``town_code`` is theirs, and
  everything inside it) and the others masked.
- Everyone else (viewer, inspector, anonymous reads) sees ``139****0401``: the first three and the
  last four digits of a mainland mobile number, with ``+86`` kept when there was one.
"""

from __future__ import annotations

import re
from typing import Any

from floodctl.auth import Principal

CALLER_ROLES = ("admin", "commander", "duty_officer")
TOWN_KEYS = ("town", "town_code")
# A mainland mobile number, alone or inside a text (``hq:13900009999:…``), optionally +86 / 86 first.
_PHONE = re.compile(r"(?<!\d)((?:\+?86)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def calls_people(principal: Principal) -> bool:
    return principal.authenticated and principal.has_any(*CALLER_ROLES)


def mask_phone(text: str) -> str:
    """Every mobile number in ``text`` masked: 13900000401 → 139****0401."""
    return _PHONE.sub(lambda m: f"{m[1]}****{m[3]}", text)


def mask_phones(value: Any, keep_town: str | None = None) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every phone number masked, except inside a
    dict about ``keep_town``."""
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, dict):
        if keep_town is not None and any(value.get(key) == keep_town for key in TOWN_KEYS):
            return value
        return {key: mask_phones(item, keep_town) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_phones(item, keep_town) for item in value]
    return value


def for_principal(principal: Principal, value: Any) -> Any:
    """``value`` as ``principal`` may see it: untouched for the roles that call people, else masked
    (a town officer keeps its own town's numbers)."""
    if calls_people(principal):
        return value
    keep = principal.town if principal.authenticated and principal.has_any("town_officer") else None
    return mask_phones(value, keep_town=keep)
