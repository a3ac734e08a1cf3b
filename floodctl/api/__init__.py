"""HTTP API (FastAPI): thin adapters around the core's plain functions."""
