"""The FastAPI application: routes, error mapping, health and metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from floodctl import __version__, db
from floodctl.api.deps import ConnDep, SettingsDep, ViewerDep
from floodctl.errors import FloodError, InvalidQuery
from floodctl.settings import Settings
from floodctl.stations import store as stations

REQUESTS = Counter("floodctl_http_requests_total", "HTTP requests", ["status"])
_BUCKET = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$")
_BUCKET_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_DURATION = TypeAdapter(timedelta)
STATION_KINDS = ("river", "reservoir", "tide", "rain", "weather", "camera")


def parse_bucket(text: str | None) -> timedelta | None:
    if text is None or text == "" or text == "raw":
        return None
    match = _BUCKET.match(text)
    if match:
        return timedelta(**{_BUCKET_UNITS[match[2]]: int(match[1])})
    try:
        return _DURATION.validate_python(text)
    except ValidationError:
        raise InvalidQuery(f"bucket {text!r} is not a duration like 5m, 1h, 1d or PT1H") from None


def parse_time(text: str | None, name: str, settings: Settings, default: datetime) -> datetime:
    """ISO 8601; a time without offset is read in the county's time zone (FLOOD_TIMEZONE)."""
    if text is None or text == "":
        return default
    try:
        value = datetime.fromisoformat(text.replace(" ", "T") if "T" not in text else text)
    except ValueError:
        raise InvalidQuery(f"{name} {text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = db.make_pool(database_url, name="api")
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(title="floodctl", version=__version__, lifespan=lifespan,
                  description="County flood/typhoon HQ command system — API v1")
    app.state.settings = settings

    @app.exception_handler(FloodError)
    async def flood_error(request: Request, exc: FloodError) -> JSONResponse:
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
        if exc.details:
            body["details"] = exc.details
        return JSONResponse(body, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'body', 'path'))}: "
                    f"{e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid_query", "message": "; ".join(problems),
                             "details": problems}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        REQUESTS.labels(str(response.status_code)).inc()
        return response

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc).splitlines()[0]},
                                status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stations", tags=["stations"],
             summary="Stations as GeoJSON with thresholds, latest values and device health")
    def list_stations(conn: ConnDep, viewer: ViewerDep,
                      kind: Annotated[str | None, Query(pattern="^(" + "|".join(STATION_KINDS) + ")$")] = None,
                      town: Annotated[str | None, Query(max_length=32)] = None,
                      drill: Annotated[int, Query(ge=0, description="drill id; 0 = live")] = 0) -> Response:
        body = stations.stations_geojson(conn, drill_id=drill, kind=kind, town=town)
        return Response(body, media_type="application/geo+json")

    @app.get("/api/v1/stations/{code}/series", tags=["stations"],
             summary="Time series of one station: raw points or time buckets")
    def station_series(code: str, conn: ConnDep, viewer: ViewerDep, settings: SettingsDep,
                       metric: str | None = None, start: str | None = None, end: str | None = None,
                       bucket: str | None = None,
                       drill: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
        now = datetime.now(settings.tz)
        end_at = parse_time(end, "end", settings, now)
        start_at = parse_time(start, "start", settings, end_at - timedelta(hours=24))
        origin = datetime(2000, 1, 1, tzinfo=settings.tz)
        result = stations.series(conn, stations.SeriesQuery(
            code=code, metric=metric, start=start_at, end=end_at, bucket=parse_bucket(bucket),
            drill_id=drill), origin=origin)
        return JSONResponse({
            "station": result.station, "metric": result.metric, "unit": result.unit,
            "start": result.start.isoformat(), "end": result.end.isoformat(),
            "bucket": result.bucket.total_seconds() if result.bucket else None,
            "aggregate": result.aggregate, "columns": result.columns, "points": result.points,
        })

    return app
