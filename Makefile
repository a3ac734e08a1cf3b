# The two commands of the README: `make up` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: up test system-deps lint bench-ingest clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "floodctl needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(RUN_STAMP)

system-deps:
	@bash deploy/ensure-system-deps.sh

up: system-deps $(RUN_STAMP)
	$(BIN)/floodctl up

# pytest exits 5 when it collected no test: make treats that as the failure it is.
test: system-deps $(DEV_STAMP)
	$(BIN)/python -m pytest

# ruff (lint and format) and mypy (config in pyproject.toml; strict for floodctl.domain and ingest).
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench-ingest: system-deps $(RUN_STAMP)
	$(BIN)/floodctl bench ingest

clean:
	rm -rf $(VENV) var test-artifacts
