"""The return model as Dagster assets (group ``ml``).

- ``ml/training_set``: month-end entity rows with their labels, joined to ``return_model_v2`` (default) through
  Feast's offline store at pinned Iceberg snapshots; stored in ``ml.training_set`` with the snapshots,
  lineage and run id on every row.
- ``ml/return_model``: Optuna over XGBoost, walk-forward CV with an embargo, MLflow tracking, registry and
  the champion gate (:mod:`.training`).
- ``ml/predictions``: monthly partitions of ``ml.predictions`` from the champion, each row naming the
  model version, the snapshots and the upstream partitions it depends on.
- ``ml/prediction_performance``: realised rank IC, hit rate and coverage of past out-of-sample
  predictions, per month, once labels mature.
"""

import json
import math
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from finance_assets.core import checks, names
from finance_assets.core.checks import readable
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR
from finance_assets.core.names import table_name
from finance_assets.core.resources import LakehouseResource
from finance_assets.core.settings import PRICES_PARTITIONS_START
from finance_assets.features.resources import FeastResource
from finance_assets.ml import checks as ml_checks
from finance_assets.ml import dataset, metrics, plots, tracking
from finance_assets.ml.columns import (
    LINEAGE_DOCS,
    PERFORMANCE_DOCS,
    PERFORMANCE_SCHEMA,
    TRAINING_SET_DOCS,
    TRAINING_SET_SCHEMA,
)
from finance_assets.ml.resources import MlflowResource, OptunaResource
from finance_assets.ml.spec import (
    BACKTEST_COST_BPS,
    BACKTEST_QUANTILES,
    BACKTEST_REFIT_MONTHS,
    CODE_VERSION,
    FEATURE_SERVICE,
    FOLD_MONTHS,
    HOLDOUT_MONTHS,
    LABEL,
    LABELS_TABLE,
    MIN_TRAIN_MONTHS,
    MODEL_NAME,
    N_FOLDS,
    N_TRIALS,
    NOMINAL_COVERAGE,
    PREDICTION_COLUMNS,
    PREDICTIONS_TABLE,
    SEED,
    TRAINING_SET_TABLE,
    TUNING_TIMEOUT_SECONDS,
)

GROUP = "ml"
TRAINING_POOL = "ml_training"  # one tuning run at a time: 2 shared cores, and one alias to move
TRAINING_SET_KEY = names.TRAINING_SET
RETURN_MODEL_KEY = names.RETURN_MODEL
PREDICTIONS_KEY = names.PREDICTIONS
PERFORMANCE_KEY = names.PREDICTION_PERFORMANCE
BACKTEST_KEY = names.BACKTEST
ONLINE_PREDICTIONS_KEY = names.ONLINE_PREDICTIONS

PRICES_KEY = names.PRICES_DAILY
FILINGS_KEY = names.EDGAR_FILINGS
LABELS_KEY = names.LABELS
FEAST_REGISTRY_KEY = names.FEAST_REGISTRY
FEATURE_TABLE_KEYS = (
    names.PRICE_FEATURES,
    names.FUNDAMENTAL_FEATURES,
    names.RATIO_FEATURES,
    names.FILING_SIGNAL_FEATURES,
    names.COMPANY_SECTORS,
)
LIVE_WINDOW_MONTHS = 6  # the rolling window the decay sensor reads

# Not features: identifiers, label, lineage and bookkeeping columns of ml.training_set.
NON_FEATURES = frozenset(
    {
        "ticker",
        "as_of_date",
        "label",
        "label_end",
        "excess_return",
        "feature_service",
        "retrieval",
        "dagster_run_id",
        "source_snapshots",
        "source_partitions",
    }
)

# the price features of a month end read the 252 bars before it: that month and the 12 before
with warnings.catch_warnings():  # allow_nonexistent_upstream_partitions is "beta": the first year needs it
    warnings.simplefilter("ignore", dg.BetaWarning)
    PRICE_WINDOW = dg.TimeWindowPartitionMapping(start_offset=-12, allow_nonexistent_upstream_partitions=True)
predictions_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PRICES_PARTITIONS_START.replace(day=1).isoformat(), end_offset=0
)


def _month_ends_in(window: dg.TimeWindow) -> tuple[date, date]:
    """First and last day of a (multi-)month window (end exclusive -> inclusive)."""
    return window.start.date(), (window.end - timedelta(days=1)).date()


def _snapshot_metadata(snapshots: dict[str, int]) -> dict[str, Any]:
    return {"iceberg/source_snapshots": dg.MetadataValue.json({t: str(s) for t, s in sorted(snapshots.items())})}


