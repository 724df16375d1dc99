"""Quant metrics of the return model on hand-computable data."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from finance_assets.ml import metrics, model


def _frame(rows: list[tuple[date, str, float, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["as_of_date", "ticker", "label", "pred_p10", "pred_p50", "pred_p90"], orient="row"
    )


def test_pinball_loss_by_hand() -> None:
    y = np.array([0.10, -0.05])
    q = np.array([0.00, 0.00])
    # alpha=0.9: under-prediction costs 0.9 per unit, over-prediction 0.1
    assert metrics.pinball_loss(y, q, 0.9) == pytest.approx((0.9 * 0.10 + 0.1 * 0.05) / 2)
    assert metrics.pinball_loss(y, q, 0.1) == pytest.approx((0.1 * 0.10 + 0.9 * 0.05) / 2)


def test_rank_ic_hit_rate_coverage_and_tstat() -> None:
    jan, feb, mar = date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)
    frame = _frame(
        [
            # January: perfect ranking
            (jan, "A", 0.03, -0.1, 0.01, 0.1),
            (jan, "B", 0.02, -0.1, 0.00, 0.1),
            (jan, "C", -0.01, -0.1, -0.02, 0.1),
            # February: reversed ranking, C outside its interval
            (feb, "A", -0.02, -0.1, 0.01, 0.1),
            (feb, "B", 0.00, -0.1, 0.00, 0.1),
            (feb, "C", 0.20, -0.1, -0.02, 0.1),
            # March: two names only -> no IC (a 2-name rank correlation is always +-1)
            (mar, "A", 0.01, -0.1, 0.01, 0.1),
            (mar, "B", 0.02, -0.1, 0.00, 0.1),
        ]
    )
    ic = metrics.monthly_rank_ic(frame)
    assert ic["rank_ic"].to_list() == [pytest.approx(1.0), pytest.approx(-1.0), None]
    result = metrics.evaluate(frame)
    assert result["rank_ic_months"] == 2 and result["rank_ic_mean"] == pytest.approx(0.0)
    assert math.isnan(result["rank_ic_tstat"]) is False and result["rank_ic_tstat"] == pytest.approx(0.0)
    assert result["coverage"] == pytest.approx(7 / 8)
    # same sign of predicted median and realised return: A, C (Jan), B (Feb: 0 and 0), A (Mar) -> 4 of 8
    # (a zero prediction for a positive return, B in January and March, is a miss)
    assert result["hit_rate"] == pytest.approx(4 / 8)
    monthly = metrics.monthly_performance(frame)
    assert monthly["coverage"].to_list() == [pytest.approx(1.0), pytest.approx(2 / 3), pytest.approx(1.0)]


def test_ic_tstat_is_mean_over_standard_error() -> None:
    summary = metrics.ic_summary([0.5, 1.0, 0.5, -0.5])
    values = np.array([0.5, 1.0, 0.5, -0.5])
    assert summary["rank_ic_tstat"] == pytest.approx(values.mean() / (values.std(ddof=1) / 2))
    assert math.isnan(metrics.ic_summary([0.5])["rank_ic_tstat"])


def test_quantile_predictions_never_cross_and_missing_features_stay_missing() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    x[::4, 1] = np.nan  # missing fundamentals: XGBoost routes them, nothing is imputed
    y = 0.05 * x[:, 0] + rng.normal(scale=0.02, size=300)
    booster = model.fit(x, y, {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2})
    preds = model.predict(booster, x)
    assert preds.shape == (300, 3)
    assert (np.diff(preds, axis=1) >= 0).all()
    assert np.isnan(x).any()  # the input was not filled in place
