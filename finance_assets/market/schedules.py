"""When market data runs: every weekday morning, the month holding the session that just closed."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from finance_assets.core.automation import TIMEZONE, schedule_status
from finance_assets.core.names import PRICES_DAILY
from finance_assets.core.partitions import prices_partitions
from finance_assets.core.settings import Settings

prices_job = dg.define_asset_job("bronze_prices", selection=dg.AssetSelection.assets(PRICES_DAILY))


def build_market_automation(settings: Settings) -> dg.Definitions:
    @dg.schedule(
        name="ingest_prices_daily",
        job=prices_job,
        cron_schedule="0 6 * * 1-5",
        execution_timezone=TIMEZONE,
        default_status=schedule_status(settings),
        description=(
            "Weekdays at 06:00: re-loads the month holding the previous day's session (universe + ^GSPC), "
            "an idempotent overwrite of that month's bars."
        ),
    )
    def prices_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # the month of "a day ago": on the 1st it is the month that just ended, so its last session lands
        a_day_ago = context.scheduled_execution_time - timedelta(days=1)
        key = prices_partitions.get_partition_key_for_timestamp(a_day_ago.timestamp())
        run_key = f"{key}@{context.scheduled_execution_time.date().isoformat()}"  # once per day, not per month
        return dg.RunRequest(run_key=run_key, partition_key=key)

    return dg.Definitions(jobs=[prices_job], schedules=[prices_daily])
