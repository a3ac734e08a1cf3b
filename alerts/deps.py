"""Request dependencies and the JSON answer shared by the alerts routes (and the dashboard's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from alerts.rules import DEFAULT_PATH, RuleSet, load_rules
from floodctl.auth.deps import SettingsDep


def get_rules(request: Request, settings: SettingsDep) -> RuleSet:
    """The county's rule set, loaded once per application and kept on ``app.state.rules``."""
    rules: RuleSet | None = getattr(request.app.state, "rules", None)
    if rules is None:
        rules = request.app.state.rules = load_rules(settings.rules_path or DEFAULT_PATH)
    return rules


RulesDep = Annotated[RuleSet, Depends(get_rules)]


def json_response(value: Any, status: int = 200) -> JSONResponse:
    """``value`` as the JSON body (times ISO 8601, as ``jsonable_encoder`` writes them) with ``status``.

    The routes' ``response_model`` describes these bodies in /openapi.json; answering with the encoded
    value itself keeps each body exactly what the service returned (no re-validation reordering keys or
    rewriting times)."""
    return JSONResponse(jsonable_encoder(value), status_code=status)
