"""The ingest → engine notification: one encoder, one decoder, bounded payloads."""

from __future__ import annotations

import pytest

from ingest import notices
from ingest.notices import ObsRange


def test_round_trip_encloses_the_readings_in_whole_seconds() -> None:
    ranges = [ObsRange(0, 17, 1_627_185_600.25, 1_627_185_900.5), ObsRange(3, 9, 10.0, 10.0)]
    (payload,) = notices.encode(ranges)
    assert notices.decode(payload) == [ObsRange(0, 17, 1_627_185_600.0, 1_627_185_901.0), ObsRange(3, 9, 10.0, 10.0)]


def test_a_big_batch_is_split_below_the_payload_limit() -> None:
    ranges = [ObsRange(2**31 - 1, 100_000 + i, 1.7e9, 1.7e9 + 86_400) for i in range(1_001)]
    payloads = notices.encode(ranges)
    assert len(payloads) == 7 and all(len(p.encode()) < 8000 for p in payloads)
    assert [r.station_id for p in payloads for r in notices.decode(p)] == [r.station_id for r in ranges]


@pytest.mark.parametrize(
    "payload", ["0:1:2:3", "{}", "[[0, 1, 2]]", "[[0, 1, 5, 2]]", '[["a", 1, 2, 3]]', "[[true, 1, 2, 3]]", "[1]"]
)
def test_anything_else_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        notices.decode(payload)


def test_an_empty_payload_names_nothing() -> None:
    assert notices.decode("") == []
