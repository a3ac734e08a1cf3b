"""Typhoon tracks for drills: readers for the official best-track formats and the packaged scenarios.

Three readers turn a file into a :class:`simulators.tracks.Track` (fixes in UTC):

``read_track_csv``
    The packaged format of ``simulators/data/typhoons/*.csv``: a header
    ``time_cst,lat,lon,type,pres_hpa,wind_ms`` and one fix a row, times in China Standard Time
    (UTC+8, ``YYYY-MM-DD HH:MM``), ``type`` the CMA class (TS, STS, TY, STY, ...).

``read_cma_bst``
    CMA (China Meteorological Administration / Shanghai Typhoon Institute) best-track files
    ``CHYYYYBST.txt``. A file holds many storms; each starts with a header line::

        66666 2106   57 0008 2106 0 6                               In-fa 20220301
        │     │      │  │    │    │ │                               │     └ date of the data set
        │     │      │  │    │    │ └ hours between fixes           └ English name
        │     │      │  │    │    └ end record (0 dissipated, 1 left the basin, 2 merged, 3 stationary)
        │     │      │  │    └ Chinese number
        │     │      │  └ serial number (including depressions)
        │     │      └ number of data rows that follow
        │     └ international number (0000 for unnamed depressions)
        └ header tag

    followed by that many data rows ``YYYYMMDDHH I LAT LON PRES WND [OWD]``: time in UTC,
    intensity category digit (0 weaker than a depression or unknown, 1 TD, 2 TS, 3 STS, 4 TY,
    5 STY, 6 SuperTY, 9 extratropical), latitude and longitude in 0.1°, central pressure in hPa,
    2-minute maximum wind in m/s and, in some years, an extra wind column ``OWD`` (ignored).
    Fields are read split on white space, which matches the official fixed columns.

``read_ibtracs_csv``
    IBTrACS v04 CSV (``ibtracs.WP.list.v04r01.csv`` and friends): a header row, a units row
    (`` ,Year, ,...`` — skipped, but its unit for ``CMA_WIND`` is honoured: IBTrACS gives every wind
    in knots, converted here to m/s), then one row per time. The CMA columns are used
    (``CMA_LAT``, ``CMA_LON``, ``CMA_PRES``, ``CMA_WIND``, ``CMA_CAT`` when present), so a storm
    read from IBTrACS matches the same storm read from the CMA file up to IBTrACS' knot rounding.
    Rows where any of the four CMA values is blank (the 3-hourly interpolated rows) are skipped.

Every reader rejects a bad file with a ``ValueError`` naming the file and the line number, and an
unknown storm with a ``ValueError`` listing what the file does hold. Fixes repeated at the same
time are kept once (the first), since :meth:`Track.sample` divides by the time between fixes.

Scenarios (:data:`SCENARIOS`, :func:`get_scenario`):

``in-fa-2106``
    Typhoon In-Fa (烟花) 2021 from the packaged operational track (39 fixes). Landfall
    2021-07-25 ~12:30 CST at Putuo, Zhoushan (965 hPa, 38 m/s) — Xiangshan lies ~60 km to the SW,
    so this is the scenario's reference "closest approach" time; second landfall 2021-07-26 ~09:50
    at Pinghu.

``direct-hit-hepu``
    Synthetic; see :func:`direct_hit_hepu_track` for its parameters. A Haikui (海葵, 1211)-like
    typhoon moving north-west that makes landfall at Hepu town (鹤浦镇), Xiangshan.

Nothing here reads ``/work/shared``: the tracks ship in ``simulators/data/typhoons``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from simulators.tracks import Fix, Track

__all__ = [
    "CMA_CATEGORIES",
    "CST",
    "DATA_DIR",
    "DIRECT_HIT_HEPU_LANDFALL",
    "HEPU_SEAT",
    "IN_FA_LANDFALL",
    "SCENARIOS",
    "Scenario",
    "direct_hit_hepu_track",
    "get_scenario",
    "in_fa_track",
    "read_cma_bst",
    "read_ibtracs_csv",
    "read_track_csv",
]

CST = timezone(timedelta(hours=8), "CST")  # China Standard Time
DATA_DIR = Path(__file__).parent / "data" / "typhoons"

#: CMA intensity category digit → class name (GB/T 19201-2006 classes; 0 means weaker or unknown).
CMA_CATEGORIES: dict[int, str | None] = {
    0: None,
    1: "TD",
    2: "TS",
    3: "STS",
    4: "TY",
    5: "STY",
    6: "SuperTY",
    9: "ET",
}

#: Seat of Hepu town (鹤浦镇, code 330225102) as in the packaged ``gis_data/towns.geojson``: (lat, lon).
HEPU_SEAT: tuple[float, float] = (29.12, 122.0)

KNOT_MS = 1852.0 / 3600.0


# --------------------------------------------------------------------------------------------------
# The packaged CSV


def read_track_csv(path: str | Path, name: str, storm_id: str) -> Track:
    """Read a packaged track (``time_cst,lat,lon,type,pres_hpa,wind_ms``; times CST, UTC+8)."""
    path = Path(path)
    required = ("time_cst", "lat", "lon", "pres_hpa", "wind_ms")
    fixes: list[Fix] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path.name}: line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            try:
                when = datetime.strptime(row["time_cst"].strip(), "%Y-%m-%d %H:%M").replace(tzinfo=CST)
                fix = Fix(
                    when,
                    _float(row["lat"]),
                    _float(row["lon"]),
                    _float(row["pres_hpa"]),
                    _float(row["wind_ms"]),
                    (row.get("type") or "").strip() or None,
                )
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path.name}: line {line}: {exc}") from None
            _check_fix(fix, f"{path.name}: line {line}")
            fixes.append(fix)
    return Track(name=name, storm_id=storm_id, fixes=_unique_times(fixes), source=str(path))


# --------------------------------------------------------------------------------------------------
# CMA CHYYYYBST.txt


@dataclass(frozen=True, slots=True)
class _CmaStorm:
    number: str  # international number, "2106" ("0000" unnamed)
    name: str  # English name as written ("In-fa"), "" if none
    header_line: int
    fixes: tuple[Fix, ...]


def read_cma_bst(path_or_text: str | Path, storm: str) -> Track:
    """Read one storm from a CMA best-track file (``CHYYYYBST.txt``) or its text.

    ``path_or_text`` is a path, or the file's contents (a string holding a newline or starting
    with ``66666``). ``storm`` is the international number (``"2106"``) or the English name
    (``"In-Fa"``, case-insensitive).
    """
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and not path_or_text.startswith("66666")):
        path = Path(path_or_text)
        label = path.name
        text = path.read_text(encoding="utf-8", errors="replace")
    else:
        label, text = "CMA best track", path_or_text
    storms = _parse_cma(text, label)
    key = storm.strip().casefold()
    if not key:
        raise ValueError("storm must be an international number or an English name, not empty")
    if key.isdigit():
        if key == "0000":
            raise ValueError(f"{label}: '0000' marks unnamed depressions and does not select one storm")
        chosen = [s for s in storms if s.number == key.zfill(4)]
    else:
        chosen = [s for s in storms if s.name.casefold() == key]
    if not chosen:
        known = ", ".join(f"{s.number} {s.name}".strip() for s in storms if s.number != "0000") or "none"
        raise ValueError(f"{label}: no storm {storm!r} (named storms in the file: {known})")
    if len(chosen) > 1:
        where = ", ".join(f"line {s.header_line}" for s in chosen)
        raise ValueError(f"{label}: storm {storm!r} is ambiguous (headers at {where}); give the number")
    s = chosen[0]
    title = f"{s.name} {s.number}" if s.name else s.number
    return Track(name=title, storm_id=s.number, fixes=s.fixes, source=f"CMA best track ({label})")


def _parse_cma(text: str, label: str) -> list[_CmaStorm]:
    storms: list[_CmaStorm] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        fields = raw.split()
        if not fields:
            continue
        if fields[0] != "66666":
            raise ValueError(f"{label}: line {lineno}: expected a '66666' storm header, got {raw.strip()!r}")
        if len(fields) < 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise ValueError(f"{label}: line {lineno}: malformed storm header {raw.strip()!r}")
        number, nrows = fields[1].zfill(4), int(fields[2])
        # Fields 3-6: serial, Chinese number, end record, interval; then the name (may be absent or
        # "(nameless)") and the 8-digit date of the data set.
        rest = fields[7:]
        if rest and len(rest[-1]) == 8 and rest[-1].isdigit():
            rest = rest[:-1]
        name = " ".join(rest)
        if name.casefold() in ("(nameless)", "nameless"):
            name = ""
        fixes: list[Fix] = []
        for _ in range(nrows):
            if i >= len(lines):
                raise ValueError(
                    f"{label}: line {lineno}: header announces {nrows} rows, the file ends after {len(fixes)}"
                )
            fixes.append(_parse_cma_row(lines[i], f"{label}: line {i + 1}"))
            i += 1
        if len(fixes) < 2:
            raise ValueError(f"{label}: line {lineno}: storm {number} has {len(fixes)} row(s), a track needs two")
        storms.append(_CmaStorm(number, name, lineno, _unique_times(fixes)))
    return storms


def _parse_cma_row(raw: str, where: str) -> Fix:
    fields = raw.split()
    if len(fields) < 6 or len(fields) > 7:
        raise ValueError(f"{where}: expected 'YYYYMMDDHH I LAT LON PRES WND [OWD]', got {raw.strip()!r}")
    stamp, cat, lat, lon, pres, wind = fields[:6]
    try:
        if len(stamp) != 10 or not stamp.isdigit():
            raise ValueError(f"time {stamp!r} is not YYYYMMDDHH")
        when = datetime.strptime(stamp, "%Y%m%d%H").replace(tzinfo=UTC)
        category = int(cat)
        if category not in CMA_CATEGORIES:
            raise ValueError(f"intensity category {cat!r} is not one of 0-6, 9")
        fix = Fix(when, int(lat) / 10.0, int(lon) / 10.0, float(int(pres)), float(int(wind)), CMA_CATEGORIES[category])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} in {raw.strip()!r}") from None
    _check_fix(fix, where)
    return fix


# --------------------------------------------------------------------------------------------------
# IBTrACS v04 CSV


_IBTRACS_COLUMNS = ("SID", "SEASON", "NAME", "ISO_TIME", "CMA_LAT", "CMA_LON", "CMA_PRES", "CMA_WIND")


def read_ibtracs_csv(path: str | Path, storm: str) -> Track:
    """Read one storm's CMA fixes from an IBTrACS v04 CSV.

    ``storm`` is the SID (``YYYYDDDHLLLLL``: year, day of year, hemisphere, lat and lon of the first
    fix — the file's own value), ``"NAME SEASON"`` (``"IN-FA 2021"``) or just the
    name when only one storm in the file has it; names compare case-insensitively.
    """
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in _IBTRACS_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path.name}: line 1: not an IBTrACS CSV, missing column(s) {', '.join(missing)}")
        col = {name: header.index(name) for name in header if name}
        key = storm.strip()
        sid_key = key.upper()
        parts = key.rsplit(maxsplit=1)
        by_season = len(parts) == 2 and parts[1].isdigit()
        name_key = (parts[0] if by_season else key).casefold()
        wind_factor = KNOT_MS  # IBTrACS winds are knots; the units row may say otherwise
        rows: dict[str, list[tuple[int, list[str]]]] = {}
        names: dict[str, tuple[str, str]] = {}
        for row in reader:
            line = reader.line_num
            if line == 2 and _is_units_row(row, col):
                unit = _cell(row, col["CMA_WIND"]).lower()
                wind_factor = 1.0 if unit.replace(" ", "") in ("m/s", "ms-1", "mps") else KNOT_MS
                continue
            if not any(cell.strip() for cell in row):
                continue
            sid = _cell(row, col["SID"])
            name, season = _cell(row, col["NAME"]), _cell(row, col["SEASON"])
            names.setdefault(sid, (name, season))
            if sid.upper() == sid_key or (name.casefold() == name_key and (not by_season or season == parts[1])):
                rows.setdefault(sid, []).append((line, row))
    if not rows:
        known = sorted({f"{n} {s} ({sid})" for sid, (n, s) in names.items()})
        sample = ", ".join(known[:20]) + (f", ... ({len(known)} storms)" if len(known) > 20 else "")
        raise ValueError(f"{path.name}: no storm {storm!r} (storms in the file: {sample or 'none'})")
    if len(rows) > 1:
        found = ", ".join(f"{names[sid][0]} {names[sid][1]} ({sid})" for sid in rows)
        raise ValueError(f"{path.name}: storm {storm!r} is ambiguous ({found}); give the SID or 'NAME SEASON'")
    ((sid, storm_rows),) = rows.items()
    fixes = [
        fix
        for line, row in storm_rows
        if (fix := _ibtracs_fix(row, col, wind_factor, f"{path.name}: line {line}")) is not None
    ]
    if len(fixes) < 2:
        raise ValueError(f"{path.name}: storm {sid} has {len(fixes)} fix(es) with CMA values, a track needs two")
    name, season = names[sid]
    return Track(
        name=f"{name.title()} {season}",
        storm_id=sid,
        fixes=_unique_times(fixes),
        source=f"IBTrACS v04, CMA columns ({path.name})",
    )


def _is_units_row(row: list[str], col: dict[str, int]) -> bool:
    season = _cell(row, col["SEASON"])
    return not season.isdigit()


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _ibtracs_fix(row: list[str], col: dict[str, int], wind_factor: float, where: str) -> Fix | None:
    values = [_cell(row, col[c]) for c in ("CMA_LAT", "CMA_LON", "CMA_PRES", "CMA_WIND")]
    if any(v == "" for v in values):
        return None
    try:
        when = datetime.strptime(_cell(row, col["ISO_TIME"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        lat, lon, pres, wind = (float(v) for v in values)
        category = None
        if "CMA_CAT" in col and (cat := _cell(row, col["CMA_CAT"])):
            digit = int(float(cat))
            if digit not in CMA_CATEGORIES:
                raise ValueError(f"CMA_CAT {cat!r} is not one of 0-6, 9")
            category = CMA_CATEGORIES[digit]
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    fix = Fix(when, lat, lon, pres, round(wind * wind_factor, 1), category)
    _check_fix(fix, where)
    return fix


# --------------------------------------------------------------------------------------------------
# Shared checks


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _check_fix(fix: Fix, where: str) -> None:
    if not -90.0 <= fix.lat <= 90.0 or not -180.0 <= fix.lon <= 360.0:
        raise ValueError(f"{where}: position {fix.lat}, {fix.lon} is outside the globe")
    if not 800.0 <= fix.pressure_hpa <= 1100.0:
        raise ValueError(f"{where}: central pressure {fix.pressure_hpa} hPa is implausible")
    if not 0.0 <= fix.wind_ms <= 120.0:
        raise ValueError(f"{where}: wind {fix.wind_ms} m/s is implausible")


def _unique_times(fixes: Iterable[Fix]) -> tuple[Fix, ...]:
    seen: set[datetime] = set()
    out: list[Fix] = []
    for fix in fixes:
        if fix.time not in seen:
            seen.add(fix.time)
            out.append(fix)
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    name: str  # "in-fa-2106"
    title_zh: str
    title_en: str
    description: str
    load: Callable[[], Track]
    landfall: datetime | None  # reference landfall / closest-approach time (aware)


def in_fa_track() -> Track:
    """Typhoon In-Fa (烟花) 2106, the packaged operational track (39 fixes, 2021-07-18 – 07-27)."""
    return read_track_csv(DATA_DIR / "in-fa-2106.csv", name="In-Fa (烟花) 2106", storm_id="2106")


# (time CST, lat °N, lon °E, class, pressure hPa, 2-min wind m/s)
_DIRECT_HIT_HEPU: tuple[tuple[str, float, float, str, float, float], ...] = (
    ("2025-08-05 14:00", 24.00, 128.00, "STS", 985, 25),  # L-61h20m
    ("2025-08-05 20:00", 24.29, 127.38, "STS", 982, 28),
    ("2025-08-06 02:00", 24.63, 126.76, "STS", 980, 30),
    ("2025-08-06 08:00", 25.01, 126.13, "TY", 975, 33),
    ("2025-08-06 14:00", 25.44, 125.51, "TY", 970, 35),
    ("2025-08-06 20:00", 25.91, 124.91, "TY", 965, 38),
    ("2025-08-07 02:00", 26.43, 124.31, "STY", 960, 42),
    ("2025-08-07 08:00", 26.99, 123.73, "STY", 960, 45),  # peak
    ("2025-08-07 14:00", 27.61, 123.16, "STY", 960, 45),  # peak
    ("2025-08-07 20:00", 28.26, 122.63, "STY", 962, 43),
    ("2025-08-08 02:00", 28.96, 122.11, "STY", 965, 42),
    ("2025-08-08 03:20", HEPU_SEAT[0], HEPU_SEAT[1], "STY", 965, 42),  # landfall at Hepu
    ("2025-08-08 08:00", 29.57, 121.44, "TY", 975, 33),
    ("2025-08-08 14:00", 30.15, 120.73, "STS", 982, 28),
    ("2025-08-08 20:00", 30.72, 120.02, "TS", 988, 23),
    ("2025-08-09 02:00", 31.30, 119.30, "TS", 992, 18),  # L+22h40m, Anhui/Jiangsu border
)

DIRECT_HIT_HEPU_LANDFALL = datetime(2025, 8, 8, 3, 20, tzinfo=CST)
IN_FA_LANDFALL = datetime(2021, 7, 25, 12, 30, tzinfo=CST)


def direct_hit_hepu_track() -> Track:
    """Synthetic typhoon "direct-hit-hepu", modelled on Haikui (海葵) 1211.

    Haikui made landfall at Hepu town, Xiangshan, at 2012-08-08 03:20 CST with 42 m/s and
    965 hPa. This storm repeats that landfall in the 2025 season:

    * 2025-08-05 14:00 CST (61 h 20 min before landfall): severe tropical storm at 24.0N 128.0E,
      985 hPa, 25 m/s, moving WNW (~297°) at ~13 km/h, curving to NW/NNW and speeding up slightly
      (~14-16 km/h) as it nears the coast (quadratic curve through 25.6N 124.4E);
    * intensifies to a typhoon (975 hPa, 33 m/s) by 08-06 08:00 and a severe typhoon with its peak
      of 960 hPa, 45 m/s on 08-07 08:00-14:00, then eases to 965 hPa, 42 m/s;
    * landfall 2025-08-08 03:20 CST exactly on Hepu's seat, 29.12N 122.00E (as in the packaged
      ``gis_data/towns.geojson``; the real town seat is ~29.13N 121.99E), 965 hPa, 42 m/s,
      moving NW (~330° just before, ~313° just after);
    * over land it goes straight north-west at ~16 km/h through Ningbo and Shaoxing to north of
      Hangzhou, weakening fast: 975 hPa/33 m/s at L+5 h, 982/28 at L+11 h, 988/23 at L+17 h;
    * ends 2025-08-09 02:00 CST (L+22 h 40 min) at 31.3N 119.3E near the Anhui/Jiangsu border
      as a tropical storm, 992 hPa, 18 m/s.

    Fixes are 6-hourly at the synoptic hours plus the landfall fix; classes are CMA's.
    """
    fixes = [
        Fix(datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=CST), lat, lon, float(p), float(w), cat)
        for t, lat, lon, cat, p, w in _DIRECT_HIT_HEPU
    ]
    return Track(
        name="Direct hit at Hepu (synthetic, after Haikui 1211)",
        storm_id="direct-hit-hepu",
        fixes=tuple(fixes),
        source="synthetic: simulators.scenarios.direct_hit_hepu_track",
    )


SCENARIOS: dict[str, Scenario] = {
    "in-fa-2106": Scenario(
        name="in-fa-2106",
        title_zh="台风“烟花”（2106）",
        title_en="Typhoon In-Fa (2106)",
        description=(
            "Replay of Typhoon In-Fa, July 2021: a slow, very wet typhoon that made landfall at "
            "Putuo, Zhoushan, on 2021-07-25 ~12:30 CST (965 hPa, 38 m/s), ~60 km NE of Xiangshan "
            "(the reference time here), and again at Pinghu on 07-26 ~09:50 (978 hPa, 28 m/s). "
            "Operational track, 39 fixes, 2021-07-18 02:00 to 07-27 02:00 CST."
        ),
        load=in_fa_track,
        landfall=IN_FA_LANDFALL,
    ),
    "direct-hit-hepu": Scenario(
        name="direct-hit-hepu",
        title_zh="模拟台风正面登陆鹤浦镇（参照“海葵”1211）",
        title_en="Synthetic typhoon landfall at Hepu (after Haikui 1211)",
        description=(
            "Synthetic severe typhoon moving north-west from 24N 128E, peaking at 960 hPa / 45 m/s, "
            "making landfall on Hepu town, Xiangshan, at 2025-08-08 03:20 CST with 965 hPa / 42 m/s "
            "(as Haikui did in 2012), then weakening inland to a tropical storm near the "
            "Anhui/Jiangsu border ~23 h later."
        ),
        load=direct_hit_hepu_track,
        landfall=DIRECT_HIT_HEPU_LANDFALL,
    ),
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None
