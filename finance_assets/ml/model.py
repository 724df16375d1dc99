"""The quantile model: one XGBoost booster predicting the 10th, 50th and 90th percentiles together.

XGBoost 3 fits several quantiles in one model (``reg:quantileerror`` with a vector ``quantile_alpha``,
one output per quantile, each with its own intercept: the unconditional quantile of the training
labels). Missing features stay NaN: the trees learn a default direction for them, so a company without a
filing yet is not pretended to have zero margins. Quantiles are fitted independently and can cross; the
predictions are sorted per row (monotone rearrangement, which never increases pinball loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
import xgboost as xgb

from finance_assets.ml.spec import QUANTILES

# Fixed settings of every fit: threads kept to one (the machines are shared), hist trees.
BASE_PARAMS: dict[str, Any] = {
    "objective": "reg:quantileerror",
    "tree_method": "hist",
    "n_jobs": 1,
}
SEARCH_SPACE_VERSION = "1"
INTEGER_PARAMS = frozenset({"n_estimators", "max_depth", "max_leaves", "max_bin", "num_parallel_tree"})


MIN_CHILD_WEIGHT_MAX = 100.0
LEAF_SHARE_MAX = 0.05  # a leaf never has to hold more than this share of the training rows


def search_space(trial: optuna.Trial, train_rows: int | None = None) -> dict[str, Any]:
    """XGBoost hyper-parameters Optuna explores (shallow, regularised trees: the signal is weak).

    ``min_child_weight`` is the least number of rows a leaf holds (the quantile loss's hessian is 1 per row):
    its range stops at ``LEAF_SHARE_MAX`` of the smallest training fold (``train_rows``), so that no trial
    is a tree that cannot split (a constant prediction has no rank IC). On the market (tens of thousands of
    rows) the cap is above ``MIN_CHILD_WEIGHT_MAX`` and changes nothing.
    """
    upper = MIN_CHILD_WEIGHT_MAX if not train_rows else min(MIN_CHILD_WEIGHT_MAX, max(2.0, LEAF_SHARE_MAX * train_rows))
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 600, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 1, 6),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, upper, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }


def fit(x: Any, y: np.ndarray, params: Mapping[str, Any], *, seed: int = 0) -> xgb.XGBRegressor:
    """Fit the multi-quantile booster (``x``: a numpy array, or pandas when feature names must travel)."""
    merged = {**BASE_PARAMS, **params}
    # parameters arriving as floats (JSON, Dagster config) where XGBoost wants counts
    merged.update({k: int(v) for k, v in merged.items() if k in INTEGER_PARAMS and v is not None})
    model = xgb.XGBRegressor(
        **merged,
        quantile_alpha=np.asarray(QUANTILES),
        random_state=seed,
    )
    model.fit(x, y)
    return model


def predict(model: xgb.XGBRegressor, x: Any) -> np.ndarray:
    """(n, 3) predictions, sorted per row so that p10 <= p50 <= p90."""
    preds = np.asarray(model.predict(x), dtype=float).reshape(-1, len(QUANTILES))
    return np.sort(preds, axis=1)


def feature_importance(model: xgb.XGBRegressor, features: list[str]) -> dict[str, float]:
    """Total gain per feature (features never split on get 0), normalised to sum to 1."""
    booster = model.get_booster()
    names = booster.feature_names or [f"f{i}" for i in range(len(features))]
    gain = booster.get_score(importance_type="total_gain")
    by_name = {features[i]: float(gain.get(name, 0.0)) for i, name in enumerate(names)}
    total = sum(by_name.values())
    return {k: (v / total if total else 0.0) for k, v in by_name.items()}
