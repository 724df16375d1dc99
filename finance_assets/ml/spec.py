"""What the return model is: its name, label, horizon, quantiles and feature service, in one place."""

from __future__ import annotations

from finance_assets.core import names

MODEL_NAME = "return_model"
EXPERIMENT_NAME = "return_model"
FEATURE_SERVICE = "return_model_v1"
CODE_VERSION = "return_model/1"  # bump when the training protocol changes (Dagster code version too)

LABEL = "forward_excess_log_return_21d"
HORIZON_TRADING_DAYS = 21
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
PREDICTION_COLUMNS: tuple[str, ...] = ("pred_p10", "pred_p50", "pred_p90")
NOMINAL_COVERAGE = QUANTILES[-1] - QUANTILES[0]
CHAMPION_ALIAS = "champion"

# Entity of every row: a ticker at a month-end session.
ENTITY_COLUMNS: tuple[str, ...] = ("ticker", "as_of_date")

# return_model_v1, price side (gold.price_features at the month-end close): scale-free features only.
PRICE_FEATURES: tuple[str, ...] = (
    "momentum_21d",
    "momentum_63d",
    "momentum_126d",
    "momentum_252d",
    "realized_vol_20d",
    "realized_vol_60d",
    "volume_zscore_20d",
    "distance_from_52w_high",
    "beta_252d",
)
# return_model_v1, fundamentals (gold.financial_ratios, as first reported, as of the filing date).
# Missing stays missing: XGBoost learns a default direction for it.
FUNDAMENTAL_FEATURES: tuple[str, ...] = (
    "gross_margin",
    "operating_margin",
    "net_margin",
    "return_on_equity",
    "return_on_assets",
    "current_ratio",
    "debt_to_equity",
    "asset_turnover",
    "fcf_margin",
    "revenue_growth_yoy",
    "eps_growth_yoy",
)
FEATURES: tuple[str, ...] = (*PRICE_FEATURES, *FUNDAMENTAL_FEATURES, "days_since_filing")

# Tables every training set / prediction reads (the snapshot of each is recorded).
PRICE_FEATURES_TABLE = names.table_name(names.PRICE_FEATURES)
RATIOS_TABLE = names.table_name(names.FINANCIAL_RATIOS)
LABELS_TABLE = names.table_name(names.LABELS)
TRAINING_SET_TABLE = names.table_name(names.TRAINING_SET)
PREDICTIONS_TABLE = names.table_name(names.PREDICTIONS)
PERFORMANCE_TABLE = names.table_name(names.PREDICTION_PERFORMANCE)
