"""When things run: daily ingestion, Gold and features following their inputs, weekly and decay-triggered
retraining, month-end predictions.

Everything is OFF unless ``LAKEHOUSE_AUTOMATION=on`` (read through the settings; ``make dev`` turns it on):
schedules and sensors are created STOPPED, so tests and a fresh instance launch nothing by themselves.

- Bronze: three daily schedules, one per partitioning (one asset job cannot mix partitions definitions):
  the SEC ticker list, every registered company partition (EDGAR, FMP when a key or replay is set) and the
  latest weekday price partition.
- Silver, Gold and the feature tables: an automation condition, :data:`FOLLOW_INPUTS` (``eager()`` without
  "every upstream partition exists": one missing weekday or a company SEC does not know must not freeze
  the whole lake), on every asset of those groups that does not set its own.
- Model: retrained weekly, and when the decay sensor sees the rolling rank IC or interval coverage of
  ``ml/prediction_performance`` fall under ``RETRAIN_MIN_RANK_IC`` / ``RETRAIN_MIN_COVERAGE``.
- Predictions: the month's partition on the 5th (the month-end bar is a weekday partition that completes
  the next weekday, then Gold follows); ``prediction_performance`` follows its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from finance_assets.core.settings import Settings, get_settings
from finance_assets.ml.assets import (
    PERFORMANCE_KEY,
    PREDICTIONS_KEY,
    RETURN_MODEL_KEY,
    TRAINING_SET_KEY,
    predictions_partitions,
)

FOLLOW_INPUTS = (
    dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()).with_label("follow_inputs")
)
FOLLOW_GROUPS = ("silver", "gold", "features")
TIMEZONE = "America/New_York"

PRICES_KEY = dg.AssetKey(["bronze", "prices_daily"])
TICKERS_KEY = dg.AssetKey(["bronze", "sec_company_tickers"])
EDGAR_KEYS = (dg.AssetKey(["bronze", "edgar_filings"]), dg.AssetKey(["bronze", "edgar_company_facts"]))


def schedule_status(settings: Settings | None = None) -> dg.DefaultScheduleStatus:
    on = (settings or get_settings()).automation
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


def sensor_status(settings: Settings | None = None) -> dg.DefaultSensorStatus:
    on = (settings or get_settings()).automation
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def with_default_automation(assets: Sequence[Any], groups: Sequence[str] = FOLLOW_GROUPS) -> list[Any]:
    """:data:`FOLLOW_INPUTS` on every asset of ``groups`` that has no automation condition of its own."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.group_name in groups and spec.automation_condition is None:
            return spec.replace_attributes(automation_condition=FOLLOW_INPUTS)
        return spec

    return list(dg.map_asset_specs(apply, assets))


# ---- jobs ----------------------------------------------------------------------------------------------------
retrain_job = dg.define_asset_job(
    "ml_retrain",
    selection=dg.AssetSelection.assets(TRAINING_SET_KEY, RETURN_MODEL_KEY),
    description="Rebuild the training set from the latest Gold/Feast state and retrain (champion gate applies).",
)
predictions_job = dg.define_asset_job(
    "ml_predictions", selection=dg.AssetSelection.assets(PREDICTIONS_KEY), partitions_def=predictions_partitions
)
tickers_job = dg.define_asset_job("bronze_reference", selection=dg.AssetSelection.assets(TICKERS_KEY))
prices_job = dg.define_asset_job("bronze_prices", selection=dg.AssetSelection.assets(PRICES_KEY))
companies_job = dg.define_asset_job(
    "bronze_companies",
    selection=dg.AssetSelection.groups("bronze") - dg.AssetSelection.assets(TICKERS_KEY, PRICES_KEY),
)


