"""ML checks: leakage (a future fact joined fails the check), coverage against the universe, PSI drift."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from market_replay import market_frame

from finance_assets.ml import checks


def _filings() -> pl.DataFrame:
    """Quarterly filing dates of every ticker (mid-month, so month ends fall between filings)."""
    frame = market_frame(limit=30)
    tickers = frame["ticker"].unique().sort().to_list()
    dates = [date(y, m, 15) for y in range(2015, 2020) for m in (2, 5, 8, 11)]
    return pl.DataFrame({"ticker": [t for t in tickers for _ in dates], "filed_at": dates * len(tickers)}).sort(
        "filed_at"
    )


def _joined(strategy: str) -> pl.DataFrame:
    rows = market_frame(limit=30).sort("as_of_date")
    joined = rows.join_asof(
        _filings(), left_on="as_of_date", right_on="filed_at", by="ticker", strategy=strategy, check_sortedness=False
    )
    return joined.with_columns(
        (pl.col("as_of_date") - pl.col("filed_at")).dt.total_days().cast(pl.Float64).alias("days_since_filing")
    )


def test_point_in_time_join_passes_the_leakage_check() -> None:
    passed, meta = checks.NO_FUTURE_FEATURES.evaluate(_joined("backward"))
    assert passed and meta["rows_from_the_future"] == 0


def test_joining_a_future_filing_fails_the_leakage_check() -> None:
    passed, meta = checks.NO_FUTURE_FEATURES.evaluate(_joined("forward"))  # the next filing: not public yet
    assert not passed and meta["rows_from_the_future"] > 0


def test_a_label_known_at_its_as_of_date_fails_the_leakage_check() -> None:
    rows = market_frame(limit=5).drop_nulls("label_end").with_columns(pl.col("as_of_date").alias("label_end"))
    passed, _ = checks.NO_FUTURE_FEATURES.evaluate(rows)
    assert not passed


def test_label_coverage_names_the_month_that_lost_labels() -> None:
    frame = market_frame(limit=20)
    universe = frame.select("ticker", "as_of_date").filter(pl.col("as_of_date") < frame["as_of_date"].max())
    month = universe["as_of_date"].unique().sort()[5]
    rows = frame.with_columns(
        pl.when((pl.col("as_of_date") == month) & (pl.col("ticker") < "AB"))
        .then(None)
        .otherwise("label")
        .alias("label")
    )
    complete, _ = checks.coverage(frame.drop_nulls("label"), universe, "label")
    passed, meta = checks.coverage(rows, universe, "label")
    assert complete
    assert not passed and str(month) in [m["as_of_date"] for m in meta["worst_months"]]


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    assert checks.psi(base, rng.normal(size=2000)) < 0.02
    assert checks.psi(base, rng.normal(loc=1.0, size=2000)) > checks.PSI_SHIFTED
    # a feature that goes missing is drift too (missing is its own bin)
    assert checks.psi(base, np.full(500, np.nan)) > checks.PSI_SHIFTED


def test_feature_drift_reports_psi_per_feature_for_the_latest_month() -> None:
    frame = market_frame(limit=100).filter(pl.col("as_of_date") <= date(2019, 6, 30))
    latest = frame["as_of_date"].max()
    shifted = frame.with_columns(
        pl.when(pl.col("as_of_date") == latest).then(pl.col("momentum_21d") + 1).otherwise("momentum_21d")
    )
    passed, meta = checks.feature_drift(shifted, ["momentum_21d", "realized_vol_20d"])
    assert not passed and "momentum_21d" in meta["shifted_features"]
    assert meta["psi"]["momentum_21d"] > 1.0  # every name moved up by 100%: far past the 0.25 line
    assert set(meta["psi"]) == {"momentum_21d", "realized_vol_20d"}
    _, unshifted = checks.feature_drift(frame, ["momentum_21d"])
    assert unshifted["psi"]["momentum_21d"] < meta["psi"]["momentum_21d"]
    assert meta["latest_month"] == str(latest)


@pytest.mark.parametrize("values", [np.array([]), np.array([np.nan, np.nan])])
def test_psi_without_a_reference_is_undefined(values: np.ndarray) -> None:
    assert np.isnan(checks.psi(values, np.array([1.0, 2.0])))
