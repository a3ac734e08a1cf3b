"""The one exception hierarchy of floodctl; each class carries its HTTP status.

    FloodError (500)
    ├── ConfigError (500)            settings that cannot work (placeholder secret in production, …)
    ├── ServiceUnavailable (503)     database or broker not reachable
    ├── NotFound (404)
    │   └── UnknownStation (404)
    ├── BadRequest (400)
    │   ├── InvalidQuery (400)       query-string values that do not make sense
    │   └── ValidationFailed (422)   a file or body with a list of problems (gis, rules, …)
    └── Conflict (409)

The API maps them to JSON ``{"error": code, "message": text}``; the CLI prints the message on one
line and exits non-zero. Anything else that escapes is a bug and is reported as such.
"""

from __future__ import annotations


class FloodError(Exception):
    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigError(FloodError):
    code = "config_error"


class ServiceUnavailable(FloodError):
    http_status = 503
    code = "service_unavailable"


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
