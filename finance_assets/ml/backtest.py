"""An honest backtest of the return model: out-of-sample predictions only, and a placebo beside them.

Protocol (no Dagster or MLflow here; :mod:`.assets` wires it):

1. **Walk-forward predictions.** The month ends are cut into consecutive blocks of ``refit_months``
   after ``min_train_months`` of history. For each block a model with the given parameters is fitted on
   every row whose label was KNOWN before the block starts (the embargo of :mod:`.splits`: a row whose
   21-session label window reaches the block never trains) and predicts the block. Every prediction is
   therefore out of sample; none comes from a model that saw its label.
2. **Portfolios.** Each month, equal-weighted long the top ``n_quantiles``-ile of predicted p50 and short
   the bottom one. A row's return is its realised excess simple return over the horizon,
   ``exp(label) - 1`` (the label is the forward excess log return over ^GSPC; the benchmark leg cancels
   in a long-short book). Month-end to month-end is ~21 sessions, the label horizon, so months do not
   overlap.
3. **Costs.** Turnover is the sum of absolute weight changes (long leg +1, short leg -1: a book built
   from cash trades 2.0, replacing both legs entirely trades 4.0); each unit traded costs ``cost_bps``.
4. **Placebo.** The same protocol on labels shuffled across tickers within each month (the
   cross-section's distribution kept, its link to the features destroyed). Its IC must sit within noise
   of zero; if it does not, the protocol leaks.

Uncertainty: the IC's t-stat (mean / standard error over months), and the Sharpe ratio's standard error
(Lo 2002, i.i.d. months: sqrt((1 + SR^2 / 2) / n) per month, scaled by sqrt(12)). No skill threshold
is asserted anywhere: a weak model shows as a weak, honest number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from finance_assets.ml import metrics, model
from finance_assets.ml.spec import PREDICTION_COLUMNS
from finance_assets.ml.splits import embargoed_split

MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class BacktestConfig:
    min_train_months: int = 24
    refit_months: int = 6
    n_quantiles: int = 5
    cost_bps: float = 10.0
    seed: int = 42


@dataclass(frozen=True)
class BacktestResult:
    predictions: pl.DataFrame  # ticker, as_of_date, label, pred_p10/p50/p90, fitted_through
    monthly: pl.DataFrame  # per month: IC, long/short/long-short returns, turnover, net return
    summary: dict[str, float]


def walk_forward_predictions(
    frame: pl.DataFrame, features: list[str], params: Mapping[str, Any], config: BacktestConfig
) -> pl.DataFrame:
    """Out-of-sample p10/p50/p90 for every month after ``min_train_months`` (see the module docstring).

    ``frame``: ticker, as_of_date, label, label_end and the features, labelled rows only; an
    ``excess_return`` column (the realised return when ``label`` is a transformed target, e.g. a sector
    rank) travels with the predictions.
    """
    rows = frame.filter(pl.col("label").is_not_null() & pl.col("label_end").is_not_null()).sort("as_of_date", "ticker")
    months = sorted(rows["as_of_date"].unique().to_list())
    if len(months) <= config.min_train_months:
        raise ValueError(
            f"{len(months)} month ends cannot hold {config.min_train_months} training months and a test month"
        )
    dates, ends = rows["as_of_date"].to_list(), rows["label_end"].to_list()
    x_all = rows.select(pl.col(features).cast(pl.Float64)).to_numpy()
    y_all = rows["label"].to_numpy()
    parts = []
    for first in range(config.min_train_months, len(months), config.refit_months):
        block = months[first : first + config.refit_months]
        train, test, _ = embargoed_split(dates, ends, block[0], block[-1])
        if not len(train) or not len(test):
            continue
        booster = model.fit(x_all[train], y_all[train], params, seed=config.seed)
        preds = model.predict(booster, x_all[test])
        carried = ["excess_return"] if "excess_return" in rows.columns else []
        parts.append(
            rows[test]
            .select("ticker", "as_of_date", "label", *carried)
            .with_columns(
                *[pl.Series(name, preds[:, i]) for i, name in enumerate(PREDICTION_COLUMNS)],
                pl.lit(max(ends[i] for i in train)).alias("fitted_through"),
            )
        )
    return pl.concat(parts)


def shuffled_labels(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The placebo: labels (with ``excess_return``) permuted across tickers within each month
    (``label_end``, a property of the date, stays: the embargo is the real run's)."""
    rng = np.random.default_rng(seed)
    parts = []
    for _, month in frame.sort("as_of_date", "ticker").group_by("as_of_date", maintain_order=True):
        order = rng.permutation(month.height)
        moved = [c for c in ("label", "excess_return") if c in month.columns]  # a row's target and its return
        parts.append(month.with_columns([pl.Series(c, month[c].to_numpy()[order]) for c in moved]))
    return pl.concat(parts)