def _finite(values: dict[str, float]) -> dict[str, float]:
    """The finite values (JSON has no NaN); :func:`~finance_assets.core.checks.readable` rounds them."""
    return {k: v for k, v in values.items() if v is not None and math.isfinite(v)}


LABEL_COVERAGE_DESCRIPTION = (
    "Share of the universe's matured month-end rows (tickers with a bar that day) that carry a label; "
    "warns below 95% in any month."
)
DRIFT_DESCRIPTION = (
    "Population stability index of each feature, earlier months vs the latest month (deciles of the earlier "
    "distribution, missing as its own bin); warns when a feature's PSI exceeds 0.25."
)
PREDICTION_COVERAGE_DESCRIPTION = (
    "Share of the month's universe (tickers with a month-end bar) with a p50 prediction; warns below 95%."
)


# ---- training set ------------------------------------------------------------------------------------------
class TrainingSetConfig(dg.Config):
    start_date: str | None = None
    """First month end (ISO date); default: the first price partition (rows start where prices do)."""
    end_date: str | None = None
    """Last month end (ISO date); default today."""
    feature_service: str = FEATURE_SERVICE
    retrieval: str = "feast"
    """'feast' (the offline store, the production path) or 'gold' (the same point-in-time join on Gold)."""
    label: str = "excess"
    """'excess' (forward excess log return over ^GSPC) or 'sector_neutral_rank' (its rank within the month's
    sector, in [-0.5, 0.5]; the excess return is kept in `excess_return` for the backtest)."""


def _pin_inputs(
    lakehouse: Any, store: Any, retrieval: str, feature_service: str, extra: tuple[str, ...] = ()
) -> dict[str, int]:
    feature_tables = (
        tuple(dataset.feast_service_tables(store, feature_service).values())
        if retrieval == "feast"
        else (dataset.PRICE_FEATURES_TABLE, dataset.RATIOS_TABLE)
    )
    tables = sorted({*feature_tables, *dataset.lineage_tables(retrieval), *extra})
    return dataset.pin_snapshots(lakehouse, tables)


@dg.asset(
    key=TRAINING_SET_KEY,
    group_name=GROUP,
    deps=[LABELS_KEY, FEAST_REGISTRY_KEY, *FEATURE_TABLE_KEYS],
    io_manager_key="iceberg_io_manager",
    metadata={COLUMN_SCHEMA: described_schema(TRAINING_SET_SCHEMA, TRAINING_SET_DOCS, table=TRAINING_SET_TABLE)},
    kinds={"feast", "polars", "iceberg"},
    code_version=CODE_VERSION,
    check_specs=[
        ml_checks.NO_FUTURE_FEATURES.spec(TRAINING_SET_KEY),
        dg.AssetCheckSpec("label_coverage", asset=TRAINING_SET_KEY, description=LABEL_COVERAGE_DESCRIPTION),
        dg.AssetCheckSpec("feature_drift", asset=TRAINING_SET_KEY, description=DRIFT_DESCRIPTION),
    ],
    description=(
        "Month-end (ticker, as_of_date) rows with their 21-day forward excess log return (gold.labels) and "
        "the return_model_v2 features from Feast's offline store, read at pinned Iceberg snapshots."
    ),
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, lakehouse: LakehouseResource, feast: FeastResource
) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
    catalog = lakehouse.lakehouse()
    store = feast.store() if config.retrieval == "feast" else None
    if config.label not in dataset.LABEL_TRANSFORMS:
        raise dg.Failure(f"label must be one of {dataset.LABEL_TRANSFORMS}, not {config.label!r}")
    extra = (LABELS_TABLE, dataset.SECTORS_TABLE) if config.label == "sector_neutral_rank" else (LABELS_TABLE,)
    pins = _pin_inputs(catalog, store, config.retrieval, config.feature_service, extra)
    start = date.fromisoformat(config.start_date) if config.start_date else PRICES_PARTITIONS_START
    end = date.fromisoformat(config.end_date) if config.end_date else date.today()
    entities = dataset.attach_labels(dataset.month_end_entities(catalog, pins, start, end), catalog, pins)
    labelled = entities.filter(pl.col("label").is_not_null())
    if config.label == "sector_neutral_rank":
        sectors = catalog.read(dataset.SECTORS_TABLE, snapshot_id=pins[dataset.SECTORS_TABLE])
        labelled = dataset.sector_neutral_ranks(labelled, sectors)
    else:
        labelled = labelled.with_columns(pl.col("label").alias("excess_return"))
    if labelled.is_empty():
        raise dg.Failure("No month-end row has a label yet: load prices and run dbt (gold.labels) first.")
    keys = labelled.select("ticker", "as_of_date")
    features = dataset.feature_frame(
        keys, catalog, pins, store=store, feature_service=config.feature_service, retrieval=config.retrieval
    )
    read = {**features.snapshots, **{t: pins[t] for t in extra}}
    lineage_read = {t: pins[t] for t in dataset.lineage_tables(config.retrieval)}
    snapshots = {**read, **lineage_read}
    catalog.tag_lineage(snapshots, TRAINING_SET_TABLE)  # snapshot expiry keeps what these rows name
    frame = (
        labelled.join(features.frame, on=["ticker", "as_of_date"], how="left")
        .join(
            dataset.lineage(keys, catalog, pins, store=store, retrieval=config.retrieval), on=["ticker", "as_of_date"]
        )
        .with_columns(
            pl.lit(config.feature_service).alias("feature_service"),
            pl.lit(features.retrieval).alias("retrieval"),
            pl.lit(context.run.run_id).alias("dagster_run_id"),
            pl.lit(dataset.snapshot_list(snapshots), dataset.SNAPSHOT_TYPE).alias("source_snapshots"),
        )
        .sort("as_of_date", "ticker")
    )
    null_share = {f: round(frame[f].null_count() / frame.height, 3) for f in features.features}
    yield dg.Output(
        frame,
        metadata=readable(
            {
                "features": dg.MetadataValue.json(features.features),
                "feature_service": config.feature_service,
                "retrieval": features.retrieval,
                "label": config.label,
                "tickers": dg.MetadataValue.json(sorted(frame["ticker"].unique().to_list())),
                "months": frame["as_of_date"].n_unique(),
                "first_as_of_date": str(frame["as_of_date"].min()),
                "last_as_of_date": str(frame["as_of_date"].max()),
                "feature_null_share": dg.MetadataValue.json(null_share),
                **_snapshot_metadata(snapshots),
            }
        ),
    )
    yield ml_checks.NO_FUTURE_FEATURES.result(TRAINING_SET_KEY, frame)
    # months whose labels have matured (known by the last label date): every ticker with a bar should have one
    matured = entities.filter(pl.col("as_of_date") <= labelled["as_of_date"].max())
    passed, meta = ml_checks.coverage(labelled, matured, "label")
    yield checks.warning(TRAINING_SET_KEY, "label_coverage", passed, meta)
    passed, meta = ml_checks.feature_drift(frame, features.features)
    yield checks.warning(TRAINING_SET_KEY, "feature_drift", passed, meta)


