"""Operations: ``/healthz`` (can the API serve, is alerting on duty) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

router = APIRouter(tags=["ops"])
VERSION = version("floodctl")


class Health(BaseModel):
    """``status``: ok, degraded (no active rule engine, or the outbox is not moving) or unavailable."""

    model_config = ConfigDict(extra="allow")
    status: str
    database: str
    version: str | None = None


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> JSONResponse:
    """200 while the database answers (the API can serve); ``status`` says "degraded" when no rule engine
    is active or the outbox is not moving (alerting needs a hand), "ok" when all is well."""
    from alerts.health import alerting_health

    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            alerting = alerting_health(conn)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc).splitlines()[0]}, status_code=503)
    return JSONResponse(
        {"status": "ok" if alerting.pop("ok") else "degraded", "database": "ok", **alerting, "version": VERSION}
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus metrics"}},
)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
