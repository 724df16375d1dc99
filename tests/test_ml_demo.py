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


def test_the_closing_lines_give_the_hold_out_ic_and_the_backtest_beside_its_placebo() -> None:
    import dagster as dg

    from finance_assets.core import names
    from finance_assets.ml.demo import closing_lines

    instance = dg.DagsterInstance.ephemeral()
    assert closing_lines(instance) == []  # no model trained: nothing to say
    holdout = {"rank_ic_mean": 0.0312, "rank_ic_tstat": 1.4}
    model = {"model/name": "return_model", "model/version": "3", "model/decision": "promoted"}
    model |= {"universe/tickers": 477, "training/cutoff": "2019-01-31", "holdout/start": "2018-01-31"}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            names.RETURN_MODEL, metadata={**model, "holdout/challenger": dg.MetadataValue.json(holdout)}
        )
    )
    backtest = {"backtest/rank_ic_mean": 0.02, "backtest/rank_ic_tstat": 2.1, "backtest/net_sharpe": 0.5}
    backtest |= {"placebo/rank_ic_mean": -0.001, "placebo/rank_ic_tstat": -0.1, "placebo/net_sharpe": -0.2}
    instance.report_runless_asset_event(dg.AssetMaterialization(names.BACKTEST, metadata=backtest))
    first, second = closing_lines(instance)
    assert "v3 (promoted; 477 tickers, trained to 2019-01-31)" in first
    assert "hold-out rank IC +0.031 (t +1.40) from 2018-01-31" in first
    assert "rank IC +0.020 (t +2.10) / -0.001 (t -0.10)" in second and "net Sharpe +0.50 / -0.20" in second
    assert "net annual return n/a / n/a" in second  # a statistic the run did not log is said to be missing
