"""When FMP Bronze runs: daily for every registered company, only where it can (a key, or replay)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from finance_assets.core.automation import TIMEZONE, schedule_status
from finance_assets.core.settings import Settings
from finance_assets.edgar.schedules import company_range_requests
from finance_assets.fmp.assets import FMP_ASSET_KEYS
from finance_assets.fmp.resources import FmpResource

FMP_KEYS = tuple(dg.AssetKey.from_user_string(k) for k in FMP_ASSET_KEYS)
fmp_companies_job = dg.define_asset_job("bronze_fmp_companies", selection=dg.AssetSelection.assets(*FMP_KEYS))


def build_fmp_automation(settings: Settings) -> dg.Definitions:
    @dg.schedule(
        name="ingest_fmp_daily",
        job=fmp_companies_job,
        cron_schedule="45 5 * * *",
        execution_timezone=TIMEZONE,
        default_status=schedule_status(settings),
        description="FMP fundamentals for every company partition (skipped without FMP_API_KEY outside replay).",
    )
    def fmp_daily(context: dg.ScheduleEvaluationContext, fmp: FmpResource) -> Iterator[dg.RunRequest | dg.SkipReason]:
        if not fmp.available:
            yield dg.SkipReason("FMP_API_KEY is not set: the FMP assets would fail without it")
            return
        yield from company_range_requests(context, FMP_KEYS, "fmp")

    return dg.Definitions(jobs=[fmp_companies_job], schedules=[fmp_daily])
