"""The boundary's error mapping: every FloodError and every bad input becomes a JSON body with its status.

``{"error": code, "message": text, "details": [...]}``; a bug is a 500 with the same shape (and a traceback
in the server's log). Also refuses NUL in query strings and counts requests by status.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException

from floodctl.core.errors import FloodError

REQUESTS = Counter("floodctl_http_requests_total", "HTTP requests", ["status"])


def shown(text: str, limit: int = 40) -> str:
    """A query value quoted for an error message, cut short when long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def install(app: FastAPI) -> None:
    """The exception handlers and the two middlewares of the boundary."""

    @app.exception_handler(FloodError)
    async def flood_error(request: Request, exc: FloodError) -> JSONResponse:
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
        if exc.details:
            body["details"] = exc.details
        return JSONResponse(body, status_code=exc.http_status, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'body', 'path'))}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_query", "message": "; ".join(problems), "details": problems}, status_code=400
        )

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
        return JSONResponse(
            {"error": "internal_error", "message": "internal error; see the server log"}, status_code=500
        )

    @app.middleware("http")
    async def refuse_nul_in_url(request: Request, call_next):  # type: ignore[no-untyped-def]
        # No query value may carry NUL (PostgreSQL text cannot; no name or code has one). A path segment
        # with one is looked up like any other and not found (or refused by the DataError handler).
        query = request.scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            named = [
                name
                for name, value in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)
                if "\x00" in name or "\x00" in value
            ]
            where = ", ".join(dict.fromkeys(shown(name) if "\x00" in name else name for name in named)) or "query"
            return JSONResponse(
                {"error": "invalid_query", "message": f"{where}: contains a NUL character (%00)"}, status_code=400
            )
        return await call_next(request)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        REQUESTS.labels(str(response.status_code)).inc()
        return response
