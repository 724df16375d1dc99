"""When SEC EDGAR Bronze runs: the ticker map daily, then every registered company in backfill-sized ranges."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from finance_assets.core.automation import TIMEZONE, schedule_status
from finance_assets.core.names import EDGAR_COMPANY_FACTS, EDGAR_FILINGS, SEC_COMPANY_TICKERS
from finance_assets.core.partitions import companies_partitions, company_runs, range_tags
from finance_assets.core.settings import Settings

EDGAR_COMPANY_KEYS = (EDGAR_FILINGS, EDGAR_COMPANY_FACTS)

tickers_job = dg.define_asset_job("bronze_reference", selection=dg.AssetSelection.assets(SEC_COMPANY_TICKERS))
edgar_companies_job = dg.define_asset_job(
    "bronze_edgar_companies", selection=dg.AssetSelection.assets(*EDGAR_COMPANY_KEYS)
)


def company_range_requests(
    context: dg.ScheduleEvaluationContext, keys: tuple[dg.AssetKey, ...], prefix: str
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """Every registered company in runs of up to ``COMPANIES_PER_RUN``, as a backfill launches them."""
    tickers = context.instance.get_dynamic_partitions(companies_partitions.name)
    if not tickers:
        yield dg.SkipReason("no company partition yet: bronze/sec_company_tickers registers them")
        return
    day = context.scheduled_execution_time.date().isoformat()
    for first, last in company_runs(context.instance, tickers):
        if first == last:
            yield dg.RunRequest(run_key=f"{prefix}-{first}-{day}", partition_key=first, asset_selection=list(keys))
        else:
            yield dg.RunRequest(
                run_key=f"{prefix}-{first}..{last}-{day}", tags=range_tags(first, last), asset_selection=list(keys)
            )


def build_edgar_automation(settings: Settings) -> dg.Definitions:
    status = schedule_status(settings)
    tickers_daily = dg.ScheduleDefinition(
        name="ingest_reference_daily",
        job=tickers_job,
        cron_schedule="0 5 * * *",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="SEC's ticker list (registers the company partitions of UNIVERSE).",
    )

    @dg.schedule(
        name="ingest_companies_daily",
        job=edgar_companies_job,
        cron_schedule="30 5 * * *",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="EDGAR filings and facts for every company partition, in backfill-sized ranges.",
    )
    def companies_daily(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        yield from company_range_requests(context, EDGAR_COMPANY_KEYS, "edgar")

    return dg.Definitions(jobs=[tickers_job, edgar_companies_job], schedules=[tickers_daily, companies_daily])
