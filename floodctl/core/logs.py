"""Logging set-up shared by every process (plain lines on stderr, English)."""

from __future__ import annotations

import logging
import os
import warnings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str | None = None) -> None:
    chosen = (level or os.environ.get("FLOOD_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=chosen, format=FORMAT)
    root.setLevel(chosen)
    # Per-request and per-message chatter of the libraries is not for operators.
    for noisy in ("uvicorn.access", "httpx", "psycopg.pool", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns and uses /tmp.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
