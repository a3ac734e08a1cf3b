"""Small helpers for building Dash components, shared by the wall and its 会商 drawer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash


def attrs(**values: Any) -> dict[str, Any]:
    """HTML attributes whose names are not Python names, for a component's keywords:
    ``html.Div(..., **attrs(data_level="red", aria_label="…"))`` sets ``data-level`` and ``aria-label``."""
    return {name.replace("_", "-"): value for name, value in values.items()}


def clientside_callback(app: dash.Dash, function: dash.ClientsideFunction, *dependencies: Any, **options: Any) -> None:
    """``app.clientside_callback`` (untyped in Dash) with its arguments: a callback that runs in the page."""
    register: Callable[..., object] = app.clientside_callback
    register(function, *dependencies, **options)
