"""The FastAPI application: routes, error mapping, health and metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import parse_qsl

import psycopg
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.api import pages as alert_pages
from alerts.api import router as alerts_router
from dashboard import wall
from dashboard.api import router as map_router
from dashboard.consult_api import router as consult_router
from floodctl import __version__
from floodctl.api.routes.layers import router as layers_router
from floodctl.auth.deps import ConnDep, SettingsDep, ViewerDep
from floodctl.auth.routes import router as auth_router
from floodctl.core import db
from floodctl.core.errors import FloodError, InvalidQuery
from floodctl.core.settings import Settings
from floodctl.stations import store as stations

REQUESTS = Counter("floodctl_http_requests_total", "HTTP requests", ["status"])
_BUCKET = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$")
_BUCKET_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_DURATION = TypeAdapter(timedelta)
# "<time> hh:mm" / "<time> hhmm" / "<time> hh" at the end: an unencoded '+' of the offset became a space.
_SPACED_OFFSET = re.compile(r"^(\S+[T ]\S+) (\d{2}(?::?\d{2})?)$")
StationKind = Literal["river", "reservoir", "tide", "rain", "weather", "camera"]
DEFAULT_RANGE = timedelta(hours=24)
# Drill ids are PostgreSQL integers; anything outside is refused here rather than by the database.
DrillQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="drill id; 0 = live operations")]


def parse_bucket(text: str | None) -> timedelta | None:
    if text is None or text == "" or text == "raw":
        return None
    try:
        match = _BUCKET.match(text)
        if match:
            return timedelta(**{_BUCKET_UNITS[match[2]]: int(match[1])})
        return _DURATION.validate_python(text)
    except (ValidationError, ValueError, OverflowError):   # not a duration, or beyond what timedelta holds
        raise InvalidQuery(f"bucket {_shown(text)} is not a duration like 5m, 1h, 1d or PT1H") from None


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
        raise InvalidQuery(f"{name} {_shown(text)} is not an ISO 8601 time like 2021-07-25T12:00:00+08:00"
                           " (without an offset it is read in the county's time zone)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings.tz)


def _shown(text: str, limit: int = 40) -> str:
    """A query value quoted for an error message, cut short when long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def create_app(settings: Settings, database_url: str) -> FastAPI:
    settings.refuse_public_dev_exposure()        # development constants never listen beyond loopback
    wall_app = wall.create_wall(settings, database_url)   # the wall dashboard (Dash), mounted at /wall/

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = db.make_pool(database_url, name="api")
        try:
            yield
        finally:
            app.state.pool.close()
            wall.close_wall(wall_app)

    app = FastAPI(title="floodctl", version=__version__, lifespan=lifespan,
                  description="County flood/typhoon HQ command system — API v1")
    app.state.settings = settings

    @app.exception_handler(FloodError)
    async def flood_error(request: Request, exc: FloodError) -> JSONResponse:
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
        if exc.details:
            body["details"] = exc.details
        return JSONResponse(body, status_code=exc.http_status, headers=exc.headers or None)

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

    @app.exception_handler(psycopg.DataError)
    async def bad_value(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # SQLSTATE class 22 (data exception): a value the database cannot hold or read — a NUL in a text,
        # a number or time out of range. The input's fault, so a 400 naming the problem, not a 500.
        first_line = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return JSONResponse({"error": "bad_request", "message": f"invalid value: {first_line}"}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug: still JSON for the client; Starlette re-raises it afterwards so the server logs it.
        REQUESTS.labels("500").inc()
        return JSONResponse({"error": "internal_error", "message": "internal error; see the server log"},
                            status_code=500)

    @app.middleware("http")
    async def refuse_nul_in_url(request: Request, call_next):  # type: ignore[no-untyped-def]
        # No query value may carry NUL (PostgreSQL text cannot; no name or code has one). A path segment
        # with one is looked up like any other and not found (or refused by the DataError handler).
        query = request.scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            named = [name for name, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)
                     if "\x00" in name or "\x00" in value]
            where = ", ".join(dict.fromkeys(_shown(name) if "\x00" in name else name for name in named)) or "query"
            return JSONResponse({"error": "invalid_query", "message": f"{where}: contains a NUL character (%00)"},
                                status_code=400)
        return await call_next(request)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        REQUESTS.labels(str(response.status_code)).inc()
        return response

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        """200 while the database answers (the API can serve); ``status`` says "degraded" when no rule engine
        is active or the outbox is not moving (alerting needs a hand), "ok" when all is well."""
        from alerts.health import alerting_health

        try:
            with request.app.state.pool.connection(timeout=2) as conn:
                alerting = alerting_health(conn)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc).splitlines()[0]},
                                status_code=503)
        return JSONResponse({"status": "ok" if alerting.pop("ok") else "degraded", "database": "ok",
                             **alerting, "version": __version__})

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stations", tags=["stations"],
             summary="Stations as GeoJSON with thresholds, latest values and device health")
    def list_stations(conn: ConnDep, viewer: ViewerDep,
                      kind: StationKind | None = None,
                      town: Annotated[str | None, Query(pattern="^[0-9A-Za-z]{1,32}$",
                                                        description="township code, e.g. 330225100")] = None,
                      drill: DrillQuery = 0) -> Response:
        body = stations.stations_geojson(conn, drill_id=drill, kind=kind, town=town)
        return Response(body, media_type="application/geo+json")

    @app.get("/api/v1/stations/{code}/series", tags=["stations"],
             summary="Time series of one station: raw points or time buckets")
    def station_series(code: str, conn: ConnDep, viewer: ViewerDep, settings: SettingsDep,
                       metric: str | None = None, start: str | None = None, end: str | None = None,
                       bucket: str | None = None,
                       drill: DrillQuery = 0) -> JSONResponse:
        end_at = parse_time(end, "end", settings) or datetime.now(settings.tz)
        start_at = parse_time(start, "start", settings)
        if start_at is None:
            try:
                start_at = end_at - DEFAULT_RANGE
            except OverflowError:
                raise InvalidQuery(f"end {end_at.isoformat()} leaves no room for the default 24 h range") from None
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

    app.include_router(layers_router)
    app.include_router(auth_router)
    app.include_router(alerts_router)
    app.include_router(alert_pages)
    app.include_router(consult_router)
    app.include_router(map_router)

    @app.get("/wall", include_in_schema=False)
    def wall_root() -> RedirectResponse:
        return RedirectResponse("/wall/", status_code=308)

    app.mount("/wall", wall.asgi_app(wall_app), name="wall")
    return app