def build_automation(settings: Settings | None = None) -> dg.Definitions:
    """Jobs, schedules and sensors, RUNNING only when the settings switch automation on."""
    settings = settings or get_settings()
    schedules_on, sensors_on = schedule_status(settings), sensor_status(settings)

    tickers_daily = dg.ScheduleDefinition(
        name="ingest_reference_daily",
        job=tickers_job,
        cron_schedule="0 5 * * *",
        execution_timezone=TIMEZONE,
        default_status=schedules_on,
        description="SEC's ticker list (registers the company partitions of UNIVERSE).",
    )

    @dg.schedule(
        name="ingest_prices_daily",
        job=prices_job,
        cron_schedule="0 6 * * 1-5",
        default_status=schedules_on,
        description="The weekday price partition that just closed (Friday's on Monday), universe + ^GSPC.",
    )
    def prices_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        from finance_assets.core.partitions import prices_partitions

        # weekday windows last >= 1 day and the schedule fires at 06:00: the window holding "a day ago" is
        # the last complete one (Friday's window runs to Monday 00:00)
        a_day_ago = context.scheduled_execution_time - timedelta(days=1)
        key = prices_partitions.get_partition_key_for_timestamp(a_day_ago.timestamp())
        return dg.RunRequest(run_key=key, partition_key=key)

    @dg.schedule(
        name="ingest_companies_daily",
        job=companies_job,
        cron_schedule="30 5 * * *",
        execution_timezone=TIMEZONE,
        default_status=schedules_on,
        description="EDGAR filings and facts (and FMP with a key or in replay) for every company partition.",
    )
    def companies_daily(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        from finance_assets.core.partitions import companies_partitions, company_runs, range_tags

        current = get_settings()
        tickers = context.instance.get_dynamic_partitions(companies_partitions.name)
        if not tickers:
            yield dg.SkipReason("no company partition yet: bronze/sec_company_tickers registers them")
            return
        keys = list(EDGAR_KEYS)
        if current.replay or current.fmp_api_key:
            from finance_assets.bronze.fmp.assets import FMP_ASSET_KEYS

            keys += [dg.AssetKey.from_user_string(k) for k in FMP_ASSET_KEYS]
        day = context.scheduled_execution_time.date().isoformat()
        for first, last in company_runs(context.instance, tickers):  # as a backfill: up to 100 per run
            if first == last:
                yield dg.RunRequest(run_key=f"{first}-{day}", partition_key=first, asset_selection=keys)
            else:
                yield dg.RunRequest(
                    run_key=f"{first}..{last}-{day}", tags=range_tags(first, last), asset_selection=keys
                )

    weekly_retrain = dg.ScheduleDefinition(
        name="ml_retrain_weekly",
        job=retrain_job,
        cron_schedule="0 7 * * 6",
        execution_timezone=TIMEZONE,
        default_status=schedules_on,
        description="Retrain every Saturday: Optuna resumes the study when the data did not change.",
    )
    monthly_predictions = dg.build_schedule_from_partitioned_job(
        predictions_job,
        name="ml_predictions_monthly",
        day_of_month=5,
        hour_of_day=9,
        default_status=schedules_on,
        description="The previous month's predictions, once its last session's bar and Gold are in.",
    )

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
        current = get_settings()
        reasons = decay_reasons(_metadata(asset_event), current)
        if not reasons:
            return dg.SkipReason("live performance within thresholds")
        return dg.RunRequest(
            run_key=f"decay-{asset_event.run_id}-{int(asset_event.timestamp)}",  # once per evaluation
            tags={"lakehouse/trigger": "performance_decay", "lakehouse/reason": "; ".join(reasons)[:200]},
        )

    automation_sensor = dg.AutomationConditionSensorDefinition(
        "lakehouse_automation",
        target=dg.AssetSelection.groups(*FOLLOW_GROUPS) | dg.AssetSelection.assets(PERFORMANCE_KEY),
        default_status=sensors_on,
        description="Silver, Gold, features and live performance follow their inputs (automation conditions).",
    )
    return dg.Definitions(
        jobs=[retrain_job, predictions_job, tickers_job, prices_job, companies_job],
        schedules=[tickers_daily, prices_daily, companies_daily, weekly_retrain, monthly_predictions],
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
