"""``bronze/edgar_fsds_facts``: SEC's Financial Statement Data Sets, one quarter per partition, in the facts model.

A quarter's zip (every XBRL filing SEC received in the quarter: ``sub.txt``/``num.txt``) is downloaded through
the SEC client (``SEC_WWW_BASE_URL``, the deployment's rate budget, conditional on the previous download) into
``SEC_BULK_DIR/fsds/`` and read streaming by :func:`finance_assets.edgar.fsds.read_quarter`: the columns of
``bronze.edgar_company_facts`` (one ``adsh`` = one filing = ``accn``; ``form``/``filed``/``fy``/``fp`` from
``sub.txt``) plus ``qtrs`` and ``dates_derived`` (``ddate``/``qtrs`` give the period, month-end rounded; see
``fsds.py``) and ``quarter``, the partition. Its own table, not ``bronze.edgar_company_facts``: that one is
partitioned per company and holds companyfacts' exact periods; the two agree on FSDS's grain
(``tests/test_edgar_fsds_gold.py`` builds Gold from each and compares them).
"""

from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
from pyiceberg.expressions import EqualTo

from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.http import SourceError
from finance_assets.core.names import EDGAR_FSDS_FACTS, table_name
from finance_assets.core.resources import LakehouseResource
from finance_assets.edgar.bulk import require_zip
from finance_assets.edgar.columns import FSDS_FACTS_DOCS
from finance_assets.edgar.fsds import FSDS_FACTS_SCHEMA, FSDS_URL, FsdsError, read_quarter
from finance_assets.edgar.resources import EdgarSourceResource, SecEdgarResource

#: Quarters of FSDS, keyed by their first month ("2009-07" is 2009q3); a quarter is published after it ends.
fsds_quarters = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start="2009-01", fmt="%Y-%m", timezone="UTC"
)


def quarter_name(partition_key: str) -> str:
    """``2009-07`` -> ``2009q3`` (SEC's name of the quarter's zip)."""
    year, month = partition_key.split("-")
    return f"{year}q{(int(month) - 1) // 3 + 1}"


@dg.asset(
    key=EDGAR_FSDS_FACTS,
    group_name="bronze",
    partitions_def=fsds_quarters,
    kinds={"iceberg", "python"},
    pool="sec_edgar",
    description=(
        "SEC's Financial Statement Data Sets: every consolidated, standard-taxonomy fact of every XBRL filing of a "
        "quarter (one adsh = one filing), in the columns of bronze.edgar_company_facts plus qtrs, dates_derived, "
        "quarter. Partition key: the quarter's first month (2009-07 = 2009q3)."
    ),
    metadata={COLUMN_SCHEMA: described_schema(FSDS_FACTS_SCHEMA, FSDS_FACTS_DOCS, table=table_name(EDGAR_FSDS_FACTS))},
)
def edgar_fsds_facts(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    edgar_source: EdgarSourceResource,
    lakehouse: LakehouseResource,
) -> dg.MaterializeResult:
    quarter = quarter_name(context.partition_key)
    url = FSDS_URL.format(quarter=quarter)
    dest = Path(edgar_source.bulk_dir) / "fsds" / f"{quarter}.zip"
    try:
        with sec.client() as client:
            fetched = client.download(url, dest, verify=require_zip)
    except SourceError as exc:
        raise dg.Failure(description=f"FSDS {quarter}: {exc}. No table was changed.") from exc
    try:
        read = read_quarter(fetched.path)
    except FsdsError as exc:
        raise dg.Failure(description=f"{exc}. No table was changed.") from exc
    facts = read.facts.append_column("quarter", pa.array([quarter] * read.facts.num_rows, pa.string()))
    result = lakehouse.lakehouse().write(
        table_name(EDGAR_FSDS_FACTS),
        facts,
        replace=EqualTo("quarter", quarter),
        partition_by=["identity(quarter)"],
        snapshot_properties={
            "dagster.run-id": context.run.run_id,
            "dagster.asset-key": EDGAR_FSDS_FACTS.to_user_string(),
            "dagster.partition-key": context.partition_key,
        },
    )
    frame = pl.from_arrow(read.facts.select(["cik", "accn"]))
    assert isinstance(frame, pl.DataFrame)
    metadata: Metadata = {
        "quarter": quarter,
        "source_url": dg.MetadataValue.url(fetched.url),
        "archive_sha256": fetched.sha256,
        "http_status": fetched.status,
        "num_rows_read": read.rows_read,
        "dropped": dg.MetadataValue.json(read.dropped),
        "companies": frame.get_column("cik").n_unique(),
        "filings": frame.get_column("accn").n_unique(),
        "companies_without_facts": len(read.ciks_without_facts()),
        "dagster/row_count": result.rows,
        "iceberg/table": result.table,
        "iceberg/snapshot_id": str(result.snapshot_id),
    }
    return dg.MaterializeResult(metadata=metadata)


fsds_job = dg.define_asset_job(
    "bronze_edgar_fsds",
    selection=dg.AssetSelection.assets(EDGAR_FSDS_FACTS),
    description="SEC's Financial Statement Data Sets, one quarter per partition (2009-07 = 2009q3).",
)
