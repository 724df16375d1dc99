"""Shared fixtures: an isolated LAKEHOUSE_HOME per test (or per session) replaying ../shared/replay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REPLAY_DIR = (REPO_ROOT.parent / "shared" / "replay").resolve()

# Nothing in the suite may phone home.
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")

LAKEHOUSE_VARS = (
    "LAKEHOUSE_PROFILE",
    "LAKEHOUSE_HOME",
    "REPLAY_DIR",
    "UNIVERSE",
    "SEC_USER_AGENT",
    "FMP_API_KEY",
    "DAGSTER_HOME",
)


def pytest_configure(config: pytest.Config) -> None:
    """The third-party warnings the project accepts, each with its reason (finance_assets/core/entry.py)."""
    from finance_assets.core.entry import pytest_filters

    for entry in pytest_filters():
        config.addinivalue_line("filterwarnings", entry)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The build step the dbt assets need (importing the code location never parses dbt): once, if missing."""
    from finance_assets.transform.project import prepare_manifest

    prepare_manifest()


@pytest.fixture(scope="session")
def replay_dir() -> Path:
    if not (REPLAY_DIR / "edgar").is_dir():
        pytest.fail(f"recorded source data not found at {REPLAY_DIR} (expected ../shared/replay beside the checkout)")
    return REPLAY_DIR


@pytest.fixture
def lakehouse_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay_dir: Path) -> Path:
    """A fresh embedded lakehouse in tmp_path, replaying the recorded sources."""
    for name in LAKEHOUSE_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "lakehouse"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("REPLAY_DIR", str(replay_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home
