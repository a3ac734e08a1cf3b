"""Stations: the registry with thresholds, latest values and device health; one station's series."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from floodctl.api.errors import shown
from floodctl.auth.deps import ConnDep, DrillQuery, SettingsDep, ViewerDep
from floodctl.core.errors import InvalidQuery
from floodctl.core.settings import Settings
from floodctl.stations import store as stations

router = APIRouter(tags=["stations"])

_BUCKET = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$")
_BUCKET_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_DURATION = TypeAdapter(timedelta)
# "<time> hh:mm" / "<time> hhmm" / "<time> hh" at the end: an unencoded '+' of the offset became a space.
_SPACED_OFFSET = re.compile(r"^(\S+[T ]\S+) (\d{2}(?::?\d{2})?)$")
StationKind = Literal["river", "reservoir", "tide", "rain", "weather", "camera"]
DEFAULT_RANGE = timedelta(hours=24)
GEOJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/geo+json": {}}, "description": "a GeoJSON FeatureCollection"}
}


class Series(BaseModel):
    station: str
    metric: str
    unit: str
    start: datetime
    end: datetime
    bucket: float | None = None  # seconds; None for raw points
    aggregate: str | None = None
    columns: list[str]
    points: list[list[Any]]


def parse_bucket(text: str | None) -> timedelta | None:
    if text is None or text == "" or text == "raw":
        return None
    try:
        match = _BUCKET.match(text)
        if match:
            return timedelta(**{_BUCKET_UNITS[match[2]]: int(match[1])})
        return _DURATION.validate_python(text)
    except (ValidationError, ValueError, OverflowError):  # not a duration, or beyond what timedelta holds
        raise InvalidQuery(f"bucket {shown(text)} is not a duration like 5m, 1h, 1d or PT1H") from None


def parse_time(text: str | None, name: str, settings: Settings) -> datetime | None:
    """ISO 8601; a time without offset is read in the county's time zone (FLOOD_TIMEZONE).

    A ``+hh:mm`` offset sent unencoded in a query string arrives as a space
    (``2021-07-25T12:00:00 08:00``): a space before a trailing offset is read as ``+``.
    """
    if text is None or text.strip() == "":
        return None
    value = _SPACED_OFFSET.sub(r"\1+\2", text.strip())
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name} {shown(text)} is not an ISO 8601 time like 2021-07-25T12:00:00+08:00"
            " (without an offset it is read in the county's time zone)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings.tz)


@router.get(
    "/api/v1/stations",
    response_class=Response,
    responses=GEOJSON,
    summary="Stations as GeoJSON with thresholds, latest values and device health",
)
def list_stations(
    conn: ConnDep,
    viewer: ViewerDep,
    kind: StationKind | None = None,
    town: Annotated[
        str | None, Query(pattern="^[0-9A-Za-z]{1,32}$", description="township code, e.g. 330225100")
    ] = None,
    drill: DrillQuery = 0,
) -> Response:
    body = stations.stations_geojson(conn, drill_id=drill, kind=kind, town=town)
    return Response(body, media_type="application/geo+json")


@router.get(
    "/api/v1/stations/{code}/series",
    response_model=Series,
    summary="Time series of one station: raw points or time buckets",
)
def station_series(
    code: str,
    conn: ConnDep,
    viewer: ViewerDep,
    settings: SettingsDep,
    metric: str | None = None,
    start: str | None = None,
    end: str | None = None,
    bucket: str | None = None,
    drill: DrillQuery = 0,
) -> JSONResponse:
    end_at = parse_time(end, "end", settings) or datetime.now(settings.tz)
    start_at = parse_time(start, "start", settings)
    if start_at is None:
        try:
            start_at = end_at - DEFAULT_RANGE
        except OverflowError:
            raise InvalidQuery(f"end {end_at.isoformat()} leaves no room for the default 24 h range") from None
    origin = datetime(2000, 1, 1, tzinfo=settings.tz)
    result = stations.series(
        conn,
        stations.SeriesQuery(
            code=code, metric=metric, start=start_at, end=end_at, bucket=parse_bucket(bucket), drill_id=drill
        ),
        origin=origin,
    )
    return JSONResponse(
        {
            "station": result.station,
            "metric": result.metric,
            "unit": result.unit,
            "start": result.start.isoformat(),
            "end": result.end.isoformat(),
            "bucket": result.bucket.total_seconds() if result.bucket else None,
            "aggregate": result.aggregate,
            "columns": result.columns,
            "points": result.points,
        }
    )
