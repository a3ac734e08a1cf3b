"""The one exception hierarchy of floodctl; each class carries its HTTP status.

    FloodError (500)
    ├── ConfigError (500)            settings that cannot work (placeholder secret in production, …)
    ├── ServiceUnavailable (503)     database or broker not reachable
    ├── Unauthorized (401)           no, expired, revoked or bad credentials
    ├── Forbidden (403)              logged in, but without the role the action needs
    ├── TooManyRequests (429)        login rate limit (carries Retry-After)
    ├── NotFound (404)
    │   └── UnknownStation (404)
    ├── BadRequest (400)
    │   ├── InvalidQuery (400)       query-string values that do not make sense
    │   └── ValidationFailed (422)   a file or body with a list of problems (gis, rules, …)
    └── Conflict (409)

The API maps them to JSON ``{"error": code, "message": text}`` (``headers``, when a class sets them,
belong on the HTTP response: ``WWW-Authenticate``, ``Retry-After``); the CLI prints the message on
one line and exits non-zero. Anything else that escapes is a bug and is reported as such.
"""

from __future__ import annotations


class FloodError(Exception):
    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    @property
    def headers(self) -> dict[str, str]:
        """HTTP response headers that go with this error (none by default)."""
        return {}


class ConfigError(FloodError):
    code = "config_error"


class ServiceUnavailable(FloodError):
    http_status = 503
    code = "service_unavailable"


class Unauthorized(FloodError):
    http_status = 401
    code = "unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(FloodError):
    http_status = 403
    code = "forbidden"


class TooManyRequests(FloodError):
    http_status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_s: int, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, int(retry_after_s))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class NotFound(FloodError):
    http_status = 404
    code = "not_found"


class UnknownStation(NotFound):
    code = "unknown_station"


class BadRequest(FloodError):
    http_status = 400
    code = "bad_request"


class InvalidQuery(BadRequest):
    code = "invalid_query"


class ValidationFailed(BadRequest):
    http_status = 422
    code = "validation_failed"


class Conflict(FloodError):
    http_status = 409
    code = "conflict"