# ---- model ------------------------------------------------------------------------------------------------
class ReturnModelConfig(dg.Config):
    n_trials: int = N_TRIALS
    """Optuna trials the study should have (a resumed study only runs the missing ones)."""
    timeout_seconds: float | None = TUNING_TIMEOUT_SECONDS
    """Stop starting trials after this long (the trials done so far count)."""
    n_folds: int = N_FOLDS
    fold_months: int = FOLD_MONTHS
    holdout_months: int = HOLDOUT_MONTHS
    min_train_months: int = MIN_TRAIN_MONTHS
    cutoff_date: str | None = None
    """Train on labels known by this date (default: the last known label)."""
    seed: int = SEED
    study_name: str | None = None
    """Default: derived from the data and the protocol (same inputs -> same study, resumed)."""
    fixed_params: dict[str, float] | None = None
    """Skip tuning and fit these XGBoost parameters (a recipe to reproduce, or a deliberate baseline)."""
    min_improvement: float = 0.0
    """The challenger must beat the champion's holdout pinball loss by at least this much."""


def read_training_set(context: dg.AssetExecutionContext, catalog: Any) -> tuple[pl.DataFrame, list[str], int]:
    """ml.training_set at the snapshot its latest materialization wrote, and that run's feature list."""
    event = context.instance.get_latest_materialization_event(TRAINING_SET_KEY)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    raw_snapshot = meta.get("iceberg/snapshot_id")
    snapshot_id = int(raw_snapshot.value) if raw_snapshot else catalog.current_snapshot_id(TRAINING_SET_TABLE)
    frame = catalog.read(TRAINING_SET_TABLE, snapshot_id=snapshot_id)
    features_meta = meta.get("features")
    features = list(features_meta.value) if features_meta else [c for c in frame.columns if c not in NON_FEATURES]
    return frame, features, snapshot_id


