"""The numbers a quant reads off a cross-sectional return forecast.

- rank IC: Spearman correlation between predicted median and realised return ACROSS tickers on one date,
  then its mean over dates and the t-stat of that mean (mean / (std / sqrt(n))). It is the statistic of
  a cross-sectional model, but with 3 names a month's IC can only take the values -1, -0.5, 0.5, 1: it is
  very noisy, reported honestly, and never the promotion criterion.
- hit rate: share of rows whose predicted median has the sign of the realised excess return.
- pinball loss per quantile (the proper score of a quantile forecast) and its mean: what Optuna
  minimises and what the champion gate compares.
- interval coverage: share of realised returns inside [p10, p90] (nominal 80%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from finance_assets.ml.spec import NOMINAL_COVERAGE, PREDICTION_COLUMNS, QUANTILES

MIN_NAMES_FOR_IC = 3  # with 2 names a rank correlation is always +-1


def pinball_loss(y: np.ndarray, q: np.ndarray, alpha: float) -> float:
    diff = y - q
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1.0) * diff)))


def quantile_losses(y: np.ndarray, preds: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> dict[str, float]:
    """``pinball_p10``... and their mean, for predictions shaped (n, len(quantiles))."""
    losses = {f"pinball_p{round(a * 100)}": pinball_loss(y, preds[:, i], a) for i, a in enumerate(quantiles)}
    losses["pinball_mean"] = float(np.mean(list(losses.values())))
    return losses


def monthly_rank_ic(frame: pl.DataFrame, *, pred: str = "pred_p50", label: str = "label") -> pl.DataFrame:
    """Per as_of_date: number of names and Spearman rank IC (null with fewer than 3 names)."""
    return (
        frame.filter(pl.col(pred).is_not_null() & pl.col(label).is_not_null())
        .group_by("as_of_date")
        .agg(
            pl.len().alias("n_names"),
            pl.corr(pl.col(pred), pl.col(label), method="spearman").alias("rank_ic"),
        )
        .with_columns(
            pl.when(pl.col("n_names") >= MIN_NAMES_FOR_IC).then(pl.col("rank_ic")).otherwise(None).alias("rank_ic")
        )
        .sort("as_of_date")
    )


def ic_summary(ics: Sequence[float | None]) -> dict[str, float]:
    """Mean rank IC over dates and its t-stat; NaN when undefined (fewer than 2 dates, zero dispersion)."""
    values = np.asarray([v for v in ics if v is not None and not math.isnan(v)], dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    tstat = mean / (std / math.sqrt(n)) if n > 1 and std > 0 else math.nan
    return {"rank_ic_mean": mean, "rank_ic_std": std, "rank_ic_tstat": tstat, "rank_ic_months": float(n)}


def evaluate(frame: pl.DataFrame, *, label: str = "label") -> dict[str, float]:
    """All metrics of a frame with as_of_date, ``label`` and pred_p10/p50/p90 (rows with a label only)."""
    scored = frame.filter(pl.col(label).is_not_null())
    if scored.is_empty():
        return {"n_rows": 0.0}
    y = scored.get_column(label).to_numpy()
    preds = scored.select(PREDICTION_COLUMNS).to_numpy()
    ic = monthly_rank_ic(scored, label=label)
    lo, mid, hi = preds[:, 0], preds[:, 1], preds[:, 2]
    return {
        "n_rows": float(len(y)),
        **quantile_losses(y, preds),
        **ic_summary(ic.get_column("rank_ic").to_list()),
        "hit_rate": float(np.mean(np.sign(mid) == np.sign(y))),
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "coverage_error": float(np.mean((y >= lo) & (y <= hi)) - NOMINAL_COVERAGE),
    }


def monthly_performance(frame: pl.DataFrame, *, label: str = "label") -> pl.DataFrame:
    """Per as_of_date: names, rank IC, hit rate, coverage and mean pinball loss."""
    scored = frame.filter(pl.col(label).is_not_null())
    pinball = [
        pl.max_horizontal(a * (pl.col(label) - pl.col(c)), (a - 1) * (pl.col(label) - pl.col(c))).mean()
        for a, c in zip(QUANTILES, PREDICTION_COLUMNS, strict=True)
    ]
    stats = scored.group_by("as_of_date").agg(
        (pl.col("pred_p50").sign() == pl.col(label).sign()).mean().alias("hit_rate"),
        pl.col(label).is_between(pl.col("pred_p10"), pl.col("pred_p90")).mean().alias("coverage"),
        (pl.sum_horizontal(pinball) / len(pinball)).alias("pinball_mean"),
    )
    return monthly_rank_ic(scored, label=label).join(stats, on="as_of_date", how="left").sort("as_of_date")


def prefixed(metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    """MLflow-ready: finite values only, keys under ``prefix``."""
    return {f"{prefix}{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
