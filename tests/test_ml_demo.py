"""The demo's ML stage: its window follows the cross-section, its budget is the one the docs state."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from finance_assets.ml.demo import OUT_OF_SAMPLE_DAYS, cross_section_end, demo_runs
from finance_assets.ml.spec import DEMO_BACKTEST_REFIT_MONTHS, DEMO_TRIALS


def _bars(ticker: str, first: date, last: date) -> pl.DataFrame:
    days = pl.date_range(first, last, "1d", eager=True)
    return pl.DataFrame({"ticker": [ticker] * len(days), "date": days})


def test_the_cross_section_ends_where_most_tickers_stop_not_where_the_longest_history_does() -> None:
    # ten tickers to January 2020 (like the recorded S&P 500 histories), two of them carry on to 2023
    wide = [_bars(f"T{i}", date(2015, 1, 1), date(2020, 1, 17)) for i in range(10)]
    long = [_bars(f"L{i}", date(2020, 1, 18), date(2023, 10, 27)) for i in range(2)]
    prices = pl.concat([*wide, *long])
    assert prices["date"].max() == date(2023, 10, 27)
    assert cross_section_end(prices) == date(2020, 1, 31)  # January 2020 still holds all twelve


def test_a_universe_that_ends_together_ends_on_its_last_price() -> None:
    prices = pl.concat([_bars(t, date(2022, 1, 3), date(2023, 10, 27)) for t in ("AAPL", "MSFT", "NVDA")])
    assert cross_section_end(prices) == date(2023, 10, 27)


def test_the_demo_trains_a_year_before_the_cross_section_ends_and_predicts_up_to_the_last_price() -> None:
    end, last = date(2020, 1, 31), date(2023, 10, 27)
    runs = dict(demo_runs(end, last))
    model = runs["ml_retrain"]["run_config"]["ops"]["ml__return_model"]["config"]
    assert model["cutoff_date"] == (end - timedelta(days=OUT_OF_SAMPLE_DAYS)).isoformat() == "2019-01-31"
    assert model["n_trials"] == DEMO_TRIALS
    backtest = runs["ml_backtest"]["run_config"]["ops"]["ml__backtest"]["config"]
    assert backtest["refit_months"] == DEMO_BACKTEST_REFIT_MONTHS
    assert runs["ml_predictions"]["partition_range"] == ("2019-01-01", "2023-10-01")
