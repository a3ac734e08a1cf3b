"""The FastAPI application: mounts every router, the error mapping and the wall (Dash, at /wall/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from alerts.routes import cap as alert_cap
from alerts.routes import hooks as alert_hooks
from alerts.routes import orders as alert_orders
from alerts.routes import pages as alert_pages
from alerts.routes import reports as alert_reports
from alerts.routes import response_level as alert_response_level
from alerts.routes import warnings as alert_warnings
from dashboard import wall
from dashboard.routes import consult as consult_routes
from dashboard.routes import map as map_routes
from floodctl.api import errors
from floodctl.api.routes import ops
from floodctl.api.routes import stations as stations_routes
from floodctl.api.routes.layers import router as layers_router
from floodctl.auth.routes import router as auth_router
from floodctl.core import db
from floodctl.core.settings import Settings

# Every router of the API, in the order of /docs.
ROUTERS = (
    ops.router,
    stations_routes.router,
    layers_router,
    auth_router,
    alert_warnings.router,
    alert_response_level.router,
    alert_orders.router,
    alert_cap.router,
    alert_reports.router,
    alert_hooks.router,
    alert_pages.router,
    consult_routes.router,
    map_routes.router,
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    settings.refuse_public_dev_exposure()  # development constants never listen beyond loopback
    wall_app = wall.create_wall(settings, database_url)  # the wall dashboard (Dash), mounted at /wall/

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = db.make_pool(database_url, name="api")
        try:
            yield
        finally:
            app.state.pool.close()
            wall.close_wall(wall_app)

    app = FastAPI(
        title="floodctl",
        version=ops.VERSION,
        lifespan=lifespan,
        description="County flood/typhoon HQ command system — API v1",
    )
    app.state.settings = settings

    errors.install(app)

    for router in ROUTERS:
        app.include_router(router)

    @app.get("/wall", include_in_schema=False)
    def wall_root() -> RedirectResponse:
        return RedirectResponse("/wall/", status_code=308)

    app.mount("/wall", wall.asgi_app(wall_app), name="wall")
    return app


def api_routes(routes: Iterable[object]) -> Iterator[APIRoute]:
    """Every API route of ``app.routes``, also those of included routers (FastAPI keeps those as one
    entry per router)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from api_routes(original.routes)
        elif isinstance(route, APIRoute):
            yield route
