"""Column schemas and descriptions of ``ml.training_set`` and ``ml.prediction_performance`` for the Dagster UI.

Feature columns take their sentence from the feature catalog (:data:`finance_assets.features.columns.FEATURE_DOCS`,
the one Feast shows); the lineage columns every ML table carries are described once here (:data:`LINEAGE_DOCS`,
also used by ``ml.predictions``). The training set's schema is that of the default feature service
(:data:`~.spec.FEATURE_SERVICE`); ``return_model_v1``'s features are a subset, so its runs stay described.
"""

from __future__ import annotations

import polars as pl

from finance_assets.features.catalog import MODEL_FEATURES
from finance_assets.features.columns import DERIVED_DOCS, FEATURE_DOCS
from finance_assets.ml import dataset
from finance_assets.ml.spec import FEATURE_SERVICE

LINEAGE_DOCS = {
    "feature_service": "Feast feature service the inputs came from (e.g. return_model_v2).",
    "source_snapshots": "Iceberg snapshot id of every table the inputs were read from.",
    "source_partitions": "Dagster partitions of the inputs the row read.",
    "dagster_run_id": "Dagster run that wrote the row.",
}

TRAINING_SET_SCHEMA = {
    "ticker": pl.String,
    "as_of_date": pl.Date,
    "label": pl.Float64,
    "label_end": pl.Date,
    "excess_return": pl.Float64,
    **dict.fromkeys(MODEL_FEATURES[FEATURE_SERVICE], pl.Float64),  # the model reads every feature as Float64
    "source_partitions": dataset.PARTITIONS_TYPE,
    "feature_service": pl.String,
    "retrieval": pl.String,
    "dagster_run_id": pl.String,
    "source_snapshots": dataset.SNAPSHOT_TYPE,
}
TRAINING_SET_DOCS = {
    "ticker": "Company of the row.",
    "as_of_date": "Month-end decision date: features as public at its close; the label starts the next session.",
    "label": (
        "Training target: the 21-session forward excess log return over ^GSPC (gold.labels), or its rank within "
        "the month's sector in [-0.5, 0.5] when the run's label is sector_neutral_rank."
    ),
    "label_end": "Session the label becomes known (its 21-session window ends): no fold trains on it before.",
    "excess_return": "The 21-session forward excess log return over ^GSPC, whatever the label (the backtest's P&L).",
    **{name: (FEATURE_DOCS | DERIVED_DOCS)[name] for name in MODEL_FEATURES[FEATURE_SERVICE]},
    "retrieval": "How the features were joined: 'feast' (the offline store) or 'gold' (the same join on Gold).",
    **LINEAGE_DOCS,
}

PERFORMANCE_SCHEMA = {
    "as_of_date": pl.Date,
    "n_names": pl.Int64,
    "rank_ic": pl.Float64,
    "hit_rate": pl.Float64,
    "coverage": pl.Float64,
    "pinball_mean": pl.Float64,
    "model_versions": pl.String,
    "dagster_run_id": pl.String,
    "evaluated_at": pl.Datetime("us", "UTC"),
    "includes_in_sample": pl.Boolean,
}
PERFORMANCE_DOCS = {
    "as_of_date": "Month-end decision date of the scored predictions.",
    "n_names": "Predictions of the month with a known label (the rank IC's sample size).",
    "rank_ic": "Spearman correlation of pred_p50 with the realised 21-session excess log return, across names.",
    "hit_rate": "Share of names where pred_p50 has the sign of the realised excess return.",
    "coverage": "Share of realised excess returns inside [pred_p10, pred_p90] (nominal 0.8).",
    "pinball_mean": "Mean pinball (quantile) loss over p10, p50 and p90: lower is better.",
    "model_versions": "Registered return_model versions that made the month's predictions (comma-separated).",
    "dagster_run_id": LINEAGE_DOCS["dagster_run_id"],
    "evaluated_at": "When the month was scored, UTC.",
    "includes_in_sample": "True if in-sample predictions were scored too (PerformanceConfig.include_in_sample).",
}
