"""When the model runs: weekly and decay-triggered retraining, month-end predictions.

Off unless ``LAKEHOUSE_AUTOMATION=on`` (see :mod:`finance_assets.core.automation`).

- Model: retrained weekly, and when the decay sensor sees the rolling rank IC or interval coverage of
  ``ml/prediction_performance`` fall under ``RETRAIN_MIN_RANK_IC`` / ``RETRAIN_MIN_COVERAGE``.
- Predictions: the month's partition on the 5th (the month-end bar is a weekday partition that completes
  the next weekday, then Gold follows); ``prediction_performance`` follows its inputs.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import dagster as dg

from finance_assets.core.automation import TIMEZONE, follow_inputs_sensor, schedule_status, sensor_status
from finance_assets.core.settings import Settings
from finance_assets.ml.assets import (
    BACKTEST_KEY,
    ONLINE_PREDICTIONS_KEY,
    PERFORMANCE_KEY,
    PREDICTIONS_KEY,
    RETURN_MODEL_KEY,
    TRAINING_SET_KEY,
    predictions_partitions,
)

# ---- jobs ----------------------------------------------------------------------------------------------------
retrain_job = dg.define_asset_job(
    "ml_retrain",
    selection=dg.AssetSelection.assets(TRAINING_SET_KEY, RETURN_MODEL_KEY),
    description="Rebuild the training set from the latest Gold/Feast state and retrain (champion gate applies).",
)
backtest_job = dg.define_asset_job(
    "ml_backtest",
    selection=dg.AssetSelection.assets(BACKTEST_KEY),
    description="Backtest the latest trained recipe out of sample, beside its placebo; writes the model card.",
)
predictions_job = dg.define_asset_job("ml_predictions", selection=dg.AssetSelection.assets(PREDICTIONS_KEY))
online_predictions_job = dg.define_asset_job(
    "ml_online_predictions",
    selection=dg.AssetSelection.assets(ONLINE_PREDICTIONS_KEY),
    description="Publish each ticker's latest prediction to the Feast online store (feature server).",
)
performance_job = dg.define_asset_job(
    "ml_performance",
    selection=dg.AssetSelection.assets(PERFORMANCE_KEY),
    description="Score past out-of-sample predictions against the labels that matured since.",
)


def build_automation(settings: Settings) -> dg.Definitions:
    """The ML jobs, schedules and sensors (and the follow-inputs sensor), RUNNING only when switched on."""
    schedules_on, sensors_on = schedule_status(settings), sensor_status(settings)

    weekly_retrain = dg.ScheduleDefinition(
        name="ml_retrain_weekly",
        job=retrain_job,
        cron_schedule="0 7 * * 6",
        execution_timezone=TIMEZONE,
        default_status=schedules_on,
        description="Retrain every Saturday: Optuna resumes the study when the data did not change.",
    )

    # A schedule of its own rather than build_schedule_from_partitioned_job: that one runs in the partitions'
    # time zone (UTC), and every schedule of the lakehouse runs in TIMEZONE.
    @dg.schedule(
        name="ml_predictions_monthly",
        job=predictions_job,
        cron_schedule="0 9 5 * *",
        execution_timezone=TIMEZONE,
        default_status=schedules_on,
        description="The previous month's predictions, once its last session's bar and Gold are in.",
    )
    def monthly_predictions(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        last_month = context.scheduled_execution_time.replace(day=1) - timedelta(days=1)
        key = predictions_partitions.get_partition_key_for_timestamp(last_month.timestamp())
        return dg.RunRequest(run_key=key, partition_key=key)

    @dg.asset_sensor(
        asset_key=PERFORMANCE_KEY,
        name="ml_retrain_on_decay",
        job=retrain_job,
        default_status=sensors_on,
        minimum_interval_seconds=3600,
        description="Retrain when live rank IC or interval coverage decays under the configured thresholds.",
    )
    def retrain_on_decay(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> dg.RunRequest | dg.SkipReason:
        reasons = decay_reasons(_metadata(asset_event), settings)
        if not reasons:
            return dg.SkipReason("live performance within thresholds")
        return dg.RunRequest(
            run_key=f"decay-{asset_event.run_id}-{int(asset_event.timestamp)}",  # once per evaluation
            tags={"lakehouse/trigger": "performance_decay", "lakehouse/reason": "; ".join(reasons)[:200]},
        )

    automation_sensor = follow_inputs_sensor(settings, PERFORMANCE_KEY, ONLINE_PREDICTIONS_KEY)
    return dg.Definitions(
        jobs=[retrain_job, backtest_job, predictions_job, online_predictions_job, performance_job],
        schedules=[weekly_retrain, monthly_predictions],
        sensors=[retrain_on_decay, automation_sensor],
    )


def _metadata(event: dg.EventLogEntry) -> dict[str, Any]:
    materialization = event.asset_materialization
    if materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


MIN_LIVE_MONTHS = 3  # fewer months of matured labels say nothing


def decay_reasons(meta: dict[str, Any], settings: Settings) -> list[str]:
    """Why the live numbers call for retraining (empty: they do not)."""
    months = int(meta.get("live/months") or 0)
    if months < MIN_LIVE_MONTHS:
        return []
    reasons = []
    ic = meta.get("live/rank_ic_rolling")
    if isinstance(ic, int | float) and not math.isnan(ic) and ic < settings.retrain_min_rank_ic:
        reasons.append(f"rank IC {ic:.3f} < {settings.retrain_min_rank_ic} over {months} months")
    coverage = meta.get("live/coverage_rolling")
    if isinstance(coverage, int | float) and not math.isnan(coverage) and coverage < settings.retrain_min_coverage:
        reasons.append(f"p10-p90 coverage {coverage:.2f} < {settings.retrain_min_coverage} over {months} months")
    return reasons
