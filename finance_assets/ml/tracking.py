"""MLflow tracking and model registry helpers (which store: :class:`finance_assets.ml.resources.MlflowResource`).

Nothing here phones home: telemetry is switched off before MLflow is imported.
"""

from __future__ import annotations

import json
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


# The MLflow UI picks its experiment page from this tag: "custom_model_development" is the classic runs
# table with metric columns and charts (without it, MLflow 3 may open the GenAI traces view).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
EXPERIMENT_DESCRIPTION = (
    "21-day excess-return quantile model (p10/p50/p90) on the market cross-section: Optuna-tuned XGBoost on "
    "embargoed walk-forward CV. Parent runs = one tuning run each (trials nested under it, same metric "
    "names); `backtest` runs = out-of-sample long-short backtest with its placebo."
)


# The runs table's key metric columns. MLflow 3.17's UI keeps no server-side default layout: a first visit shows
# the attributes Source, Models and Dataset only, later visits the visitor's own layout (browser storage). What
# it reads from the server is a *saved view*: an experiment tag ``mlflow.sharedViewState.<id>`` holding
# ``{"name", "createdAt", "state"}``, where ``state`` is the JSON of the search facets and the runs table's UI
# state (``selectedColumns``: ``metrics.`<key>``` / ``attributes.`<name>``` column keys). The UI lists saved
# views under "Views" and opens one from ``#/experiments/<id>/runs?viewStateShareKey=<id>`` (its "Save and
# share view" dialog writes the same tag). Every link to the experiment we hand out (:func:`experiment_link`)
# opens this view, so the table shows the key metrics first, whatever the browser remembers.
KEY_METRICS: tuple[str, ...] = (
    "cv.rank_ic_mean",  # walk-forward CV of the tuning run (and of each trial)
    "holdout.rank_ic_mean",
    "holdout.rank_ic_tstat",
    "holdout.pinball_mean",
    "backtest.net_sharpe",  # the `backtest` run: long-short after 10 bps costs, beside its placebo
    "placebo.net_sharpe",
)
KEY_METRICS_VIEW_ID = "key-metrics"
KEY_METRICS_VIEW_NAME = "Key metrics"
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # the UI's constant (saved views and shared links)
VIEW_URL_PARAM = "viewStateShareKey"  # the UI's query parameter that opens a saved view


def key_metrics_view() -> tuple[str, str]:
    """The experiment tag (key, value) of the saved view "Key metrics": the key metric columns, newest runs first."""
    state = {
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        # the metrics and the registered version; not the wide Source and Dataset columns (they push the metrics
        # off a laptop screen): the run page lists the datasets
        "selectedColumns": [*(f"metrics.`{key}`" for key in KEY_METRICS), "attributes.`Models`"],
    }
    # createdAt is fixed: the tag is rewritten only when the view itself changes
    envelope = {"name": KEY_METRICS_VIEW_NAME, "createdAt": 0, "state": json.dumps(state, separators=(",", ":"))}
    return f"{SHARED_VIEW_TAG_PREFIX}{KEY_METRICS_VIEW_ID}", json.dumps(envelope, separators=(",", ":"))


def experiment_link(ui_url: str, experiment_id: str) -> str:
    """The experiment's runs table in the MLflow UI, opened on the saved view with the key metric columns."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{VIEW_URL_PARAM}={KEY_METRICS_VIEW_ID}"


def experiment_tags() -> dict[str, str]:
    """Every tag :func:`configure` keeps on the experiment: its kind (classic runs view) and the key-metrics view."""
    return {**EXPERIMENT_TAGS, **dict([key_metrics_view()])}


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
                tags={"model": MODEL_NAME, "mlflow.note.content": EXPERIMENT_DESCRIPTION, **experiment_tags()},
            )
        except MlflowException:  # created concurrently
            experiment_id = client.get_experiment_by_name(experiment).experiment_id  # type: ignore[union-attr]
    current = client.get_experiment(experiment_id).tags
    for key, value in experiment_tags().items():  # experiments created before a tag existed get it too
        if current.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
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


def version_of_run(client: MlflowClient, run_id: str, name: str = MODEL_NAME) -> str | None:
    """The registry version a training run registered (None if it registered none)."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return str(found[0].version) if found else None


def model_card(client: MlflowClient, run_id: str, version: str | None, backtest_table: Any, backtest_run: str) -> str:
    """The model card of a registry version (Markdown, MLflow shows it as the version's description):
    data range, universe, feature service, holdout metrics and the out-of-sample backtest beside its placebo."""
    run = client.get_run(run_id)
    tags, values = run.data.tags, run.data.metrics

    def metric(key: str) -> str:
        value = values.get(key)
        return "n/a" if value is None else f"{value:.4f}"

    rows = "\n".join(
        f"| {r['statistic']} | {r['real']:.4f} | {r['placebo']:.4f} |" for r in backtest_table.iter_rows(named=True)
    )
    return f"""# {MODEL_NAME} v{version}

Quantile XGBoost (p10/p50/p90) of the 21-session forward excess log return over ^GSPC.

| | |
|---|---|
| training run | `{run_id}` |
| feature service | {tags.get("feature_service", "?")} |
| universe | {tags.get("universe.tickers", "?")} tickers |
| month ends | {tags.get("data.first_as_of", "?")} to {tags.get("data.last_as_of", "?")} |
| training cutoff | {tags.get("training.cutoff", "?")} (labels known by then) |
| holdout from | {tags.get("holdout.start", "?")} |

## Holdout (out of sample)
| metric | model | unconditional baseline |
|---|---|---|
| pinball loss (mean) | {metric("holdout.pinball_mean")} | {metric("holdout.baseline.pinball_mean")} |
| rank IC mean | {metric("holdout.rank_ic_mean")} | |
| rank IC t-stat | {metric("holdout.rank_ic_tstat")} | |
| p10-p90 coverage | {metric("holdout.coverage")} | {metric("holdout.baseline.coverage")} |

## Backtest (walk-forward, out of sample; run `{backtest_run}`)
| statistic | model | placebo (shuffled labels) |
|---|---|---|
{rows}

No skill threshold is asserted: read the IC with its standard error and the Sharpe ratio with its own.
"""