def long_short(predictions: pl.DataFrame, config: BacktestConfig) -> pl.DataFrame:
    """Per month: names, rank IC, long/short leg and long-short returns, turnover, net return."""
    scored = predictions.filter(pl.col("label").is_not_null() & pl.col("pred_p50").is_not_null())
    realised = pl.col("excess_return") if "excess_return" in scored.columns else pl.col("label")
    bucket = (
        (pl.col("pred_p50").rank("ordinal").over("as_of_date") - 1) * config.n_quantiles // pl.len().over("as_of_date")
    ).alias("bucket")
    top = config.n_quantiles - 1
    legs = scored.with_columns(bucket, (realised.exp() - 1).alias("period_return")).with_columns(
        pl.when(pl.col("bucket") == top)
        .then(1.0 / (pl.col("bucket") == top).sum().over("as_of_date"))
        .when(pl.col("bucket") == 0)
        .then(-1.0 / (pl.col("bucket") == 0).sum().over("as_of_date"))
        .otherwise(0.0)
        .alias("weight")
    )
    months = sorted(legs["as_of_date"].unique().to_list())
    weights = legs.filter(pl.col("weight") != 0).select("as_of_date", "ticker", "weight")
    turnover = []
    previous: dict[str, float] = {}
    for month in months:
        current = dict(weights.filter(pl.col("as_of_date") == month).select("ticker", "weight").iter_rows())
        names = previous.keys() | current.keys()
        turnover.append(sum(abs(current.get(n, 0.0) - previous.get(n, 0.0)) for n in names))
        previous = current
    per_month = (
        legs.group_by("as_of_date")
        .agg(
            pl.len().alias("n_names"),
            pl.col("period_return").filter(pl.col("bucket") == top).mean().alias("long_return"),
            pl.col("period_return").filter(pl.col("bucket") == 0).mean().alias("short_return"),
            (pl.col("weight") * pl.col("period_return")).sum().alias("long_short_return"),
        )
        .sort("as_of_date")
        .with_columns(pl.Series("turnover", turnover))
        .with_columns(
            (pl.col("long_short_return") - pl.col("turnover") * config.cost_bps / 1e4).alias("long_short_return_net")
        )
    )
    ic = metrics.monthly_rank_ic(scored).select("as_of_date", "rank_ic")
    return per_month.join(ic, on="as_of_date", how="left").sort("as_of_date")


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough fall of the compounded series (<= 0; 0 when it never falls)."""
    if not len(returns):
        return math.nan
    wealth = np.cumprod(1.0 + returns)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return float(np.min(wealth / peaks - 1.0).clip(max=0.0))


def performance(returns: np.ndarray) -> dict[str, float]:
    """Annualised return, volatility, Sharpe with its standard error, hit rate and max drawdown."""
    n = len(returns)
    if n < 2:
        return {"months": float(n)}
    mean, std = float(np.mean(returns)), float(np.std(returns, ddof=1))
    sharpe_monthly = mean / std if std > 0 else math.nan
    return {
        "months": float(n),
        "annual_return": mean * MONTHS_PER_YEAR,
        "annual_vol": std * math.sqrt(MONTHS_PER_YEAR),
        "sharpe": sharpe_monthly * math.sqrt(MONTHS_PER_YEAR),
        "sharpe_se": math.sqrt((1 + sharpe_monthly**2 / 2) / n) * math.sqrt(MONTHS_PER_YEAR),
        "hit_rate_months": float(np.mean(returns > 0)),
        "max_drawdown": max_drawdown(returns),
    }


def _number(value: object) -> float:
    """A polars aggregate as a float; NaN when there was nothing to aggregate (0 stays 0)."""
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def summarize(predictions: pl.DataFrame, monthly: pl.DataFrame) -> dict[str, float]:
    """Every backtest number (flat, MLflow-ready names): IC and its t-stat, gross and net portfolio stats."""
    ic = metrics.ic_summary(monthly["rank_ic"].to_list())
    gross = performance(monthly["long_short_return"].to_numpy())
    net = performance(monthly["long_short_return_net"].to_numpy())
    scored = predictions.filter(pl.col("label").is_not_null())
    return {
        **ic,
        "rank_ic_se": ic["rank_ic_std"] / math.sqrt(ic["rank_ic_months"]) if ic["rank_ic_months"] > 1 else math.nan,
        "hit_rate": _number((scored["pred_p50"].sign() == scored["label"].sign()).mean()),
        "names_per_month": _number(monthly["n_names"].mean()),
        # after the first month (built from cash, 2.0 by construction)
        "turnover_mean": _number(monthly["turnover"].tail(max(monthly.height - 1, 0)).mean()),
        **{f"gross_{k}": v for k, v in gross.items()},
        **{f"net_{k}": v for k, v in net.items() if k != "months"},
    }


def run(
    frame: pl.DataFrame, features: list[str], params: Mapping[str, Any], config: BacktestConfig, *, placebo: bool
) -> BacktestResult:
    """The backtest of ``params`` on ``frame`` (labels shuffled within months when ``placebo``)."""
    labelled = frame.filter(pl.col("label").is_not_null() & pl.col("label_end").is_not_null())
    rows = shuffled_labels(labelled, config.seed) if placebo else labelled
    predictions = walk_forward_predictions(rows, features, params, config)
    monthly = long_short(predictions, config)
    return BacktestResult(predictions, monthly, summarize(predictions, monthly))


def comparison_table(real: Mapping[str, float], placebo: Mapping[str, float]) -> pl.DataFrame:
    """Real vs placebo, one row per statistic (the table the model card and the closing note show)."""
    keys = [
        "rank_ic_mean",
        "rank_ic_se",
        "rank_ic_tstat",
        "rank_ic_months",
        "hit_rate",
        "gross_annual_return",
        "gross_annual_vol",
        "gross_sharpe",
        "gross_sharpe_se",
        "gross_max_drawdown",
        "gross_hit_rate_months",
        "turnover_mean",
        "net_annual_return",
        "net_sharpe",
        "net_max_drawdown",
        "names_per_month",
    ]
    return pl.DataFrame(
        {
            "statistic": keys,
            "real": [real.get(k, math.nan) for k in keys],
            "placebo": [placebo.get(k, math.nan) for k in keys],
        }
    )
