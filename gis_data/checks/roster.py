"""Checks of the duty roster (roster.json): a primary, deputy and superior with a mobile number per town."""

from __future__ import annotations

import re
from typing import Any

from gis_data.checks.context import Context
from gis_data.geojson import Problems, show

ROSTER_ROLES = ("primary", "deputy", "superior")
# Mainland mobile numbers: 11 digits from 13x–19x, optionally written +86 / with spaces or hyphens.
MOBILE = re.compile(r"1[3-9][0-9]{9}")
# The sample roster's numbers: a range this project reserves for fiction (see build_sample.py).
FICTIONAL_PHONE = re.compile(r"1390000[0-9]{4}")


def check_roster(doc: Any, ctx: Context, problems: Problems, source: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("towns"), list):
        problems.append(f"{source}: expected an object with a list 'towns' of duty entries")
        return
    fictional = doc.get("fictional") is True
    seen: dict[str, int] = {}
    phones: dict[str, str] = {}
    for number, entry in enumerate(doc["towns"], start=1):
        town = entry.get("town") if isinstance(entry, dict) else None
        label = f"{source}: entry #{number} (town {town if isinstance(town, str) else show(town)})"
        if not isinstance(entry, dict):
            problems.append(f"{label}: not an object")
            continue
        if not isinstance(town, str) or town not in ctx.towns:
            problems.append(f"{label}: field 'town': unknown town {town if isinstance(town, str) else show(town)}")
        elif town in seen:
            problems.append(f"{label}: field 'town': {town} already has entry #{seen[town]}")
        else:
            seen[town] = number
        for role in ROSTER_ROLES:
            person = entry.get(role)
            if not isinstance(person, dict):
                problems.append(f"{label}: field '{role}': required (an object with name, title, phone)")
                continue
            for field in ("name", "title"):
                if not isinstance(person.get(field), str) or not person[field].strip():
                    problems.append(f"{label}: field '{role}.{field}': required")
            phone = person.get("phone")
            digits = re.sub(r"^\+?86|[\s-]", "", phone) if isinstance(phone, str) else None
            if digits is None or not MOBILE.fullmatch(digits):
                problems.append(
                    f"{label}: field '{role}.phone': {show(phone)} is not a mainland mobile number (11 digits, 13x–19x)"
                )
            elif fictional and not FICTIONAL_PHONE.fullmatch(digits):
                problems.append(
                    f"{label}: field '{role}.phone': {phone} is outside the fictional range "
                    '1390000XXXX of a sample roster ("fictional": true)'
                )
            elif digits in phones:
                problems.append(f"{label}: field '{role}.phone': {phone} is also {phones[digits]}'s number")
            else:
                phones[digits] = f"{town} {role}"
    for code, (town, _) in ctx.towns.items():
        if code not in seen:
            problems.append(
                f"{source}: town {code} {town.props.get('name', '')} has no duty entry (primary, deputy, superior)"
            )
