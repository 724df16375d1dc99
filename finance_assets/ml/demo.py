"""The ML stage of ``make demo``: what to materialize after the features, in order.

The model is trained on labels known a year before **the cross-section ends**, so that year is out of
sample: ``ml/predictions`` covers it (and every month after, up to the last price) and
``ml/prediction_performance`` scores it as the live months it would have been. (Trained on everything,
every past prediction would be in sample and the performance asset would have nothing honest to show.)

The cross-section ends at the last month in which at least half of the tickers still have prices, not at
the last price of any ticker: the recorded S&P 500 histories end in January 2020 while a few tickers run
to 2023, and a hold-out year of those few names would score the model on 17 tickers instead of ~470.
Live, every ticker has yesterday's price and the two dates coincide.

The demo runs a smaller budget than a scheduled retrain (``DEMO_TRIALS`` trials, backtest refits every
``DEMO_BACKTEST_REFIT_MONTHS`` months; :mod:`.spec`), stated in the README and docs/ml.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from finance_assets.ml.spec import DEMO_BACKTEST_REFIT_MONTHS, DEMO_TRIALS

OUT_OF_SAMPLE_DAYS = 365
CROSS_SECTION_SHARE = 0.5


def cross_section_end(prices: pl.DataFrame, share: float = CROSS_SECTION_SHARE) -> date:
    """The last price date of the last month in which at least ``share`` of the tickers have a price.

    ``prices``: a ``ticker`` and a ``date`` column (daily bars). The widest month counts as everyone.
    """
    if prices.is_empty():
        raise ValueError("no prices: load bronze/prices_daily before the ML stage")
    months = (
        prices.select("ticker", pl.col("date").cast(pl.Date))
        .group_by(pl.col("date").dt.truncate("1mo").alias("month"))
        .agg(pl.col("ticker").n_unique().alias("tickers"), pl.col("date").max().alias("last"))
        .sort("month")
    )
    wide = months.filter(pl.col("tickers") >= share * months["tickers"].max())
    return wide["last"].max()  # type: ignore[return-value]


def demo_runs(cross_section_last: date, last_price_date: date | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(job, launch options: label, run_config, partition_range) of the ML stage, in order.

    ``cross_section_last``: :func:`cross_section_end`; the training cutoff is a year before it.
    ``last_price_date``: the last price of any ticker (default: the cross-section's end); the predictions
    run from the cutoff to its month.
    """
    cutoff = cross_section_last - timedelta(days=OUT_OF_SAMPLE_DAYS)
    first_month = cutoff.replace(day=1).isoformat()
    last_month = (last_price_date or cross_section_last).replace(day=1).isoformat()
    model_config = {"n_trials": DEMO_TRIALS, "timeout_seconds": 300.0, "cutoff_date": cutoff.isoformat()}
    backtest_config = {"refit_months": DEMO_BACKTEST_REFIT_MONTHS}
    return [
        (
            "ml_retrain",
            {
                "label": "ml/training_set, ml/return_model",
                "run_config": {"ops": {"ml__return_model": {"config": model_config}}},
            },
        ),
        (
            "ml_backtest",
            {
                "label": "ml/backtest (real vs placebo)",
                "run_config": {"ops": {"ml__backtest": {"config": backtest_config}}},
            },
        ),
        ("ml_predictions", {"label": "ml/predictions", "partition_range": (first_month, last_month)}),
        ("ml_online_predictions", {"label": "ml/online_predictions (Feast online store)"}),
        ("ml_performance", {"label": "ml/prediction_performance"}),
    ]


def _latest_metadata(instance: Any, key: Any) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    return {k: getattr(v, "value", v) for k, v in (materialization.metadata if materialization else {}).items()}


def _ic(stats: dict[str, Any]) -> str:
    mean, tstat = stats.get("rank_ic_mean"), stats.get("rank_ic_tstat")
    if mean is None:
        return "n/a"
    return f"{mean:+.3f} (t {tstat:+.2f})" if tstat is not None else f"{mean:+.3f}"


def closing_lines(instance: Any) -> list[str]:
    """The model's result for the demo's summary: the hold-out IC with its t-stat, the backtest beside its placebo.

    Read from the latest materializations of ``ml/return_model`` and ``ml/backtest`` (what the UI shows); no
    line when the model was not trained.
    """
    from finance_assets.core import names

    model = _latest_metadata(instance, names.RETURN_MODEL)
    if not model:
        return []
    holdout = model.get("holdout/challenger") or {}
    lines = [
        f"model: {model.get('model/name', 'return_model')} v{model.get('model/version')} "
        f"({model.get('model/decision')}; {model.get('universe/tickers')} tickers, trained to "
        f"{model.get('training/cutoff')}): hold-out rank IC {_ic(holdout)} from {model.get('holdout/start')}"
    ]
    backtest = _latest_metadata(instance, names.BACKTEST)
    if backtest:
        real = {k.removeprefix("backtest/"): v for k, v in backtest.items() if k.startswith("backtest/")}
        placebo = {k.removeprefix("placebo/"): v for k, v in backtest.items() if k.startswith("placebo/")}

        def pair(stat: str, fmt: str) -> str:
            values = [s.get(stat) for s in (real, placebo)]
            return " / ".join(format(v, fmt) if isinstance(v, int | float) else "n/a" for v in values)

        lines.append(
            f"backtest (out of sample, real / placebo): rank IC {_ic(real)} / {_ic(placebo)}; "
            f"net Sharpe {pair('net_sharpe', '+.2f')}; net annual return {pair('net_annual_return', '+.1%')}; "
            f"max drawdown {pair('net_max_drawdown', '.1%')}"
        )
    return lines
