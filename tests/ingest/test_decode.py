"""Decoding rules, without I/O."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from floodctl.domain.metrics import FLAG_LATE, METRICS
from ingest.batch import Batch
from ingest.decode import Decoder, Registry
from ingest.worker import PARSERS

NOW = time.time()


def decoder() -> Decoder:
    return Decoder(Registry(stations={"63000001": 7}, drills={0, 3}), PARSERS, late_after_s=900, future_tolerance_s=600)


def iso(offset_s: float) -> str:
    return datetime.fromtimestamp(NOW + offset_s, UTC).astimezone().isoformat()


def decode(topic: str, payload: bytes) -> Batch:
    batch = Batch()
    decoder().add(batch, topic, payload, NOW)
    return batch


def test_single_reading_gives_one_row_per_metric() -> None:
    batch = decode(
        "flood/v1/63000001/obs", f'{{"ts": "{iso(-60)}", "values": {{"water_level": 3.42, "rainfall": 12}}}}'.encode()
    )
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in batch.obs] == [
        (7, METRICS["water_level"].id, 3.42, 0, 0),
        (7, METRICS["rainfall"].id, 12.0, 0, 0),
    ]
    assert not batch.dead


def test_late_reading_is_flagged_not_refused() -> None:
    batch = decode("flood/v1/63000001/obs", f'{{"ts": "{iso(-3600)}", "values": {{"rainfall": 1}}}}'.encode())
    assert batch.obs[0][4] == FLAG_LATE and not batch.dead


@pytest.mark.parametrize("offset, refused", [(590, False), (660, True)])
def test_future_limit_is_ten_minutes(offset: int, refused: bool) -> None:
    batch = decode("flood/v1/63000001/obs", f'{{"ts": "{iso(offset)}", "values": {{"rainfall": 1}}}}'.encode())
    assert bool(batch.dead) is refused and bool(batch.obs) is not refused


def test_drill_id_tags_rows_and_unknown_drill_is_refused() -> None:
    ok = decode("flood/v1/63000001/obs", f'{{"ts": "{iso(0)}", "values": {{"rainfall": 1}}, "drill_id": 3}}'.encode())
    assert ok.obs[0][5] == 3
    bad = decode("flood/v1/63000001/obs", f'{{"ts": "{iso(0)}", "values": {{"rainfall": 1}}, "drill_id": 4}}'.encode())
    assert bad.dead[0].reason == "unknown_drill" and not bad.obs


def test_batch_keeps_good_readings_and_lists_every_problem() -> None:
    payload = (
        f'{{"readings": [{{"ts": "{iso(-600)}", "values": {{"water_level": 1.0}}}},'
        f' {{"ts": "nope", "values": {{"water_level": 1.1}}}},'
        f' {{"ts": "{iso(-300)}", "values": {{"water_level": -99}}}}, 5]}}'
    ).encode()
    batch = decode("flood/v1/63000001/obs", payload)
    assert [r[3] for r in batch.obs] == [1.0]
    assert len(batch.dead) == 1
    assert batch.dead[0].reason == "bad_timestamp"
    assert "readings[1].ts" in batch.dead[0].detail and "readings[2].values.water_level" in batch.dead[0].detail
    assert "readings[3]" in batch.dead[0].detail


def test_nan_and_huge_numbers_are_non_finite() -> None:
    for raw in (b"NaN", b"Infinity", b"1e400"):
        batch = decode(
            "flood/v1/63000001/obs",
            b'{"ts": "' + iso(0).encode() + b'", "values": {"water_level": ' + raw + b', "rainfall": 2}}',
        )
        assert batch.dead[0].reason == "non_finite"
        assert [r[3] for r in batch.obs] == [2.0], "the finite value of the same reading is kept"


def test_batch_day_numbers_cover_every_row() -> None:
    ts = datetime.now(UTC) - timedelta(days=3)
    batch = decode("flood/v1/63000001/obs", f'{{"ts": "{ts.isoformat()}", "values": {{"rainfall": 1}}}}'.encode())
    assert batch.obs_days == {int(ts.timestamp()) // 86400}


def test_drill_lateness_follows_the_drills_own_clock() -> None:
    d = decoder()
    storm = datetime(2021, 7, 25, 4, 0, tzinfo=UTC)

    def flags(ts: datetime) -> int:
        batch = Batch()
        d.add(
            batch,
            "flood/v1/63000001/obs",
            f'{{"ts": "{ts.isoformat()}", "values": {{"rainfall": 1}}, "drill_id": 3}}'.encode(),
            NOW,
        )
        return batch.obs[0][4]

    assert flags(storm) == 0, "a replayed storm reading is not late just for being from 2021"
    assert flags(storm + timedelta(hours=2)) == 0
    assert flags(storm + timedelta(minutes=30)) == FLAG_LATE, "90 minutes behind the drill's clock"


def test_a_drill_registered_after_start_is_looked_up_not_refused() -> None:
    looked_up: list[int] = []

    def exists(drill_id: int) -> bool:
        looked_up.append(drill_id)
        return drill_id == 9

    d = Decoder(
        Registry(stations={"63000001": 7}, drills={0}),
        PARSERS,
        late_after_s=900,
        future_tolerance_s=600,
        on_unknown_drill=exists,
    )
    for drill_id, accepted in ((9, True), (10, False), (True, False), ("9", False)):
        batch = Batch()
        body = orjson.dumps({"ts": iso(0), "values": {"rainfall": 1}, "drill_id": drill_id})
        d.add(batch, "flood/v1/63000001/obs", body, NOW)
        assert bool(batch.obs) is accepted, drill_id
    assert looked_up == [9, 10]
