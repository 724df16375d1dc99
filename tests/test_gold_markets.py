"""Gold price features, labels, ratios and the EDGAR/FMP reconciliation, against the recorded files."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import REPLAY, GoldLakehouse, raw_company_facts

pytestmark = pytest.mark.slow

AAPL = "0000320193"


def _yahoo(ticker: str) -> pl.DataFrame:
    """The recorded Yahoo daily file (columns Index,<T>.Open,...,<T>.Adjusted)."""
    frame = pl.read_csv(REPLAY / "prices" / "yahoo_daily_2003_2023" / f"{ticker}.csv", infer_schema_length=None)
    frame.columns = ["date", "open", "high", "low", "close", "volume", "adj_close"]
    return frame.with_columns(pl.col("date").str.to_date()).sort("date")


def test_price_features_match_the_recorded_bars(gold_lakehouse: GoldLakehouse) -> None:
    day = date(2023, 8, 1)
    bars = _yahoo("AAPL").filter(pl.col("date") >= date(2022, 6, 1), pl.col("date") <= day)
    adj = bars.get_column("adj_close").to_list()
    features = gold_lakehouse.read("gold.price_features").filter(ticker="AAPL", trade_date=day).row(0, named=True)
    assert features["momentum_21d"] == pytest.approx(adj[-1] / adj[-22] - 1, rel=1e-9)
    assert features["momentum_252d"] == pytest.approx(adj[-1] / adj[-253] - 1, rel=1e-9)
    logs = [math.log(b / a) for a, b in zip(adj[-21:-1], adj[-20:], strict=True)]
    mean = sum(logs) / 20
    vol = math.sqrt(sum((x - mean) ** 2 for x in logs) / 19) * math.sqrt(252)
    assert features["realized_vol_20d"] == pytest.approx(vol, rel=1e-9)
    high = bars.get_column("high").tail(252).max()
    assert features["distance_from_52w_high"] == pytest.approx(bars.get_column("close")[-1] / high - 1, rel=1e-9)
    # not enough history yet: null, not a partial window
    first = gold_lakehouse.read("gold.price_features").filter(ticker="AAPL").sort("trade_date").row(0, named=True)
    assert first["momentum_21d"] is None and first["beta_252d"] is None


def test_labels_are_forward_excess_log_returns_and_unknown_at_the_end(gold_lakehouse: GoldLakehouse) -> None:
    day = date(2023, 6, 1)
    aapl = _yahoo("AAPL").filter(pl.col("date") >= date(2022, 6, 1))
    gspc = _yahoo("GSPC").filter(pl.col("date") >= date(2022, 6, 1))
    i = aapl.get_column("date").to_list().index(day)
    later = aapl.get_column("date")[i + 21]
    a0, a1 = aapl.get_column("adj_close")[i], aapl.get_column("adj_close")[i + 21]
    g = dict(zip(gspc.get_column("date"), gspc.get_column("adj_close"), strict=True))
    expected = math.log(a1 / a0) - math.log(g[later] / g[day])
    labels = gold_lakehouse.read("gold.labels").filter(ticker="AAPL").sort("trade_date")
    row = labels.filter(trade_date=day).row(0, named=True)
    assert row["label_available_at"] == later
    assert row["forward_excess_log_return_21d"] == pytest.approx(expected, rel=1e-9)
    # the last 21 trading days have no known future
    assert labels.tail(21).get_column("forward_excess_log_return_21d").null_count() == 21
    assert labels.filter(pl.col("ticker") == "^GSPC").is_empty()


def test_valuation_uses_the_close_on_the_filing_date(gold_lakehouse: GoldLakehouse) -> None:
    """AAPL fiscal 2022: 10-K filed 2022-10-28; shares outstanding 15,943,425,000 at 2022-09-24."""
    facts = raw_company_facts(AAPL)["facts"]["us-gaap"]
    shares = next(
        f["val"]
        for f in facts["CommonStockSharesOutstanding"]["units"]["shares"]
        if f["end"] == "2022-09-24" and f["form"] == "10-K"
    )
    net_income = next(
        f["val"]
        for f in facts["NetIncomeLoss"]["units"]["USD"]
        if f.get("start") == "2021-09-26" and f["end"] == "2022-09-24" and f["form"] == "10-K"
    )
    close = _yahoo("AAPL").filter(date=date(2022, 10, 28)).get_column("close")[0]
    ratios = (
        gold_lakehouse.read("gold.financial_ratios")
        .filter(ticker="AAPL", period_type="FY", period_end=date(2022, 9, 24))
        .row(0, named=True)
    )
    assert ratios["filed_at"] == date(2022, 10, 28) and ratios["price_date"] == date(2022, 10, 28)
    assert ratios["market_cap"] == pytest.approx(close * shares, rel=1e-9)
    assert ratios["pe_ratio"] == pytest.approx(close * shares / net_income, rel=1e-9)
    revenue = next(
        f["val"]
        for f in facts["RevenueFromContractWithCustomerExcludingAssessedTax"]["units"]["USD"]
        if f.get("start") == "2021-09-26" and f["end"] == "2022-09-24" and f["form"] == "10-K"
    )
    gross = next(
        f["val"]
        for f in facts["GrossProfit"]["units"]["USD"]
        if f.get("start") == "2021-09-26" and f["end"] == "2022-09-24" and f["form"] == "10-K"
    )
    assert ratios["gross_margin"] == pytest.approx(gross / revenue, rel=1e-12)
    # never a price after the filing
    every = gold_lakehouse.read("gold.financial_ratios").filter(pl.col("price_date").is_not_null())
    assert every.filter(pl.col("price_date") > pl.col("filed_at")).is_empty()


def test_edgar_fmp_reconciliation_is_an_asset_check(gold_lakehouse: GoldLakehouse) -> None:
    recon = gold_lakehouse.read("gold.edgar_fmp_reconciliation")
    revenue = recon.filter(ticker="AAPL", line_item="revenue", period_type="FY", period_end=date(2024, 9, 28))
    assert revenue.row(0, named=True)["fmp_matches"] == "both"
    assert recon.height > 100 and recon.filter(pl.col("fmp_matches").is_not_null()).height > 0.9 * recon.height
    flagged = recon.filter(pl.col("is_flagged"))
    assert flagged.filter(pl.col("relative_difference") <= 0.005).is_empty()
    evaluations = [
        e
        for e in gold_lakehouse.runs["dbt"].get_asset_check_evaluations()
        if e.check_name == "assert_edgar_agrees_with_fmp"
    ]
    assert len(evaluations) == 1
    assert evaluations[0].passed == flagged.is_empty()


def test_feature_set_v2_price_features_match_the_recorded_bars(gold_lakehouse: GoldLakehouse) -> None:
    """RSI, 12-1 momentum, idiosyncratic volatility and the liquidity features, recomputed from the Yahoo
    files (AAPL and ^GSPC, 2022-06-01 -> 2023-08-01) with numpy, independently of the SQL."""
    import numpy as np

    day = date(2023, 8, 1)
    bars = _yahoo("AAPL").filter(pl.col("date") >= date(2022, 6, 1), pl.col("date") <= day)
    gspc = _yahoo("GSPC").filter(pl.col("date") >= date(2022, 6, 1), pl.col("date") <= day)
    assert bars["date"].to_list() == gspc["date"].to_list()  # same sessions: the regression pairs every day
    adj = bars["adj_close"].to_numpy()
    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    row = gold_lakehouse.read("gold.price_features").filter(ticker="AAPL", trade_date=day).row(0, named=True)

    assert row["momentum_5d"] == pytest.approx(adj[-1] / adj[-6] - 1, rel=1e-9)
    assert row["momentum_12_1"] == pytest.approx(adj[-22] / adj[-253] - 1, rel=1e-9)
    change = np.diff(adj)[-14:]
    gain, loss = np.clip(change, 0, None).mean(), np.clip(-change, 0, None).mean()
    assert row["rsi_14d"] == pytest.approx(100 - 100 / (1 + gain / loss), rel=1e-9)
    y = np.diff(np.log(adj))[-252:]
    x = np.diff(np.log(gspc["adj_close"].to_numpy()))[-252:]
    beta, alpha = np.polyfit(x, y, 1)
    residuals = y - (alpha + beta * x)
    assert row["beta_252d"] == pytest.approx(beta, rel=1e-9)
    assert row["idiosyncratic_vol_252d"] == pytest.approx(
        math.sqrt((residuals**2).sum() / (len(y) - 2) * 252), rel=1e-9
    )
    returns = adj[1:] / adj[:-1] - 1
    assert row["max_return_21d"] == pytest.approx(returns[-21:].max(), rel=1e-9)
    assert row["log_dollar_volume_20d"] == pytest.approx(math.log((close[-20:] * volume[-20:]).mean()), rel=1e-9)
    amihud = (np.abs(returns[-20:]) / (close[-20:] * volume[-20:])).mean() * 1e9
    assert row["amihud_illiquidity_20d"] == pytest.approx(amihud, rel=1e-9)


def test_every_priced_company_has_a_sector_from_its_sic_code(gold_lakehouse: GoldLakehouse) -> None:
    import json

    sectors = gold_lakehouse.read("gold.company_sectors")
    priced = set(gold_lakehouse.read("gold.price_features")["ticker"].unique()) - {"^GSPC"}
    assert set(sectors["ticker"]) == priced and sectors["sector"].null_count() == 0
    # AAPL: SIC 3571 "Electronic Computers" in its recorded filing index (the live path wins over the seed)
    payload = json.loads((REPLAY / "edgar" / "submissions" / "CIK0000320193.json").read_text())
    aapl = sectors.filter(ticker="AAPL").row(0, named=True)
    assert aapl["sic"] == payload["sic"] == "3571"
    assert aapl["sic_source"] == "filing_index"
    assert (aapl["sector"], aapl["sector_code"]) == ("Information Technology", 8)
