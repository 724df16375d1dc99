"""The daily refresh: ask the per-company API only for the companies that filed since the last refresh.

SEC republishes ``submissions.zip`` every night; each company's ``filings.recent`` lists its latest filings.
``bronze/edgar_changed_companies`` (job ``edgar_daily_refresh``, schedule of the same name) downloads it
through the SEC client (a 304 when SEC has not republished) and lists, for every registered company, the
filings dated on or after the last refresh's ``through`` date that ``bronze.edgar_filings`` does not hold
yet. Those companies, and only those, are refreshed: the sensor ``edgar_refresh_changed`` launches
``bronze_edgar_companies`` over exactly their partitions (contiguous ones share a run, as a backfill would
run them), each run tagged with the companies it refreshes and the detection run that asked for it.

Why a table, an asset and a sensor rather than one job: a Dagster run covers one partition or one range, and
a run that fails fails every partition it planned, so the refresh must target exactly the changed companies
(a run over all of them would mark the unchanged ones failed when one changed company fails). The detection
is an asset so each day's list is kept (``bronze.edgar_changed_companies``, one Iceberg snapshot per day) and
its materialization records which companies it asked to refresh.

"The last refresh": the previous materialization's ``through`` (the newest filing date the archive held);
the first time, the newest ``filing_date`` already in ``bronze.edgar_filings``. A filing already in Bronze is
never a reason to refetch, so overlapping days cost nothing. A company whose refresh failed keeps its failed
partitions (re-run them with re-execute failed, as everywhere).
"""

import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
from pyiceberg.expressions import GreaterThanOrEqual

from finance_assets.core.automation import TIMEZONE, schedule_status, sensor_status
from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.names import EDGAR_CHANGED_COMPANIES, EDGAR_FILINGS, SEC_COMPANY_TICKERS, table_name
from finance_assets.core.partitions import companies_partitions, company_runs, range_tags
from finance_assets.core.resources import LakehouseResource
from finance_assets.core.settings import Settings
from finance_assets.edgar.assets import resolve_ciks
from finance_assets.edgar.bulk import filings_since
from finance_assets.edgar.bulk_step import download
from finance_assets.edgar.columns import CHANGED_COMPANIES_DOCS
from finance_assets.edgar.resources import EdgarSourceResource, SecEdgarResource
from finance_assets.edgar.schedules import EDGAR_COMPANY_KEYS, edgar_companies_job

JOB = "edgar_daily_refresh"
THROUGH = "through"  # metadata: the newest filing date seen, the next refresh's cutoff
CHANGED = "changed_companies"  # metadata: the partitions to refresh (JSON list)
REFRESH_OF = "lakehouse/refresh_of"  # tag of a refresh run: the detection run that asked for it
REFRESHED = "lakehouse/refreshed_companies"  # tag of a refresh run: its companies

SCHEMA = {
    "ticker": pl.String,
    "cik": pl.String,
    "accession_number": pl.String,
    "form": pl.String,
    "filing_date": pl.Date,
    "detected_at": pl.Datetime("us", "UTC"),
}


def _previous_through(context: dg.AssetExecutionContext) -> date | None:
    event = context.instance.get_latest_materialization_event(EDGAR_CHANGED_COMPANIES)
    value = event.asset_materialization.metadata.get(THROUGH) if event and event.asset_materialization else None
    text = getattr(value, "value", value)
    return date.fromisoformat(text) if text else None


