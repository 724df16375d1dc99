# The lakehouse's commands. Two matter on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
export UV_COMPILE_BYTECODE := 1
export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export POLARS_ICEBERG_PLANNER := pyiceberg
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse
export DAGSTER_HOME ?= $(LAKEHOUSE_HOME)/dagster
# Offline by default when the recorded responses sit next to the checkout; LIVE=1 calls the real sources.
ifeq ($(LIVE),1)
  undefine REPLAY_DIR
else ifneq ($(wildcard $(CURDIR)/../shared/replay),)
  export REPLAY_DIR ?= $(abspath $(CURDIR)/../shared/replay)
endif

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
  UV := $(PYTHON) -m uv
endif

.PHONY: setup demo test test-fast lint dev init clean

setup: ## install uv if missing, then the locked environment
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet

init: setup
	@$(UV) run --frozen python -m finance_assets.cli init

demo: setup ## materialise the whole graph for UNIVERSE on the embedded profile
	@$(UV) run --frozen python -m finance_assets.cli demo

test: setup ## the whole suite (what CI runs)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen pytest

test-fast: setup
	@$(UV) run --frozen pytest -m "not slow and not prod"

lint: setup
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check .

dev: init ## the Dagster UI on http://127.0.0.1:3000
	@$(UV) run --frozen dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf $(LAKEHOUSE_HOME) dbt_project/target
