"""When 13F Bronze runs: every registered manager's filing index daily, then each new filing as it appears.

Managers file 13F-HR reports within 45 days of each quarter end (and amendments at any time), so the
filing index of every ``thirteenf_managers`` partition is re-read daily; discovery registers new filings as
``thirteenf_filings`` partitions and the sensor loads the ones that have never been materialised, in
backfill-sized ranges. Both are STOPPED unless ``LAKEHOUSE_AUTOMATION=on`` (see ``core/automation.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from finance_assets.core.automation import TIMEZONE, schedule_status, sensor_status
from finance_assets.core.partitions import partition_ranges, range_tags
from finance_assets.core.settings import Settings
from finance_assets.edgar.holdings_assets import (
    COVER_PAGES_KEY,
    FILINGS_KEY,
    FILINGS_PER_RUN,
    HOLDINGS_KEY,
    thirteenf_filings_partitions,
    thirteenf_managers,
)

thirteenf_managers_job = dg.define_asset_job("bronze_13f_managers", selection=dg.AssetSelection.assets(FILINGS_KEY))
thirteenf_filings_job = dg.define_asset_job(
    "bronze_13f_filings", selection=dg.AssetSelection.assets(COVER_PAGES_KEY, HOLDINGS_KEY)
)


def _range_request(first: str, last: str, run_key: str) -> dg.RunRequest:
    if first == last:
        return dg.RunRequest(run_key=run_key, partition_key=first)
    return dg.RunRequest(run_key=run_key, tags=range_tags(first, last))


def manager_requests(instance: dg.DagsterInstance, day: str) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """Every registered manager's filing index, up to ``FILINGS_PER_RUN`` managers per run."""
    managers = instance.get_dynamic_partitions(thirteenf_managers.name)
    if not managers:
        yield dg.SkipReason("no 13F manager partition: add one (its 10-digit CIK) to bronze/edgar_13f_filings")
        return
    for first, last in partition_ranges(managers, managers, FILINGS_PER_RUN):
        yield _range_request(first, last, f"13f-managers-{first}..{last}-{day}")


def new_filing_requests(instance: dg.DagsterInstance) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """The registered filings never materialised, in ranges; a run key per range, so each is launched once."""
    order = instance.get_dynamic_partitions(thirteenf_filings_partitions.name)
    done = instance.get_materialized_partitions(COVER_PAGES_KEY)
    new = [key for key in order if key not in done]
    if not new:
        yield dg.SkipReason("every registered 13F filing is loaded")
        return
    for first, last in partition_ranges(order, new, FILINGS_PER_RUN):
        yield _range_request(first, last, f"13f-filings-{first}..{last}")


def build_holdings_automation(settings: Settings) -> dg.Definitions:
    @dg.schedule(
        name="ingest_13f_managers_daily",
        job=thirteenf_managers_job,
        cron_schedule="0 6 * * *",
        execution_timezone=TIMEZONE,
        default_status=schedule_status(settings),
        description="Every 13F manager's EDGAR filing index (registers new 13F-HR filings).",
    )
    def managers_daily(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        yield from manager_requests(context.instance, context.scheduled_execution_time.date().isoformat())

    @dg.sensor(
        name="load_new_13f_filings",
        job=thirteenf_filings_job,
        minimum_interval_seconds=600,
        default_status=sensor_status(settings),
        description="Cover page and information table of every 13F filing registered but never loaded.",
    )
    def new_filings(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        yield from new_filing_requests(context.instance)

    return dg.Definitions(
        jobs=[thirteenf_managers_job, thirteenf_filings_job], schedules=[managers_daily], sensors=[new_filings]
    )
