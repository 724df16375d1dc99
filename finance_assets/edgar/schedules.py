"""When SEC EDGAR Bronze runs: the ticker map daily; the companies that filed (edgar/refresh.py); bulk loads."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from finance_assets.core.automation import TIMEZONE, schedule_status
from finance_assets.core.names import EDGAR_COMPANY_FACTS, EDGAR_FILINGS, SEC_COMPANY_TICKERS
from finance_assets.core.partitions import companies_partitions, company_runs, range_tags
from finance_assets.core.settings import Settings
from finance_assets.edgar.fsds_assets import fsds_job
from finance_assets.edgar.resources import BULK

EDGAR_COMPANY_KEYS = (EDGAR_FILINGS, EDGAR_COMPANY_FACTS)

tickers_job = dg.define_asset_job("bronze_reference", selection=dg.AssetSelection.assets(SEC_COMPANY_TICKERS))
edgar_companies_job = dg.define_asset_job(
    "bronze_edgar_companies", selection=dg.AssetSelection.assets(*EDGAR_COMPANY_KEYS)
)
BULK_LOAD_JOB = "edgar_bulk_load"


def edgar_bulk_load_job(settings: Settings) -> dg.UnresolvedAssetJobDefinition:
    """The same assets, tables and partitions, reading each company from SEC's nightly archives instead of its
    own GETs: the initial load of many companies (docs/sources.md, "Bulk initial load"). The source is the run
    config of the ``edgar_source`` resource, so every run of the job (a backfill's too) carries it."""
    return dg.define_asset_job(
        BULK_LOAD_JOB,
        selection=dg.AssetSelection.assets(*EDGAR_COMPANY_KEYS),
        config={"resources": {"edgar_source": {"config": {"mode": BULK, "bulk_dir": str(settings.bulk_dir)}}}},
        description=(
            "EDGAR filings and XBRL facts of the selected companies from SEC's submissions.zip and companyfacts.zip "
            "(downloaded once, revalidated by every run), into the same Bronze tables as bronze_edgar_companies."
        ),
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

    return dg.Definitions(
        jobs=[tickers_job, edgar_companies_job, edgar_bulk_load_job(settings), fsds_job],
        schedules=[tickers_daily],
    )
