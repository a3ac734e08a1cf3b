"""The sample's duty roster: invented people per town, with phone numbers in the fictional 1390000XXXX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gis_data.checks.roster import ROSTER_ROLES
from gis_data.sample.county import TOWNS
from gis_data.sample.output import DISCLAIMER, SCHEMATIC_SOURCE

# Synthetic people: common surnames and given-name characters, combined at random.
_FAMILY = "王陈林张李周蒋钱胡吴郑叶史俞朱徐杨黄"
_GIVEN = "建国海军志强伟明华平丽芳敏静军勇磊洋斌杰涛超红霞燕"
# Phone numbers of the sample roster: 1390000 + 4 digits, a range this project declares fictional.
FICTIONAL_PHONE_PREFIX = "1390000"
ROLE_TITLES = {
    "primary": {"街道": "街道办事处主任", "镇": "镇长", "乡": "乡长"},
    "deputy": {"街道": "分管副主任", "镇": "分管副镇长", "乡": "分管副乡长"},
    "superior": {"街道": "联系县领导", "镇": "联系县领导", "乡": "联系县领导"},
}


def person(rng: np.random.Generator) -> str:
    family = _FAMILY[int(rng.integers(len(_FAMILY)))]
    given = "".join(_GIVEN[int(i)] for i in rng.integers(len(_GIVEN), size=int(rng.integers(1, 3))))
    return family + given


def roster_entries(rng: np.random.Generator) -> list[dict[str, Any]]:
    """A primary, deputy and superior per town; phone 1390000 + town number + role number."""
    entries = []
    for n, t in enumerate(TOWNS, start=1):
        entry: dict[str, Any] = {"town": t.code, "town_name": t.name}
        for k, role in enumerate(ROSTER_ROLES, start=1):
            entry[role] = {
                "name": person(rng),
                "title": ROLE_TITLES[role][t.kind],
                "phone": f"{FICTIONAL_PHONE_PREFIX}{n:02d}{k:02d}",
            }
        entries.append(entry)
    return entries


def write_roster(path: Path, entries: list[dict[str, Any]]) -> None:
    doc = {
        "type": "DutyRoster",
        "name": "乡镇防汛责任人叫应名单 — 示意 / duty roster per town (synthetic people)",
        "description": DISCLAIMER.format(
            what="synthetic people (invented names) as primary, deputy and superior of each town; "
            f"source: {SCHEMATIC_SOURCE}. Phone numbers are FICTIONAL: all lie in {FICTIONAL_PHONE_PREFIX}XXXX, "
            "a range this project reserves for sample data; they belong to nobody here and must only ever reach "
            "the stub SMS gateway"
        ),
        "fictional": True,
        "phone_range": f"{FICTIONAL_PHONE_PREFIX}XXXX",
        "towns": entries,
    }
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in doc.items() if k != "towns"]
    lines.append('"towns": [')
    lines.append(",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in entries))
    lines += ["]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
