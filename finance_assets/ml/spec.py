"""What the return model is: its name, label, horizon, quantiles and feature service, in one place."""

from __future__ import annotations

from finance_assets.core import names
from finance_assets.features import catalog

MODEL_NAME = "return_model"
EXPERIMENT_NAME = "return_model"
FEATURE_SERVICE = catalog.SERVICE_V2  # the market model; v1 stays registered to compare
CODE_VERSION = "return_model/1"  # bump when the training protocol changes (Dagster code version too)

LABEL = "forward_excess_log_return_21d"
HORIZON_TRADING_DAYS = 21
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
PREDICTION_COLUMNS: tuple[str, ...] = ("pred_p10", "pred_p50", "pred_p90")
NOMINAL_COVERAGE = QUANTILES[-1] - QUANTILES[0]
CHAMPION_ALIAS = "champion"

# Tuning budget: the Dagster config default and the trainer's (docs/ml.md: 30 trials).
N_TRIALS = 30
TUNING_TIMEOUT_SECONDS = 900.0
# The training protocol's defaults (Dagster config and the trainer read these; README documents them).
N_FOLDS = 4
FOLD_MONTHS = 6
HOLDOUT_MONTHS = 12
MIN_TRAIN_MONTHS = 24
SEED = 42
# The backtest's defaults: walk-forward refits, long-short quintiles, 10 bps per unit traded.
BACKTEST_REFIT_MONTHS = 6
BACKTEST_QUANTILES = 5
BACKTEST_COST_BPS = 10.0
# The demo's smaller budget (README and docs/ml.md say so): fewer trials and yearly backtest refits keep
# `make demo` on the default universe under 5 minutes on 2 cores. A launchpad, schedule or `cli materialize`
# run uses the defaults above.
DEMO_TRIALS = 8
DEMO_BACKTEST_REFIT_MONTHS = 12

# Entity of every row: a ticker at a month-end session.
ENTITY_COLUMNS: tuple[str, ...] = ("ticker", "as_of_date")

# The feature lists are the catalog's (finance_assets/features/catalog.py), shared with feature_repo/.
# PRICE_FEATURES / FUNDAMENTAL_FEATURES / FEATURES: return_model_v1 as the direct Gold join
# (``retrieval="gold"``) reads it: scale-free price features of the month-end close, the ratios as first
# reported as of the filing date (missing stays missing: XGBoost learns a default direction for it).
PRICE_FEATURES: tuple[str, ...] = catalog.V1_PRICE
FUNDAMENTAL_FEATURES: tuple[str, ...] = catalog.V1_RATIOS
FEATURES: tuple[str, ...] = (*PRICE_FEATURES, *FUNDAMENTAL_FEATURES, "days_since_filing")
# What the model reads per feature service through Feast (the default path).
MODEL_FEATURES = catalog.MODEL_FEATURES

# Tables every training set / prediction reads (the snapshot of each is recorded).
PRICE_FEATURES_TABLE = names.table_name(names.PRICE_FEATURES)
RATIOS_TABLE = names.table_name(names.FINANCIAL_RATIOS)
LABELS_TABLE = names.table_name(names.LABELS)
TRAINING_SET_TABLE = names.table_name(names.TRAINING_SET)
PREDICTIONS_TABLE = names.table_name(names.PREDICTIONS)
PERFORMANCE_TABLE = names.table_name(names.PREDICTION_PERFORMANCE)
