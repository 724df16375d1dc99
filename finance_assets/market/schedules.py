"""When market data runs: the weekday price partition that just closed."""

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
        description="The weekday price partition that just closed (Friday's on Monday), universe + ^GSPC.",
    )
    def prices_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # weekday windows last >= 1 day and the schedule fires at 06:00: the window holding "a day ago" is
        # the last complete one (Friday's window runs to Monday 00:00)
        a_day_ago = context.scheduled_execution_time - timedelta(days=1)
        key = prices_partitions.get_partition_key_for_timestamp(a_day_ago.timestamp())
        return dg.RunRequest(run_key=key, partition_key=key)

    return dg.Definitions(jobs=[prices_job], schedules=[prices_daily])
