"""Checks of the ML tables: leakage, coverage against the universe, feature drift.

- **Leakage** (error, blocking): no feature may be stamped after its row's as-of date. The model's
  staleness features say so directly: ``days_since_filing`` (as_of - filed_at) below zero means a filing
  that was not public yet was joined; a label known on or before its as-of date is not a forward return.
- **Coverage** (warn): share of the universe's (ticker, month-end) rows that carry a label (training
  set) or a prediction (predictions). A ticker with bars but no label in a matured month is lost data.
- **Drift** (warn): population stability index per feature, training months vs the latest month, on the
  training distribution's deciles (missing values are a bin of their own). PSI > 0.25 is the usual
  "shifted" line; a warning, never a stop: markets move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from finance_assets.core.checks import FrameCheck, Metadata

PSI_SHIFTED = 0.25
MIN_COVERAGE = 0.95
PSI_BINS = 10
EPSILON = 1e-4  # empty bins: a floor, so one empty bin does not make the index infinite


def _no_future_features(frame: pl.DataFrame) -> tuple[bool, Metadata]:
    bad = pl.lit(False)
    if "days_since_filing" in frame.columns:
        bad = bad | (pl.col("days_since_filing") < 0).fill_null(False)
    if "label_end" in frame.columns:
        bad = bad | (pl.col("label_end") <= pl.col("as_of_date")).fill_null(False)
    leaks = frame.filter(bad)
    sample = leaks.select([c for c in ("ticker", "as_of_date", "days_since_filing", "label_end") if c in leaks.columns])
    return leaks.is_empty(), {"rows_from_the_future": leaks.height, "sample": str(sample.head(5).to_dicts())}


NO_FUTURE_FEATURES = FrameCheck(
    name="no_feature_after_as_of",
    description=(
        "Leakage: every feature is known at the row's as-of date (days_since_filing >= 0) and the label "
        "only after it (label_end > as_of_date)."
    ),
    evaluate=_no_future_features,
    blocking=True,
)


def coverage(rows: pl.DataFrame, universe: pl.DataFrame, column: str) -> tuple[bool, Metadata]:
    """Share of ``universe`` (ticker, as_of_date) rows whose ``column`` is present in ``rows``, per month."""
    joined = universe.select("ticker", "as_of_date").join(
        rows.select("ticker", "as_of_date", column), on=["ticker", "as_of_date"], how="left"
    )
    monthly = (
        joined.group_by("as_of_date")
        .agg(pl.len().alias("universe"), pl.col(column).is_not_null().mean().alias("coverage"))
        .sort("as_of_date")
    )
    worst = monthly.sort("coverage").head(3).with_columns(pl.col("as_of_date").cast(pl.String))
    lowest = float(monthly["coverage"].min()) if monthly.height else math.nan  # type: ignore[arg-type]
    return lowest >= MIN_COVERAGE, {
        "lowest_monthly_coverage": lowest,
        "overall_coverage": float(joined[column].is_not_null().mean() or 0.0),
        "universe_rows": joined.height,
        "months": monthly.height,
        "worst_months": worst.to_dicts(),  # JSON in the UI (readable() wraps lists), not a dict repr
    }


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of ``actual`` against ``expected`` (NaN = missing, a bin of its own)."""
    finite = expected[~np.isnan(expected)]
    if not len(finite) or not len(actual):
        return math.nan
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
        return np.maximum(np.append(counts, missing.sum()) / len(values), EPSILON)

    e, a = shares(expected), shares(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(frame: pl.DataFrame, features: Sequence[str]) -> tuple[bool, Metadata]:
    """PSI of each feature: all months before the latest vs the latest month."""
    latest = frame["as_of_date"].max()
    before, last = frame.filter(pl.col("as_of_date") < latest), frame.filter(pl.col("as_of_date") == latest)

    def column(rows: pl.DataFrame, name: str) -> np.ndarray:
        return rows[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    values = {f: psi(column(before, f), column(last, f)) for f in features}
    shifted = sorted(f for f, v in values.items() if not math.isnan(v) and v > PSI_SHIFTED)
    return not shifted, {
        "latest_month": str(latest),
        "psi": {f: round(v, 4) for f, v in values.items() if not math.isnan(v)},
        "shifted_features": shifted,
        "threshold": PSI_SHIFTED,
    }