@dg.asset(
    key=RETURN_MODEL_KEY,
    group_name=GROUP,
    deps=[TRAINING_SET_KEY],
    kinds={"xgboost", "optuna", "mlflow"},
    pool=TRAINING_POOL,
    code_version=CODE_VERSION,
    description=(
        "Multi-quantile XGBoost (p10/p50/p90) of the 21-day excess return, tuned by Optuna on embargoed "
        "walk-forward CV; registered in MLflow, `champion` alias moved only if it beats the champion on "
        "the holdout."
    ),
)
def return_model(
    context: dg.AssetExecutionContext,
    config: ReturnModelConfig,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
    optuna: OptunaResource,
) -> dg.MaterializeResult:
    from finance_assets.ml.training import TrainConfig, Trainer, TrainingData

    catalog = lakehouse.lakehouse()
    frame, features, training_snapshot = read_training_set(context, catalog)
    snapshots = {row["table"]: int(row["snapshot_id"]) for row in frame["source_snapshots"][0]}
    snapshots[TRAINING_SET_TABLE] = training_snapshot
    catalog.tag_lineage({TRAINING_SET_TABLE: training_snapshot}, "ml.return_model")  # the model's data survives expiry
    feature_service = frame["feature_service"][0]
    client, experiment_id = mlflow.configure()
    data = TrainingData(
        frame=frame.select("ticker", "as_of_date", "label", "label_end", *features),
        features=features,
        feature_service=feature_service,
        snapshots=snapshots,
        metadata_locations={t: catalog.load(t).metadata_location for t in snapshots},
        training_set_table=TRAINING_SET_TABLE,
    )
    train_config = TrainConfig(
        n_trials=config.n_trials,
        timeout_seconds=config.timeout_seconds,
        n_folds=config.n_folds,
        fold_months=config.fold_months,
        holdout_months=config.holdout_months,
        min_train_months=config.min_train_months,
        cutoff=date.fromisoformat(config.cutoff_date) if config.cutoff_date else None,
        seed=config.seed,
        fixed_params=dict(config.fixed_params) if config.fixed_params is not None else None,
        study_name=config.study_name,
        min_improvement=config.min_improvement,
    )
    trainer = Trainer(
        data,
        train_config,
        client=client,
        experiment_id=experiment_id,
        optuna_storage=optuna.storage_url(),
        run_name=f"{MODEL_NAME} {context.run.run_id[:8]}",
        tags={
            "dagster.run_id": context.run.run_id,
            "dagster.job": context.job_name,
            "dagster.asset_key": RETURN_MODEL_KEY.to_user_string(),
            "dagster.partition": "none",
            "git.commit": tracking.code_version(),
            "feature_retrieval": frame["retrieval"][0],
            "lakehouse.profile": lakehouse.profile,
        },
        log_fn=context.log.info,
    )
    result = trainer.run()
    store = mlflow.store()
    return dg.MaterializeResult(
        metadata=readable(
            {
                "mlflow/run_id": result.run_id,
                "mlflow/experiment_id": result.experiment_id,
                "mlflow/tracking_uri": store.tracking_uri if store.tracking_uri.startswith("sqlite") else "server",
                "mlflow/run": dg.MetadataValue.url(
                    tracking.run_link(mlflow.ui_url, result.experiment_id, result.run_id)
                ),
                "mlflow/experiment": dg.MetadataValue.url(
                    tracking.experiment_link(mlflow.ui_url, result.experiment_id)
                ),
                "model/name": MODEL_NAME,
                "model/version": result.model_version,
                "model/champion_version": result.champion_version,
                "model/decision": result.decision,
                "optuna/study": result.study_name or "fixed parameters",
                "optuna/trials_run": result.trials_run,
                "optuna/trials_total": result.trials_total,
                "best_params": dg.MetadataValue.json(result.best_params),
                "training/cutoff": result.cutoff.isoformat(),
                "holdout/start": result.holdout_start.isoformat(),
                "holdout/challenger": dg.MetadataValue.json(_finite(result.holdout)),
                "holdout/baseline": dg.MetadataValue.json(_finite(result.baseline)),
                "holdout/champion": dg.MetadataValue.json(_finite(result.champion_holdout or {})),
                "universe/tickers": frame["ticker"].n_unique(),
                "note": (
                    f"Rank IC per month over {frame['ticker'].n_unique()} names: read it with its t-stat (and the "
                    "ml/backtest placebo); pinball loss against the baseline first."
                ),
                **_snapshot_metadata(snapshots),
            }
        )
    )


# ---- backtest ---------------------------------------------------------------------------------------------
class BacktestAssetConfig(dg.Config):
    min_train_months: int = MIN_TRAIN_MONTHS
    """Months of history before the first out-of-sample month."""
    refit_months: int = BACKTEST_REFIT_MONTHS
    """Refit the model every this many months (walk forward, embargoed)."""
    n_quantiles: int = BACKTEST_QUANTILES
    """Long the top, short the bottom of this many buckets of predicted p50."""
    cost_bps: float = BACKTEST_COST_BPS
    """Cost per unit of weight traded, in basis points."""
    seed: int = SEED