@dg.asset(
    key=EDGAR_CHANGED_COMPANIES,
    group_name="bronze",
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python"},
    pool="sec_edgar",
    deps=[SEC_COMPANY_TICKERS, EDGAR_FILINGS],
    description=(
        "The registered companies with filings since the last refresh that bronze.edgar_filings lacks, from SEC's "
        "nightly submissions.zip: what the daily refresh fetches through the per-company API (one row per filing)."
    ),
    metadata={
        COLUMN_SCHEMA: described_schema(SCHEMA, CHANGED_COMPANIES_DOCS, table=table_name(EDGAR_CHANGED_COMPANIES))
    },
)
def edgar_changed_companies(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    edgar_source: EdgarSourceResource,
    lakehouse: LakehouseResource,
) -> dg.Output[pl.DataFrame]:
    iceberg = lakehouse.lakehouse()
    registered = context.instance.get_dynamic_partitions(companies_partitions.name)
    tickers = iceberg.read(table_name(SEC_COMPANY_TICKERS), columns=["ticker", "cik"])
    ciks = resolve_ciks(tickers, registered)
    filings_table = table_name(EDGAR_FILINGS)
    since = _previous_through(context)
    if since is None and iceberg.table_exists(filings_table):
        latest = iceberg.read(filings_table, columns=["filing_date"]).get_column("filing_date").max()
        since = latest if isinstance(latest, date) else None
    fetched = download(sec, edgar_source, "submissions")
    metadata: Metadata = {
        "source_url": dg.MetadataValue.url(fetched.url),
        "archive_sha256": fetched.sha256,
        "http_status": fetched.status,
    }
    if since is None:
        context.log.warning("no filings loaded yet: load Bronze first (edgar_bulk_load or bronze_edgar_companies)")
        frame = pl.DataFrame(schema=SCHEMA)
        return dg.Output(frame, metadata={**metadata, CHANGED: dg.MetadataValue.json([]), THROUGH: "", "since": ""})

    tickers_of: dict[str, list[str]] = {}
    for ticker, cik in ciks.items():
        tickers_of.setdefault(cik, []).append(ticker)
    with zipfile.ZipFile(fetched.path) as zf:
        names = set(zf.namelist())
        documents = ((f"CIK{c}.json", zf.read(f"CIK{c}.json")) for c in tickers_of if f"CIK{c}.json" in names)
        filed = filings_since(documents, since)
    newest = max((day for rows in filed.values() for _, _, day in rows), default=since)
    loaded = iceberg.read(
        filings_table, GreaterThanOrEqual("filing_date", since.isoformat()), columns=["ticker", "accession_number"]
    )
    have = set(loaded.iter_rows())
    now = datetime.now(UTC)
    rows = [
        {"ticker": t, "cik": cik, "accession_number": a, "form": form, "filing_date": date.fromisoformat(day)}
        for cik, filings in filed.items()
        for t in tickers_of[cik]
        for a, form, day in filings
        if (t, a) not in have
    ]
    frame = pl.DataFrame(rows, schema={k: v for k, v in SCHEMA.items() if k != "detected_at"}).with_columns(
        pl.lit(now).cast(SCHEMA["detected_at"]).alias("detected_at")
    )
    changed = [t for t in registered if t in set(frame.get_column("ticker"))]
    context.log.info(f"{len(changed)} of {len(ciks)} companies filed since {since}: {', '.join(changed) or 'none'}")
    return dg.Output(
        frame,
        metadata={
            **metadata,
            CHANGED: dg.MetadataValue.json(changed),
            "changed_count": len(changed),
            "companies_checked": len(ciks),
            "since": since.isoformat(),
            THROUGH: str(newest),
            "new_filings": frame.height,
        },
    )


refresh_job = dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(EDGAR_CHANGED_COMPANIES))


def refresh_requests(event: dg.EventLogEntry, instance: dg.DagsterInstance) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """Runs of ``bronze_edgar_companies`` over exactly the changed partitions of one detection."""
    materialization = event.asset_materialization
    value = materialization.metadata.get(CHANGED) if materialization else None
    changed = list(getattr(value, "data", None) or [])
    if not changed:
        yield dg.SkipReason("no registered company filed anything new since the last refresh")
        return
    registered = instance.get_dynamic_partitions(companies_partitions.name)
    for first, last in company_runs(instance, changed):
        span = registered[registered.index(first) : registered.index(last) + 1]
        tags = {REFRESH_OF: event.run_id, REFRESHED: ",".join(t for t in span if t in changed)}
        # a range run even for one company (first == last): the same partitions, and nothing to resolve here
        yield dg.RunRequest(
            run_key=f"refresh-{event.run_id}-{first}",
            asset_selection=list(EDGAR_COMPANY_KEYS),
            tags={**tags, **range_tags(first, last)},
        )


def build_refresh_automation(settings: Settings) -> dg.Definitions:
    schedule = dg.ScheduleDefinition(
        name=JOB,
        job=refresh_job,
        cron_schedule="30 5 * * *",  # after SEC's nightly archives are published (~03:00 ET)
        execution_timezone=TIMEZONE,
        default_status=schedule_status(settings),
        description="Which registered companies filed since the last refresh (from SEC's submissions.zip).",
    )

    @dg.asset_sensor(
        name="edgar_refresh_changed",
        asset_key=EDGAR_CHANGED_COMPANIES,
        job=edgar_companies_job,
        default_status=sensor_status(settings),
        description="Refreshes exactly the companies each daily detection lists, through the per-company API.",
    )
    def refresh_changed(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        yield from refresh_requests(asset_event, context.instance)

    return dg.Definitions(jobs=[refresh_job], schedules=[schedule], sensors=[refresh_changed])
