"""The backtest: long-short arithmetic by hand, every prediction out of sample, and the placebo on the
recorded S&P 500 cross-section (tests/market_replay.py) within noise of zero."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from market_replay import FEATURES, market_frame

from finance_assets.ml import backtest
from finance_assets.ml.backtest import BacktestConfig

PARAMS = {"n_estimators": 40, "max_depth": 2, "learning_rate": 0.1, "min_child_weight": 20.0}


def _month(names: list[str], p50: list[float], labels: list[float], day: date) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": names,
            "as_of_date": [day] * len(names),
            "label": labels,
            "pred_p10": [p - 0.1 for p in p50],
            "pred_p50": p50,
            "pred_p90": [p + 0.1 for p in p50],
        }
    )


def test_long_short_returns_turnover_and_costs_by_hand() -> None:
    names = [f"T{i}" for i in range(10)]
    first = _month(names, [i / 10 for i in range(10)], [math.log(1 + 0.01 * i) for i in range(10)], date(2019, 1, 31))
    # month 2: the ranking reverses for the top names only: T9 drops to the bottom, T0 rises to the top
    p50 = [0.95, *[i / 10 for i in range(1, 9)], -1.0]
    second = _month(names, p50, [math.log(1.02)] * 10, date(2019, 2, 28))
    monthly = backtest.long_short(pl.concat([first, second]), BacktestConfig(n_quantiles=5, cost_bps=10))
    one, two = monthly.row(0, named=True), monthly.row(1, named=True)
    # quintiles of 10 names: long T8, T9 (returns 8%, 9%), short T0, T1 (0%, 1%)
    assert one["long_return"] == pytest.approx(0.085)
    assert one["short_return"] == pytest.approx(0.005)
    assert one["long_short_return"] == pytest.approx(0.08)
    assert one["turnover"] == pytest.approx(2.0)  # built from cash: +1 long, -1 short
    assert one["long_short_return_net"] == pytest.approx(0.08 - 2.0 * 0.001)
    # month 2: long T0, T8; short T9, T1 -> T0 +0.5 -(-0.5), T9 -0.5 - 0.5, T8 and T1 unchanged
    assert two["turnover"] == pytest.approx(2.0)
    assert two["long_short_return"] == pytest.approx(0.0)  # every name returned 2%
    assert one["rank_ic"] == pytest.approx(1.0)


def test_max_drawdown_and_sharpe_error() -> None:
    # wealth 1.1 -> 0.55 -> 0.66: worst fall 0.55 / 1.1 - 1 = -50%
    assert backtest.max_drawdown(np.array([0.1, -0.5, 0.2])) == pytest.approx(-0.5)
    assert backtest.max_drawdown(np.array([0.01, 0.02])) == 0.0
    stats = backtest.performance(np.array([0.01, 0.03, -0.01, 0.01]))
    sr = np.mean([0.01, 0.03, -0.01, 0.01]) / np.std([0.01, 0.03, -0.01, 0.01], ddof=1)
    assert stats["sharpe"] == pytest.approx(sr * math.sqrt(12))
    assert stats["sharpe_se"] == pytest.approx(math.sqrt((1 + sr**2 / 2) / 4) * math.sqrt(12))


def test_every_prediction_comes_from_a_model_fitted_on_labels_known_before_its_month() -> None:
    frame = market_frame(limit=60)
    preds = backtest.walk_forward_predictions(frame, FEATURES, PARAMS, BacktestConfig(min_train_months=24))
    assert preds["fitted_through"].lt(preds["as_of_date"]).all()
    first_month = sorted(frame["as_of_date"].unique())[24]
    assert preds["as_of_date"].min() == first_month


@pytest.fixture(scope="module")
def market_runs() -> tuple[backtest.BacktestResult, backtest.BacktestResult]:
    frame = market_frame()  # all 482 recorded members with a year of history (473)
    config = BacktestConfig(min_train_months=24, refit_months=6)
    return (
        backtest.run(frame, FEATURES, PARAMS, config, placebo=False),
        backtest.run(frame, FEATURES, PARAMS, config, placebo=True),
    )


def test_placebo_ic_is_within_noise_of_zero(market_runs: tuple[backtest.BacktestResult, ...]) -> None:
    real, placebo = market_runs
    assert placebo.summary["names_per_month"] > 400  # the market, not a handful of stocks
    assert placebo.summary["rank_ic_months"] >= 20
    # |IC| inside 3 standard errors of zero: shuffled labels carry no signal the protocol can find
    assert abs(placebo.summary["rank_ic_mean"]) < 3 * placebo.summary["rank_ic_se"]
    # both runs report every number, out of sample, on the same months
    assert real.monthly["as_of_date"].to_list() == placebo.monthly["as_of_date"].to_list()
    table = backtest.comparison_table(real.summary, placebo.summary)
    assert table.filter(pl.col("real").is_nan() | pl.col("placebo").is_nan()).is_empty()


def test_placebo_shuffles_labels_within_each_month_only() -> None:
    frame = market_frame(limit=40).filter(pl.col("label").is_not_null())
    shuffled = backtest.shuffled_labels(frame, seed=1)
    by_month = frame.group_by("as_of_date").agg(pl.col("label").sort()).sort("as_of_date")
    shuffled_by_month = shuffled.group_by("as_of_date").agg(pl.col("label").sort()).sort("as_of_date")
    assert by_month.equals(shuffled_by_month)
    joined = frame.join(shuffled, on=["ticker", "as_of_date"], suffix="_placebo")
    assert (joined["label"] != joined["label_placebo"]).mean() > 0.9


def test_a_month_without_history_is_refused() -> None:
    frame = market_frame(limit=10).filter(pl.col("as_of_date") < date(2016, 6, 1))
    with pytest.raises(ValueError, match="cannot hold 24 training months"):
        backtest.walk_forward_predictions(frame, FEATURES, PARAMS, BacktestConfig(min_train_months=24))


def test_sector_neutral_rank_label_ranks_within_month_and_sector_and_keeps_the_return() -> None:
    from finance_assets.ml.dataset import sector_neutral_ranks

    day = date(2019, 1, 31)
    frame = pl.DataFrame(
        {
            "ticker": ["A", "B", "C", "D", "E"],
            "as_of_date": [day] * 5,
            "label": [0.10, -0.05, 0.02, 0.30, None],
        }
    )
    sectors = pl.DataFrame({"ticker": ["A", "B", "C", "D"], "sector": ["Energy", "Energy", "Energy", "Utilities"]})
    ranked = {r["ticker"]: r for r in sector_neutral_ranks(frame, sectors).iter_rows(named=True)}
    assert [ranked[t]["label"] for t in "ABC"] == [0.5, -0.5, 0.0]  # ranks 3, 1, 2 of three Energy names
    assert ranked["D"]["label"] == 0.0  # alone in its sector: no peer to beat
    assert ranked["E"]["label"] is None and ranked["E"]["excess_return"] is None  # no sector: Unknown, no label
    assert ranked["A"]["excess_return"] == 0.10


def test_portfolios_earn_the_excess_return_when_the_label_is_a_rank() -> None:
    names = [f"T{i}" for i in range(5)]
    month = _month(names, [0.0, 0.1, 0.2, 0.3, 0.4], [-0.5, -0.25, 0.0, 0.25, 0.5], date(2019, 1, 31))
    month = month.with_columns(pl.Series("excess_return", [math.log(1.0), 0.0, 0.0, 0.0, math.log(1.1)]))
    row = backtest.long_short(month, BacktestConfig(n_quantiles=5)).row(0, named=True)
    assert row["long_short_return"] == pytest.approx(0.1)  # T4 earned 10%, T0 nothing: not the rank 0.5 - (-0.5)