def _latest_training_run(context: dg.AssetExecutionContext) -> str:
    event = context.instance.get_latest_materialization_event(RETURN_MODEL_KEY)
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "mlflow/run_id" not in meta:
        raise dg.Failure("ml/return_model has no materialization with an MLflow run: train the model first.")
    return str(meta["mlflow/run_id"].value)


@dg.asset(
    key=BACKTEST_KEY,
    group_name=GROUP,
    deps=[TRAINING_SET_KEY, RETURN_MODEL_KEY],
    kinds={"xgboost", "mlflow"},
    pool=TRAINING_POOL,
    code_version=CODE_VERSION,
    description=(
        "Out-of-sample backtest of the latest trained recipe: walk-forward refits (embargoed), monthly "
        "long-short quintiles of predicted p50, IC with t-stat, Sharpe with its error, drawdown, turnover, "
        "gross and net of costs, beside a placebo on shuffled labels. Logged to MLflow and written into the "
        "model version's card."
    ),
)
def backtest_asset(
    context: dg.AssetExecutionContext, config: BacktestAssetConfig, lakehouse: LakehouseResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    from mlflow.artifacts import load_dict

    from finance_assets.ml import backtest

    catalog = lakehouse.lakehouse()
    frame, features, _ = read_training_set(context, catalog)
    client, experiment_id = mlflow.configure()
    training_run_id = _latest_training_run(context)
    training_run = client.get_run(training_run_id)
    features = json.loads(training_run.data.tags.get("model.features", json.dumps(features)))
    params = load_dict(f"runs:/{training_run_id}/model_params.json")
    settings = backtest.BacktestConfig(
        min_train_months=config.min_train_months,
        refit_months=config.refit_months,
        n_quantiles=config.n_quantiles,
        cost_bps=config.cost_bps,
        seed=config.seed,
    )
    realised = ["excess_return"] if "excess_return" in frame.columns else []  # training sets before the option
    rows = frame.select("ticker", "as_of_date", "label", "label_end", *realised, *features)
    real = backtest.run(rows, features, params, settings, placebo=False)
    placebo = backtest.run(rows, features, params, settings, placebo=True)
    table = backtest.comparison_table(real.summary, placebo.summary)
    version = tracking.version_of_run(client, training_run_id)
    figures = {
        "cumulative_return": plots.backtest_cumulative(real.monthly, placebo.monthly, "long-short, out of sample"),
        "ic_by_month": plots.ic_by_month(real.monthly, placebo.monthly, "monthly rank IC, out of sample"),
        "quantile_calibration": plots.quantile_calibration(real.predictions, "quantile calibration, out of sample"),
    }
    tags = {
        "mlflow.parentRunId": training_run_id,  # shown nested under the training run it backtests
        "mlflow.note.content": (
            f"Out-of-sample backtest of {MODEL_NAME} v{version} (run {training_run_id}): refit every "
            f"{settings.refit_months} months after {settings.min_train_months}, {settings.n_quantiles} buckets, "
            f"{settings.cost_bps} bps; placebo = labels shuffled within months."
        ),
        "dagster.run_id": context.run.run_id,
        "feature_service": training_run.data.tags.get("feature_service", ""),
        "universe.tickers": str(rows["ticker"].n_unique()),
        "backtest.first_month": str(real.monthly["as_of_date"].min()),
        "backtest.last_month": str(real.monthly["as_of_date"].max()),
    }
    with tracking.mlflow.start_run(run_name=f"backtest v{version}", experiment_id=experiment_id, tags=tags) as run:
        tracking.mlflow.log_params(dict(vars(settings)))
        tracking.mlflow.log_metrics(metrics.prefixed(real.summary, "backtest."))
        tracking.mlflow.log_metrics(metrics.prefixed(placebo.summary, "placebo."))
        tracking.mlflow.log_text(table.write_csv(), "backtest/real_vs_placebo.csv")
        tracking.mlflow.log_text(real.monthly.write_csv(), "backtest/monthly.csv")
        tracking.mlflow.log_text(placebo.monthly.write_csv(), "backtest/placebo_monthly.csv")
        for name, figure in figures.items():
            tracking.mlflow.log_figure(figure, f"plots/{name}.png")
    # the same numbers on the training run and in the registry version's card
    for key, value in metrics.prefixed(real.summary, "backtest.").items():
        client.log_metric(training_run_id, key, value)
    card = tracking.model_card(client, training_run_id, version, table, run.info.run_id)
    if version is not None:
        client.update_model_version(MODEL_NAME, version, description=card)
        client.set_model_version_tag(MODEL_NAME, version, "backtest.run_id", run.info.run_id)
    images = {name: plots.png_bytes(figure) for name, figure in figures.items()}
    return dg.MaterializeResult(
        metadata=readable(
            {
                "mlflow/run_id": run.info.run_id,
                "mlflow/training_run_id": training_run_id,
                "mlflow/run": dg.MetadataValue.url(tracking.run_link(mlflow.ui_url, experiment_id, run.info.run_id)),
                "mlflow/experiment": dg.MetadataValue.url(tracking.experiment_link(mlflow.ui_url, experiment_id)),
                "model/version": str(version),
                "backtest/table": dg.MetadataValue.md(plots.markdown_table(table)),
                **{f"backtest/{k}": v for k, v in _finite(real.summary).items()},
                **{f"placebo/{k}": v for k, v in _finite(placebo.summary).items()},
                **{
                    f"plot/{name}": dg.MetadataValue.md(plots.markdown_image(png, name)) for name, png in images.items()
                },
                "model_card": dg.MetadataValue.md(card),
            }
        )
    )


# ---- predictions ------------------------------------------------------------------------------------------
PREDICTION_SCHEMA = {
    "ticker": pl.String,
    "as_of_date": pl.Date,
    "pred_p10": pl.Float64,
    "pred_p50": pl.Float64,
    "pred_p90": pl.Float64,
    "prediction_as_of": pl.Date,  # = as_of_date, served by Feast (its timestamp column is not a feature)
    "model_name": pl.String,
    "model_version": pl.String,
    "mlflow_run_id": pl.String,
    "feature_service": pl.String,
    "training_cutoff": pl.Date,
    "is_out_of_sample": pl.Boolean,
    "source_snapshots": dataset.SNAPSHOT_TYPE,
    "source_partitions": dataset.PARTITIONS_TYPE,
    "dagster_run_id": pl.String,
    "predicted_at": pl.Datetime("us", "UTC"),
}


PREDICTION_DOCS = {
    "ticker": "Company the prediction is for.",
    "as_of_date": "Decision date: features as public at its close; the label starts the next session.",
    "prediction_as_of": "The decision date again, as a column Feast serves (its timestamp column is not a feature).",
    "pred_p10": "10th percentile of the predicted 21-day forward excess log return over ^GSPC.",
    "pred_p50": "Median predicted 21-day forward excess log return over ^GSPC.",
    "pred_p90": "90th percentile of the predicted 21-day forward excess log return over ^GSPC.",
    "model_name": "Registered MLflow model that predicted (return_model).",
    "model_version": "Its registered version (the champion at prediction time).",
    "mlflow_run_id": "MLflow run that trained the model version.",
    "training_cutoff": "Last decision date of the model's training data.",
    "is_out_of_sample": "as_of_date is after the training cutoff plus the label horizon (a true forecast).",
    **LINEAGE_DOCS,
    "predicted_at": "When the prediction was made, UTC.",
}


@dg.asset(
    key=PREDICTIONS_KEY,
    group_name=GROUP,
    partitions_def=predictions_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="iceberg_io_manager",
    metadata={
        PARTITION_EXPR: "as_of_date",
        PARTITION_BY: ["month(as_of_date)"],
        COLUMN_SCHEMA: described_schema(PREDICTION_SCHEMA, PREDICTION_DOCS, table="ml.predictions"),
    },
    deps=[
        dg.AssetDep(RETURN_MODEL_KEY),
        dg.AssetDep(
            PRICES_KEY,
            partition_mapping=PRICE_WINDOW,
        ),
        dg.AssetDep(FILINGS_KEY, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(FEAST_REGISTRY_KEY),
        *[dg.AssetDep(k) for k in FEATURE_TABLE_KEYS],
    ],
    kinds={"xgboost", "mlflow", "iceberg"},
    code_version=CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec("prediction_coverage", asset=PREDICTIONS_KEY, description=PREDICTION_COVERAGE_DESCRIPTION)
    ],
    description=(
        "p10/p50/p90 of each ticker's 21-day forward excess log return at the month end, from the champion "
        "model; each row names its model version, MLflow run, Iceberg snapshots and upstream partitions."
    ),
)
def predictions(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource, feast: FeastResource, mlflow: MlflowResource
) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
    from mlflow.xgboost import load_model

    from finance_assets.ml import model

    catalog = lakehouse.lakehouse()
    client, _ = mlflow.configure()
    current = tracking.champion(client)
    if current is None:
        raise dg.Failure(f"No `{MODEL_NAME}@champion` in the MLflow registry: materialize ml/return_model first.")
    run = client.get_run(current.run_id)
    features = json.loads(run.data.tags["model.features"])
    feature_service = run.data.tags.get("feature_service", FEATURE_SERVICE)
    retrieval = run.data.tags.get("feature_retrieval", "feast")
    cutoff = date.fromisoformat(run.data.tags["training.cutoff"])

    first, last = _month_ends_in(context.partition_time_window)
    store = feast.store() if retrieval == "feast" else None
    pins = _pin_inputs(catalog, store, retrieval, feature_service)
    entities = dataset.month_end_entities(catalog, pins, first, last)
    meta: dict[str, Any] = {
        "model/version": str(current.version),
        "mlflow/run_id": current.run_id,
        "training/cutoff": cutoff.isoformat(),
    }
    if entities.is_empty():
        raise dg.Failure(
            f"No month-end bar between {first} and {last} in gold.price_features: load the month's last "
            "session (bronze/prices_daily) and let Gold follow, then re-run this partition."
        )

    found = dataset.feature_frame(
        entities, catalog, pins, store=store, feature_service=feature_service, retrieval=retrieval
    )
    missing = sorted(set(features) - set(found.features))
    if missing:
        raise dg.Failure(f"model v{current.version} needs features the service no longer serves: {missing}")
    booster = load_model(f"models:/{MODEL_NAME}/{current.version}")  # pinned, not the alias
    rows = entities.join(found.frame, on=["ticker", "as_of_date"], how="left")
    preds = model.predict(booster, rows.select(pl.col(features).cast(pl.Float64)).to_pandas())
    snapshots = {**found.snapshots, **{t: pins[t] for t in dataset.lineage_tables(retrieval)}}
    catalog.tag_lineage(snapshots, PREDICTIONS_TABLE)  # snapshot expiry keeps what these rows name
    frame = (
        rows.select("ticker", "as_of_date")
        .with_columns([pl.Series(name, preds[:, i]) for i, name in enumerate(PREDICTION_COLUMNS)])
        .join(dataset.lineage(entities, catalog, pins, store=store, retrieval=retrieval), on=["ticker", "as_of_date"])
        .with_columns(
            pl.col("as_of_date").alias("prediction_as_of"),
            pl.lit(MODEL_NAME).alias("model_name"),
            pl.lit(str(current.version)).alias("model_version"),
            pl.lit(current.run_id).alias("mlflow_run_id"),
            pl.lit(feature_service).alias("feature_service"),
            pl.lit(cutoff).alias("training_cutoff"),
            # the label window (t, t+21] starts after every label the model saw
            (pl.col("as_of_date") >= cutoff).alias("is_out_of_sample"),
            pl.lit(dataset.snapshot_list(snapshots), dataset.SNAPSHOT_TYPE).alias("source_snapshots"),
            pl.lit(context.run.run_id).alias("dagster_run_id"),
            pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("predicted_at"),
        )
        .select(list(PREDICTION_SCHEMA))
        .sort("as_of_date", "ticker")
    )
    yield dg.Output(
        frame,
        metadata=readable(
            {
                **meta,
                "months": frame["as_of_date"].n_unique(),
                "out_of_sample_rows": int(frame["is_out_of_sample"].sum()),
                "preview": dg.MetadataValue.md(
                    plots.markdown_table(frame.select("ticker", "as_of_date", *PREDICTION_COLUMNS).head(12))
                ),
                **_snapshot_metadata(snapshots),
            }
        ),
    )
    passed, coverage = ml_checks.coverage(frame, entities, "pred_p50")
    yield checks.warning(PREDICTIONS_KEY, "prediction_coverage", passed, coverage)


# ---- predictions online ----------------------------------------------------------------------------------
PREDICTIONS_VIEW = "return_model_predictions"


@dg.asset(
    key=ONLINE_PREDICTIONS_KEY,
    group_name=GROUP,
    deps=[dg.AssetDep(PREDICTIONS_KEY, partition_mapping=dg.AllPartitionMapping()), FEAST_REGISTRY_KEY],
    kinds={"feast", "sqlite", "redis"},
    automation_condition=dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("follow_inputs"),
    description=(
        "Each ticker's latest prediction (p10/p50/p90, model version, as-of) in the Feast online store, "
        "feature view return_model_predictions: the feature server answers a company's features and its "
        "prediction in one call (feature service return_model_serving)."
    ),
)
def online_predictions(
    context: dg.AssetExecutionContext, feast: FeastResource, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    from finance_assets.features.sources import pinned_snapshots

    store = feast.store()
    catalog = lakehouse.lakehouse()
    pins = dataset.pin_snapshots(catalog, [PREDICTIONS_TABLE])
    # from the epoch: a backfilled old month must not be skipped, and the latest row per ticker wins anyway
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC).replace(microsecond=0)
    with pinned_snapshots(pins, lakehouse=catalog) as reads:
        store.materialize(start, end, feature_views=[PREDICTIONS_VIEW])
    latest = (
        catalog.read(PREDICTIONS_TABLE, snapshot_id=pins[PREDICTIONS_TABLE], columns=["ticker", "as_of_date"])
        .group_by("ticker")
        .agg(pl.col("as_of_date").max())
    )
    return dg.MaterializeResult(
        metadata={
            "feature_view": PREDICTIONS_VIEW,
            "tickers": latest.height,
            "latest_as_of": str(latest["as_of_date"].max()),
            "oldest_latest_as_of": str(latest["as_of_date"].min()),
            "iceberg/snapshots": dg.MetadataValue.json({t: str(s) for t, s in reads.read.items()}),
            "online_store": store.config.online_store.type,
        }
    )


# ---- live performance -------------------------------------------------------------------------------------
class PerformanceConfig(dg.Config):
    include_in_sample: bool = False
    """Score predictions made for dates the model had labels for (flattering: off by default)."""


@dg.asset(
    key=PERFORMANCE_KEY,
    group_name=GROUP,
    deps=[dg.AssetDep(PREDICTIONS_KEY, partition_mapping=dg.AllPartitionMapping()), LABELS_KEY],
    io_manager_key="iceberg_io_manager",
    metadata={COLUMN_SCHEMA: described_schema(PERFORMANCE_SCHEMA, PERFORMANCE_DOCS, table=table_name(PERFORMANCE_KEY))},
    kinds={"polars", "iceberg"},
    code_version=CODE_VERSION,
    automation_condition=dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("follow_inputs"),
    description=(
        "Realised rank IC, hit rate, p10-p90 coverage and pinball loss of past out-of-sample predictions, "
        "per month, once their 21-day labels are known. The retraining sensor reads its latest values."
    ),
)
def prediction_performance(
    context: dg.AssetExecutionContext, config: PerformanceConfig, lakehouse: LakehouseResource
) -> dg.Output[pl.DataFrame]:
    catalog = lakehouse.lakehouse()
    pins = dataset.pin_snapshots(catalog, [PREDICTIONS_TABLE, LABELS_TABLE])
    preds = catalog.read(PREDICTIONS_TABLE, snapshot_id=pins[PREDICTIONS_TABLE])
    if not config.include_in_sample:
        preds = preds.filter(pl.col("is_out_of_sample"))
    labels = catalog.read(LABELS_TABLE, snapshot_id=pins[LABELS_TABLE], columns=["ticker", "trade_date", LABEL]).select(
        "ticker", pl.col("trade_date").alias("as_of_date"), pl.col(LABEL).alias("label")
    )
    scored = preds.join(labels, on=["ticker", "as_of_date"], how="inner").filter(pl.col("label").is_not_null())
    monthly = metrics.monthly_performance(scored)
    versions = scored.group_by("as_of_date").agg(
        pl.col("model_version").unique().sort().str.join(",").alias("model_versions")
    )
    monthly = monthly.join(versions, on="as_of_date", how="left").with_columns(
        pl.lit(context.run.run_id).alias("dagster_run_id"),
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("evaluated_at"),
        pl.lit(config.include_in_sample).alias("includes_in_sample"),
    )
    recent = monthly.tail(LIVE_WINDOW_MONTHS)
    overall = metrics.evaluate(scored) if not scored.is_empty() else {}
    live = {
        "live/months": recent.height,
        "live/rank_ic_rolling": _nan_or(recent["rank_ic"].drop_nulls().mean()),
        "live/coverage_rolling": _nan_or(recent["coverage"].mean()),
        "live/hit_rate_rolling": _nan_or(recent["hit_rate"].mean()),
        "live/last_month": str(recent["as_of_date"].max()) if recent.height else "none",
    }
    png = plots.png_bytes(
        plots.live_performance(monthly, f"{MODEL_NAME}: live performance (out of sample)", NOMINAL_COVERAGE)
    )
    table = monthly.select("as_of_date", "model_versions", "n_names", "rank_ic", "hit_rate", "coverage", "pinball_mean")
    return dg.Output(
        monthly,
        metadata=readable(
            {
                **live,
                "overall": dg.MetadataValue.json(_finite(overall)),
                "plot": dg.MetadataValue.md(plots.markdown_image(png, "rank IC and coverage per month")),
                "months_table": dg.MetadataValue.md(plots.markdown_table(table.tail(24))),
                "note": (
                    "Monthly rank IC is noisy with few names (n_names per month in the table); coverage is steadier."
                ),
                **_snapshot_metadata(pins),
                "dagster/table_name": f"lakehouse.{table_name(PERFORMANCE_KEY)}",
            }
        ),
    )


def _nan_or(value: Any) -> float:
    return float(value) if value is not None else math.nan


ml_assets = [training_set, return_model, backtest_asset, predictions, online_predictions, prediction_performance]
