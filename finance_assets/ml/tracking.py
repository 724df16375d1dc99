"""MLflow tracking and model registry helpers (which store: :class:`finance_assets.ml.resources.MlflowResource`).

Nothing here phones home: telemetry is switched off before MLflow is imported.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import mlflow  # telemetry is switched off in finance_assets/ml/__init__.py, before any MLflow import
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from finance_assets.ml.spec import CHAMPION_ALIAS, EXPERIMENT_NAME, MODEL_NAME


@dataclass(frozen=True)
class MlflowStore:
    tracking_uri: str
    artifact_location: str | None  # None: the tracking server decides (prod)


def configure(store: MlflowStore, experiment: str = EXPERIMENT_NAME) -> tuple[MlflowClient, str]:
    """Point MLflow at ``store`` (per call: tests switch homes) and return the experiment id."""
    # MLflow exports the URI to MLFLOW_TRACKING_URI, which the settings read as "the prod server": keep the
    # caller's value, or a local store would stick to the process (and to the next LAKEHOUSE_HOME)
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    client = MlflowClient(store.tracking_uri, store.tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        try:
            experiment_id = client.create_experiment(
                experiment,
                artifact_location=store.artifact_location,
                tags={"model": MODEL_NAME, "mlflow.note.content": "Walk-forward tuned quantile XGBoost; see README"},
            )
        except MlflowException:  # created concurrently
            experiment_id = client.get_experiment_by_name(experiment).experiment_id  # type: ignore[union-attr]
    mlflow.set_experiment(experiment_id=experiment_id)
    return client, experiment_id


def champion(client: MlflowClient, name: str = MODEL_NAME) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None


@cache
def code_version() -> str:
    """The checkout's commit (``-dirty`` with local edits); GIT_COMMIT in images without git."""
    if commit := os.environ.get("GIT_COMMIT"):
        return commit
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_link(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI, absolute (a relative ``#/...`` link resolved against Dagster's own UI)."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def safe_tags(tags: dict[str, Any]) -> dict[str, str]:
    """MLflow tags are strings of at most 8000 characters."""
    return {k: str(v)[:8000] for k, v in tags.items() if v is not None}
