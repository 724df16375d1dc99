"""The champion gate on synthetic data with a real signal (fast: no lakehouse, a temporary MLflow store).

The gate must keep ``champion`` on the better model: a crippled challenger (one tree) leaves the alias
where it was, with the comparison recorded on both runs; a better challenger takes it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from finance_assets.core.settings import Settings
from finance_assets.ml.spec import CHAMPION_ALIAS, MODEL_NAME
from finance_assets.ml.splits import label_window_ends, month_end_sessions, sessions
from finance_assets.ml.training import TrainConfig, Trainer, TrainingData
from finance_assets.resources import resources_for

GOOD = {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 2, "min_child_weight": 5.0}
ONE_TREE = {"n_estimators": 1, "learning_rate": 0.3, "max_depth": 2, "min_child_weight": 5.0}
SNAPSHOTS = {"gold.labels": 101, "gold.price_features": 202, "ml.training_set": 303}


def synthetic_training_data(tmp_path: Path) -> TrainingData:
    """Ten names over eight years of month ends; the label loads on x1 (and x2 is often missing)."""
    rng = np.random.default_rng(7)
    month_ends = month_end_sessions(date(2015, 1, 1), date(2022, 12, 31))
    calendar = sessions(date(2015, 1, 1), date(2023, 3, 31))
    tickers = [f"T{i}" for i in range(10)]
    n = len(month_ends) * len(tickers)
    x1, x2, x3 = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    x2[rng.random(n) < 0.3] = np.nan
    label = 0.05 * x1 + 0.02 * np.nan_to_num(x2) + rng.normal(scale=0.02, size=n)
    dates = [d for d in month_ends for _ in tickers]
    frame = pl.DataFrame(
        {
            "ticker": tickers * len(month_ends),
            "as_of_date": dates,
            "label": label,
            "label_end": label_window_ends(dates, calendar),
            "x1": x1,
            "x2": x2,
            "x3": x3,
        }
    )
    locations = {}
    for table in SNAPSHOTS:  # stand-ins for the tables' metadata files (dataset sources)
        path = tmp_path / f"{table}.metadata.json"
        path.write_text("{}")
        locations[table] = path.as_uri()
    return TrainingData(
        frame=frame,
        features=["x1", "x2", "x3"],
        feature_service="synthetic_v1",
        snapshots=dict(SNAPSHOTS),
        metadata_locations=locations,
        training_set_table="ml.training_set",
    )


@pytest.fixture
def store(tmp_path: Path) -> tuple[Settings, TrainingData]:
    settings = Settings(home=tmp_path / "lakehouse")
    return settings, synthetic_training_data(tmp_path)


def train(settings: Settings, data: TrainingData, params: dict[str, float], name: str) -> tuple:
    client, experiment_id = resources_for(settings, secrets="values")["mlflow"].configure()
    config = TrainConfig(n_folds=2, fold_months=6, holdout_months=12, min_train_months=24, fixed_params=params)
    trainer = Trainer(
        data,
        config,
        client=client,
        experiment_id=experiment_id,
        optuna_storage=resources_for(settings, secrets="values")["optuna"].storage_url(),
        run_name=name,
        tags={"test": name},
    )
    return trainer.run(), client


def test_crippled_challenger_leaves_the_alias_and_a_better_one_takes_it(
    store: tuple[Settings, TrainingData],
) -> None:
    settings, data = store
    first, client = train(settings, data, GOOD, "good")
    assert first.decision == "first" and first.model_version == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == "1"
    assert first.holdout["pinball_mean"] < first.baseline["pinball_mean"]  # the signal is learnable

    crippled, _ = train(settings, data, ONE_TREE, "one tree")
    assert crippled.model_version == "2" and crippled.decision == "kept"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == "1"
    assert crippled.champion_holdout is not None
    assert crippled.holdout["pinball_mean"] > crippled.champion_holdout["pinball_mean"]
    # the comparison is on both runs (and on the challenger's model version)
    challenger_run = client.get_run(crippled.run_id)
    assert challenger_run.data.tags["champion.decision"] == "kept"
    assert challenger_run.data.tags["champion.previous_version"] == "1"
    assert challenger_run.data.tags["champion.evaluation"] == "refit"  # v1 saw the holdout's labels
    assert challenger_run.data.metrics["holdout.challenger_minus_champion.pinball_mean"] > 0
    champion_run = client.get_run(first.run_id)
    assert champion_run.data.tags["challenged_by.v2"].startswith("kept")
    history = client.get_metric_history(first.run_id, "challenger.holdout.pinball_mean")
    assert [(m.step, m.value) for m in history] == [(2, pytest.approx(crippled.holdout["pinball_mean"]))]
    assert client.get_model_version(MODEL_NAME, "2").tags["champion.decision"] == "kept"

    # a one-tree champion is beaten by the good recipe: the alias moves
    client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, "2")
    better, _ = train(settings, data, GOOD, "good again")
    assert better.decision == "promoted"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == better.model_version == "3"
    assert client.get_model_version(MODEL_NAME, "2").tags["champion.replaced_by"] == "3"


def test_champion_trained_before_the_holdout_is_scored_as_deployed(store: tuple[Settings, TrainingData]) -> None:
    """A champion whose labels all precede the holdout is judged by its own artifact, not a refit."""
    settings, data = store
    client, experiment_id = resources_for(settings, secrets="values")["mlflow"].configure()
    early = TrainConfig(
        n_folds=2, fold_months=6, holdout_months=12, min_train_months=24, fixed_params=GOOD, cutoff=date(2020, 12, 31)
    )
    Trainer(
        data, early, client=client, experiment_id=experiment_id,
        optuna_storage=resources_for(settings, secrets="values")["optuna"].storage_url(), run_name="early", tags={},
    ).run()  # fmt: skip
    later, _ = train(settings, data, ONE_TREE, "later one tree")
    assert client.get_run(later.run_id).data.tags["champion.evaluation"] == "artifact"
    assert later.decision == "kept"


def test_a_champion_whose_features_are_no_longer_served_is_replaced(store: tuple[Settings, TrainingData]) -> None:
    """The feature service dropped x3: the old champion cannot predict, so the challenger takes over."""
    settings, data = store
    train(settings, data, GOOD, "with x3")
    reduced = TrainingData(
        frame=data.frame.drop("x3"),
        features=["x1", "x2"],
        feature_service=data.feature_service,
        snapshots=data.snapshots,
        metadata_locations=data.metadata_locations,
        training_set_table=data.training_set_table,
    )
    result, client = train(settings, reduced, ONE_TREE, "without x3")
    assert result.decision == "promoted" and result.champion_holdout is None
    assert client.get_run(result.run_id).data.tags["champion.evaluation"].startswith("unservable")
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == "2"
