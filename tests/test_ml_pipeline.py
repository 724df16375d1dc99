"""The return model end to end in replay mode, through Dagster, on the session's Gold lakehouse.

Gold comes from tests/gold_fixtures.py (prices from 2022-06-01; AAPL, MSFT and NVDA have both prices and
EDGAR facts). Then: feature tables + Feast registry, ``ml/training_set`` (Feast offline store),
``ml/return_model`` with a small budget (3 trials, 2 folds, a 2-month holdout, labels known by
2023-05-31), a deliberately crippled challenger, a re-run that resumes the Optuna study,
``ml/predictions`` for June-August 2023 (out of sample; July re-materialized) and
``ml/prediction_performance``. Rank IC over 3 names is noise: these tests check plumbing and lineage,
never that the model is good.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import polars as pl
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import GoldLakehouse, session_env

pytestmark = pytest.mark.slow

CUTOFF = "2023-05-31"
TUNED = {
    "n_trials": 3,
    "n_folds": 2,
    "fold_months": 2,
    "holdout_months": 2,
    "min_train_months": 3,
    "cutoff_date": CUTOFF,
    "timeout_seconds": 120.0,
}
# Deliberately broken: one tree that barely moves from an intercept of +25% for all three quantiles (like
# a label-scaling bug). A literal "1 tree" is not crippled under XGBoost 3: it starts from the unconditional
# quantiles, the baseline, which a 6-row holdout cannot tell from the tuned model (tests/test_ml_champion.py
# shows the 1-tree case where the signal is real).
CRIPPLED = {
    **{k: v for k, v in TUNED.items() if k != "n_trials"},
    "fixed_params": {"n_estimators": 1, "learning_rate": 0.01, "max_depth": 2, "base_score": 0.25},
}
BACKTEST = {"min_train_months": 3, "refit_months": 2, "n_quantiles": 3}  # 3 names: one per bucket
MONTHS = ("2023-06-01", "2023-08-01")
MONTH_ENDS = [date(2023, 6, 30), date(2023, 7, 31), date(2023, 8, 31)]
# MLflow/Optuna stores must be the lakehouse's own, whatever the calling shell exports
ISOLATED = (
    "MLFLOW_TRACKING_URI",
    "OPTUNA_STORAGE",
    "LAKEHOUSE_AUTOMATION",
    "RETRAIN_MIN_RANK_IC",
    "RETRAIN_MIN_COVERAGE",
)


@dataclass
class MlLakehouse:
    gold: GoldLakehouse
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    predictions_before: pl.DataFrame | None = None  # ml.predictions before July is re-materialized

    def materialize(self, selection: list[str], name: str, **kwargs: Any) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            list(self.gold.defs.assets or []),
            selection=selection,
            instance=self.gold.instance,
            resources=self.gold.defs.resources,
            raise_on_error=False,
            **kwargs,
        )
        failures = [e.event_specific_data.error.to_string() for e in result.get_step_failure_events()]  # type: ignore[union-attr]
        assert result.success, f"{name} failed:\n" + "\n".join(failures)
        self.runs[name] = result
        return result

    def metadata(self, name: str, key: str) -> dict[str, Any]:
        events = [e for e in self.runs[name].get_asset_materialization_events() if e.asset_key.to_user_string() == key]
        return {k: getattr(v, "value", v) for k, v in events[-1].materialization.metadata.items()}

    def lakehouse(self) -> Any:
        from finance_assets.core.iceberg import IcebergLakehouse
        from finance_assets.core.settings import Settings

        return IcebergLakehouse.from_settings(Settings.from_env())

    def client(self) -> Any:
        from finance_assets.core.settings import Settings
        from finance_assets.resources import resources_for

        return resources_for(Settings.from_env(), secrets="values")["mlflow"].configure()


@contextmanager
def isolated_env(env: dict[str, str], **overrides: str) -> Iterator[None]:
    saved = {name: os.environ.pop(name, None) for name in ISOLATED}
    try:  # the fixture's env is a snapshot of os.environ: drop what an earlier test may have left in it
        with contextmanager(session_env)({**{k: v for k, v in env.items() if k not in ISOLATED}, **overrides}):
            yield
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value


def _config(asset: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"ops": {asset.replace("/", "__"): {"config": values}}}


@pytest.fixture(scope="module")
def ml(gold_lakehouse: GoldLakehouse) -> Iterator[MlLakehouse]:
    from finance_assets.features.assets import feature_selection

    with isolated_env(gold_lakehouse.env):
        lake = MlLakehouse(gold_lakehouse)
        # the offline side only (tables + registry): the online store is not what the model reads
        lake.materialize([k for k in feature_selection() if k != "features/feast_online_features"], "features")
        lake.materialize(["ml/training_set"], "training_set")
        lake.materialize(["ml/return_model"], "tuned", run_config=_config("ml/return_model", TUNED))
        lake.materialize(["ml/return_model"], "crippled", run_config=_config("ml/return_model", CRIPPLED))
        lake.materialize(["ml/return_model"], "resumed", run_config=_config("ml/return_model", TUNED))
        lake.materialize(["ml/backtest"], "backtest", run_config=_config("ml/backtest", BACKTEST))
        range_tags = {"dagster/asset_partition_range_start": MONTHS[0], "dagster/asset_partition_range_end": MONTHS[1]}
        lake.materialize(["ml/predictions"], "predictions", tags=range_tags)
        lake.predictions_before = lake.lakehouse().read("ml.predictions")
        lake.materialize(["ml/predictions"], "july_again", partition_key="2023-07-01")
        lake.materialize(["ml/prediction_performance"], "performance")
        lake.materialize(["features/feast_online_features"], "online_features")
        lake.materialize(["ml/online_predictions"], "online_predictions")
        yield lake


def test_mlflow_has_parent_run_nested_trials_champion_and_artifacts(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        client, experiment_id = ml.client()
        meta = ml.metadata("tuned", "ml/return_model")
        parent_id = meta["mlflow/run_id"]
        parent = client.get_run(parent_id)
        assert parent.info.status == "FINISHED" and parent.info.experiment_id == experiment_id
        assert parent.data.tags["dagster.run_id"] == ml.runs["tuned"].run_id
        assert parent.data.tags["training.cutoff"] <= CUTOFF
        assert parent.data.tags["feature_service"] == "return_model_v2"
        assert parent.data.tags["universe.tickers"] == "3" and parent.data.tags["data.first_as_of"]
        assert "return_model_v2" in parent.data.tags["mlflow.note.content"]
        assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
        assert parent.data.tags["feature_retrieval"] == "feast"
        assert parent.data.tags["git.commit"]
        trials = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
        assert len(trials) == 3 and meta["optuna/trials_run"] == 3
        # the parent reports the best trial's CV metrics under the trials' names, with the same values
        complete = [t for t in trials if t.data.tags["optuna.state"] == "COMPLETE"]
        best = min(complete, key=lambda t: t.data.metrics["cv.pinball_mean_of_folds"])
        best_cv = {k: v for k, v in best.data.metrics.items() if k.startswith("cv.")}
        assert best_cv and best_cv == {k: v for k, v in parent.data.metrics.items() if k.startswith("cv.")}
        for trial in trials:
            assert trial.data.tags["mlflow.note.content"].startswith("Optuna trial")
            assert {"n_estimators", "max_depth", "learning_rate"} <= set(trial.data.params)
            assert "duration_seconds" in trial.data.metrics
            assert trial.data.tags["optuna.state"] in ("COMPLETE", "PRUNED")
            if trial.data.tags["optuna.state"] == "COMPLETE":
                folds = client.get_metric_history(trial.info.run_id, "fold.pinball_mean")
                assert sorted(m.step for m in folds) == [0, 1]
        for metric in ("holdout.pinball_mean", "holdout.pinball_p10", "holdout.coverage", "holdout.hit_rate"):
            assert metric in parent.data.metrics
        # registered, champion, with signature, input example and the two plots
        version = client.get_model_version_by_alias("return_model", "champion")
        assert str(version.version) == meta["model/version"] == "1" and version.run_id == parent_id
        artifacts = {a.path for a in client.list_artifacts(parent_id)} | {
            a.path for a in client.list_artifacts(parent_id, "plots")
        }
        artifacts |= {a.path for a in client.list_artifacts(parent_id, "optuna")}
        assert {"plots/feature_importance.png", "plots/predicted_vs_realized.png", "model_params.json"} <= artifacts
        assert "optuna/optimisation_history.png" in artifacts
        from mlflow.models import get_model_info

        info = get_model_info(f"models:/return_model/{version.version}")
        assert info.signature is not None and info.saved_input_example_info is not None
        features = ml.metadata("training_set", "ml/training_set")["features"]
        assert set(info.signature.inputs.input_names()) == set(features) and "momentum_252d" in features
        # the training data as dataset inputs: every Iceberg table with the snapshot that was read
        inputs = {d.dataset.name: d for d in parent.inputs.dataset_inputs}
        snapshots = ml.metadata("tuned", "ml/return_model")["iceberg/source_snapshots"]
        assert set(inputs) == {f"{t}@{s}" for t, s in snapshots.items()}
        lake = ml.lakehouse()
        for table, snapshot in snapshots.items():
            assert inputs[f"{table}@{snapshot}"].dataset.digest == snapshot
            assert lake.load(table).snapshot_by_id(int(snapshot)) is not None
        roles = {d.dataset.name.split("@")[0]: d.tags[0].value for d in parent.inputs.dataset_inputs}
        assert roles["ml.training_set"] == "training" and roles["gold.labels"] == "labels"
        assert roles["gold.price_features"] == "features"


def test_crippled_challenger_leaves_the_champion_alias(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        client, _ = ml.client()
        meta = ml.metadata("crippled", "ml/return_model")
        assert meta["model/version"] == "2" and meta["model/decision"] == "kept"
        assert meta["model/champion_version"] == "1"
        assert str(client.get_model_version_by_alias("return_model", "champion").version) == "1"
        assert meta["holdout/challenger"]["pinball_mean"] > 1.5 * meta["holdout/champion"]["pinball_mean"]
        challenger = client.get_run(meta["mlflow/run_id"])
        assert challenger.data.tags["champion.decision"] == "kept"
        assert challenger.data.metrics["holdout.challenger_minus_champion.pinball_mean"] > 0
        champion_run = client.get_run(ml.metadata("tuned", "ml/return_model")["mlflow/run_id"])
        assert champion_run.data.tags["challenged_by.v2"].startswith("kept")
        assert "challenger.holdout.pinball_mean" in champion_run.data.metrics


def test_rerun_on_the_same_data_resumes_the_study(ml: MlLakehouse) -> None:
    """Same training data and protocol -> same study: no new trial, the best one refitted (and no better)."""
    first, again = ml.metadata("tuned", "ml/return_model"), ml.metadata("resumed", "ml/return_model")
    assert again["optuna/study"] == first["optuna/study"]
    assert again["optuna/trials_run"] == 0 and again["optuna/trials_total"] == 3
    assert again["best_params"] == first["best_params"]
    assert again["model/version"] == "3" and again["model/decision"] == "kept"  # a tie does not promote
    assert again["model/champion_version"] == "1"


def test_every_prediction_row_resolves_its_lineage(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        from finance_assets.core.partitions import prices_partitions
        from finance_assets.ml.assets import PREDICTIONS_KEY, PRICES_KEY

        client, _ = ml.client()
        lake = ml.lakehouse()
        preds = lake.read("ml.predictions")
        assert preds.height > 0
        assert sorted(preds["as_of_date"].unique().to_list()) == [
            date(2023, 6, 30),
            date(2023, 7, 31),
            date(2023, 8, 31),
        ]
        assert preds["is_out_of_sample"].all() and preds["model_version"].unique().to_list() == ["1"]
        assert (preds["pred_p10"] <= preds["pred_p50"]).all() and (preds["pred_p50"] <= preds["pred_p90"]).all()

        bronze_bars = set(lake.read("bronze.prices_daily", columns=["ticker", "date"]).iter_rows())
        gold_bars = set(lake.read("gold.price_features", columns=["ticker", "trade_date"]).iter_rows())
        accessions = set(lake.read("bronze.edgar_filings", columns=["accession_number"])["accession_number"])
        accessions |= set(lake.read("bronze.edgar_company_facts", columns=["accn"])["accn"])
        graph = ml.gold.defs.resolve_asset_graph()
        mapping = graph.get_partition_mapping(PREDICTIONS_KEY, PRICES_KEY)
        tables: dict[str, Any] = {}
        for row in preds.iter_rows(named=True):
            for snap in row["source_snapshots"]:  # every snapshot is in its table's history
                table = tables.setdefault(snap["table"], lake.load(snap["table"]))
                assert table.snapshot_by_id(snap["snapshot_id"]) is not None, snap
                # ... and tagged, so snapshot expiry keeps it (docs/operations.md)
                assert f"lineage/ml.predictions/{snap['snapshot_id']}" in table.metadata.refs, snap
            version = client.get_model_version("return_model", row["model_version"])  # in the registry
            assert version.run_id == row["mlflow_run_id"]
            assert ml.gold.instance.get_run_by_id(row["dagster_run_id"]) is not None
            by_asset = {p["asset_key"]: p for p in row["source_partitions"]}
            prices = by_asset["bronze/prices_daily"]
            first, last = prices["partition_key"].split("...")
            assert last == row["as_of_date"].replace(day=1).isoformat()
            for month in (date.fromisoformat(first), date.fromisoformat(last)):  # both months hold the window's bars
                in_month = {(t, d) for t, d in bronze_bars if (d.year, d.month) == (month.year, month.month)}
                assert all(any(t == symbol for t, _ in in_month) for symbol in prices["records"]), (prices, month)
                assert any(t == row["ticker"] and (d.year, d.month) == (month.year, month.month) for t, d in gold_bars)
            # the same dependency as Dagster's partition mapping shows it (month -> monthly price partitions)
            month = row["as_of_date"].replace(day=1).isoformat()
            monthly = graph.get(PREDICTIONS_KEY).partitions_def
            assert monthly is not None
            upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
                monthly.subset_with_partition_keys([month]), monthly, prices_partitions
            ).partitions_subset.get_partition_keys()
            assert first in upstream and last in upstream
            if row["ticker"] in ("AAPL", "MSFT", "NVDA"):  # all three have filings public before mid-2023
                assert "bronze/edgar_filings" in by_asset, row
            if "bronze/edgar_filings" in by_asset:
                filings = by_asset["bronze/edgar_filings"]
                assert filings["partition_key"] == row["ticker"]
                assert filings["records"] and set(filings["records"]) <= accessions, filings


def test_rematerializing_a_month_replaces_it(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        before = ml.predictions_before
        assert before is not None
        after = ml.lakehouse().read("ml.predictions")
        assert after.height == before.height
        july = pl.col("as_of_date") == date(2023, 7, 31)
        assert after.filter(july)["dagster_run_id"].unique().to_list() == [ml.runs["july_again"].run_id]
        assert after.filter(~july)["dagster_run_id"].unique().to_list() == [ml.runs["predictions"].run_id]
        key = ["ticker", "as_of_date"]
        same = after.sort(key).select(*key, "pred_p50").equals(before.sort(key).select(*key, "pred_p50"))
        assert same  # same model, same snapshots -> same numbers


def test_prediction_performance_scores_matured_out_of_sample_months(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        table = ml.lakehouse().read("ml.prediction_performance")
        assert table["as_of_date"].to_list() == MONTH_ENDS
        assert table["n_names"].min() >= 3 and table["rank_ic"].is_not_null().all()
        assert table["coverage"].is_between(0, 1).all() and table["hit_rate"].is_between(0, 1).all()
        meta = ml.metadata("performance", "ml/prediction_performance")
        assert meta["live/months"] == 3
        assert "data:image/png;base64," in meta["plot"]


def test_decay_sensor_requests_a_retrain_below_the_threshold(ml: MlLakehouse) -> None:
    from finance_assets.core.settings import Settings
    from finance_assets.ml.automation import build_automation, decay_reasons

    meta = ml.metadata("performance", "ml/prediction_performance")
    assert decay_reasons(meta, Settings(retrain_min_rank_ic=-1.0, retrain_min_coverage=0.0)) == []
    assert decay_reasons(meta, Settings(retrain_min_rank_ic=1.0, retrain_min_coverage=1.0))  # the highest allowed
    with isolated_env(ml.gold.env, RETRAIN_MIN_RANK_IC="1.0", RETRAIN_MIN_COVERAGE="1.0"):
        automation = build_automation(Settings.from_env())
        sensor = next(s for s in automation.sensors or [] if s.name == "ml_retrain_on_decay")
        context = dg.build_sensor_context(instance=ml.gold.instance, definitions=ml.gold.defs)
        tick = sensor.evaluate_tick(context)
        assert [r.tags["lakehouse/trigger"] for r in tick.run_requests or []] == ["performance_decay"]


def test_backtest_run_is_nested_under_the_trained_run_and_fills_the_model_card(ml: MlLakehouse) -> None:
    with isolated_env(ml.gold.env):
        client, _ = ml.client()
        trained = ml.metadata("resumed", "ml/return_model")
        meta = ml.metadata("backtest", "ml/backtest")
        run = client.get_run(meta["mlflow/run_id"])
        assert run.data.tags["mlflow.parentRunId"] == trained["mlflow/run_id"]
        # real and placebo report the same statistics, side by side
        real = {k.removeprefix("backtest.") for k in run.data.metrics if k.startswith("backtest.")}
        placebo = {k.removeprefix("placebo.") for k in run.data.metrics if k.startswith("placebo.")}
        # (a statistic without dispersion over these few months is NaN, and MLflow keeps finite values only)
        assert {"rank_ic_mean", "gross_annual_return", "net_annual_return", "turnover_mean"} <= real & placebo
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert {"plots/cumulative_return.png", "plots/ic_by_month.png", "plots/quantile_calibration.png"} <= plots
        version = client.get_model_version("return_model", trained["model/version"])
        assert "## Backtest" in version.description and "placebo" in version.description
        assert meta["backtest/rank_ic_months"] >= 2


def _store(ml: MlLakehouse) -> Any:
    from finance_assets.core.settings import Settings
    from finance_assets.resources import resources_for

    return resources_for(Settings.from_env(), secrets="values")["feast"].store()


def test_one_call_returns_the_features_and_the_latest_prediction(ml: MlLakehouse) -> None:
    from finance_assets.features import catalog

    with isolated_env(ml.gold.env):
        store = _store(ml)
        served = store.get_online_features(
            features=store.get_feature_service(catalog.SERVING_SERVICE), entity_rows=[{"ticker": "AAPL"}]
        ).to_dict()
        predictions = ml.lakehouse().read("ml.predictions").filter(ticker="AAPL").sort("as_of_date")
    latest = predictions.row(-1, named=True)  # July was re-run: the latest month end is August
    assert served["pred_p50"] == [pytest.approx(latest["pred_p50"])]
    assert served["pred_p10"] == [pytest.approx(latest["pred_p10"])]
    assert served["model_version"] == [latest["model_version"]]
    assert served["prediction_as_of"][0].date() == latest["as_of_date"] == MONTH_ENDS[-1]
    assert served["momentum_21d"][0] is not None and "days_since_filing" not in served  # raw inputs, one call
    assert ml.metadata("online_predictions", "ml/online_predictions")["tickers"] == 3


def test_a_feature_vector_is_the_same_offline_and_online(ml: MlLakehouse) -> None:
    """The training path (Feast offline store at the as-of date, then the model's transformation) and the
    serving path (online store holding the latest values up to the as-of date, same transformation) give
    one entity the same vector, derived features (days_since_filing, period_is_annual) included."""
    from datetime import UTC, datetime, timedelta

    from finance_assets.ml import dataset
    from finance_assets.ml.spec import FEATURE_SERVICE, MODEL_FEATURES

    with isolated_env(ml.gold.env):
        store, lake = _store(ml), ml.lakehouse()
        as_of = lake.read("gold.price_features").filter(ticker="AAPL")["trade_date"].max()
        views = [p.name for p in store.get_feature_service(FEATURE_SERVICE).feature_view_projections]
        # the online store as it stood at the close of the as-of date (materialized up to it)
        store.materialize(
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC) + timedelta(hours=1),
            feature_views=views,
        )
        online = dataset.online_feature_frame(store, ["AAPL"], as_of)
        entities = pl.DataFrame({"ticker": ["AAPL"], "as_of_date": [as_of]})
        pins = dataset.pin_snapshots(lake, sorted(set(dataset.feast_service_tables(store).values())))
        offline = dataset.feature_frame(entities, lake, pins, store=store).frame
    features = list(MODEL_FEATURES[FEATURE_SERVICE])
    assert set(features) <= set(online.columns) and set(features) <= set(offline.columns)
    online_row, offline_row = online.row(0, named=True), offline.row(0, named=True)
    assert {f: online_row[f] for f in features} == {f: offline_row[f] for f in features}
    assert offline_row["days_since_filing"] is not None and offline_row["days_since_filing"] >= 0
    assert offline_row["momentum_21d"] is not None and offline_row["rsi_14d"] is not None


def _metadata_values(ml: MlLakehouse) -> Iterator[tuple[str, Any]]:
    """(where, value) of every metadata value the fixture's runs emitted: materializations and checks."""
    for name, result in ml.runs.items():
        for event in result.get_asset_materialization_events():
            for key, value in event.materialization.metadata.items():
                yield f"{name}: {event.asset_key.to_user_string()} {key}", value
        for evaluation in result.get_asset_check_evaluations():
            for key, value in evaluation.metadata.items():
                yield f"{name}: check {evaluation.check_name} {key}", value


def test_metadata_reads_as_people_read_it(ml: MlLakehouse) -> None:
    """Issue 19: no float with more than 4 significant digits (ML metrics, backtest, PSI, coverage), no object or
    expression reprs, no dict dumps, no relative links (tests/readable_metadata.py)."""
    from readable_metadata import problems

    entries = list(_metadata_values(ml))
    assert len(entries) > 50, len(entries)  # the runs emitted metadata: training, tuning, backtest, predictions
    offences = problems(entries)
    assert not offences, "\n".join(offences[:30])
