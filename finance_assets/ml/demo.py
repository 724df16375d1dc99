"""The ML stage of ``make demo``: what to materialize after the features, in order.

The model is trained on labels known a year before the recorded prices end, so the year after it is
out of sample: ``ml/predictions`` covers it and ``ml/prediction_performance`` scores it as the live
months it would have been. (Trained on everything, every past prediction would be in sample and the
performance asset would have nothing honest to show.)
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from finance_assets.core.settings import Settings
from finance_assets.ml.spec import N_TRIALS

DEMO_TRIALS = N_TRIALS  # the README's budget: the demo shows what a user's default run does
OUT_OF_SAMPLE_DAYS = 365


def demo_runs(settings: Settings, last_price_date: date) -> list[tuple[str, dict[str, Any]]]:
    """(job, launch options: label, run_config, partition_range) of the ML stage, in order."""
    cutoff = last_price_date - timedelta(days=OUT_OF_SAMPLE_DAYS)
    first_month = cutoff.replace(day=1).isoformat()
    last_month = last_price_date.replace(day=1).isoformat()
    model_config = {"n_trials": DEMO_TRIALS, "timeout_seconds": 300.0, "cutoff_date": cutoff.isoformat()}
    return [
        (
            "ml_retrain",
            {
                "label": "ml/training_set, ml/return_model",
                "run_config": {"ops": {"ml__return_model": {"config": model_config}}},
            },
        ),
        ("ml_backtest", {"label": "ml/backtest (real vs placebo)"}),
        ("ml_predictions", {"label": "ml/predictions", "partition_range": (first_month, last_month)}),
        ("ml_online_predictions", {"label": "ml/online_predictions (Feast online store)"}),
        ("ml_performance", {"label": "ml/prediction_performance"}),
    ]
