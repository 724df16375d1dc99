"""SEC EDGAR 13F-HR Bronze: which filings a manager made, and each filing's cover page and information table.

Two partition sets, both dynamic:

- ``thirteenf_managers`` (10-digit CIK): ``bronze/edgar_13f_filings`` reads the manager's submissions index
  (and its extra pages), keeps the 13F-HR and 13F-HR/A filings (accession, form, filing date, acceptance
  time, period) and registers each filing as a ``thirteenf_filings`` partition. This is how the live
  path finds filings; its filing dates decide the value unit in Silver.
- ``thirteenf_filings`` (``<manager CIK>/<accession number>``): ``bronze/edgar_13f_cover_pages`` (one row
  per filing) and ``bronze/edgar_13f_holdings`` (one row per information table entry), written together.
  A filing is the unit a data engineer reasons about: immutable once filed, one manager and one period,
  amendments are filings of their own. Re-materialising replaces exactly that filing's rows; a new
  quarter is a new partition and never rewrites the old ones; a bad filing fails alone.

A run over many managers or filings (a backfill runs up to ``FILINGS_PER_RUN`` per run) goes through the
same per-partition step as the company assets (``core/companies.py::CompanyStep``): the good managers
or filings are written in one atomic commit per table, each bad one gets a ``bronze.ingest_status`` row
(status ``not_found`` / ``malformed`` / ``source_error`` / ``rejected`` and the reason), the check
``companies_loaded`` fails naming it, and Dagster shows exactly its partition as failed.

Documents are fetched through the project's one SEC client (``SecEdgarResource``: SEC rate limit,
retries, cache, replay) and archived raw; values are stored as reported (see ``edgar/holdings.py``).
The checks compare each filing's information table with its cover page (``tableEntryTotal``,
``tableValueTotal``, same unit on both sides) and name the manager, the period and the accession.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import dagster as dg
import polars as pl
import pyarrow as pa

from finance_assets.core import checks
from finance_assets.core.archive import PayloadArchive
from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.companies import (
    CompanyError,
    CompanyStep,
    MalformedPayload,
    NotFound,
    Rejected,
    companies_check_spec,
)
from finance_assets.core.http import FetchResult, NotFoundError, SourceClient
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR
from finance_assets.core.resources import LakehouseResource, RawArchiveResource
from finance_assets.edgar.assets import BRONZE, SEC_POOL, SUBMISSIONS, SUBMISSIONS_URL
from finance_assets.edgar.columns import COVER_PAGES_DOCS, HOLDINGS_DOCS, THIRTEENF_FILINGS_DOCS
from finance_assets.edgar.holdings import (
    COVER_PAGE_SCHEMA,
    HOLDINGS_FORMS,
    INFORMATION_TABLE_SCHEMA,
    PRIMARY_DOCUMENT,
    THIRTEENF_FILINGS_SCHEMA,
    ShadowedDocumentError,
    WrongDocumentError,
    document_url,
    filing_documents,
    filing_index_url,
    full_submission_url,
    parse_cover_page,
    parse_information_table,
    split_filing_key,
    submission_document,
    thirteenf_filings,
)
from finance_assets.edgar.holdings_reference import reference_filing
from finance_assets.edgar.parse import ACCESSION_PATTERN, CIK_PATTERN, PayloadError, normalize_cik
from finance_assets.edgar.resources import SecEdgarResource

T = TypeVar("T")

thirteenf_managers = dg.DynamicPartitionsDefinition(name="thirteenf_managers")
thirteenf_filings_partitions = dg.DynamicPartitionsDefinition(name="thirteenf_filings")
# A backfill over many filings runs this many per run (one Iceberg commit per table per run).
FILINGS_PER_RUN = 100

FILINGS_KEY = dg.AssetKey([BRONZE, "edgar_13f_filings"])
COVER_PAGES_KEY = dg.AssetKey([BRONZE, "edgar_13f_cover_pages"])
HOLDINGS_KEY = dg.AssetKey([BRONZE, "edgar_13f_holdings"])

# information_table_status of a cover page row
LOADED, MISSING, EMPTY_REPORT = "loaded", "missing", "empty_report"


DOCUMENTS_ENDPOINT = "13f_documents"  # the filing's cover page and information table, in bronze.ingest_status
SUBMISSIONS_ENDPOINT = f"{SUBMISSIONS} (13F)"


class FilingProblem(Exception):
    """One manager or filing of a run could not be loaded: ``not_found`` (404) or a malformed document."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def _per_partition(load: Callable[[str], T], endpoint: str, ciks: dict[str, str]) -> Callable[[str], T]:
    """``load`` with its :class:`FilingProblem` as the partition's :class:`CompanyError` (for CompanyStep)."""

    def run(key: str) -> T:
        try:
            return load(key)
        except FilingProblem as exc:
            kind: type[CompanyError] = NotFound if exc.not_found else MalformedPayload
            raise kind(key, ciks.get(key, "?"), endpoint, str(exc)) from None

    return run


def _archive(payloads: PayloadArchive, result: FetchResult, partition_key: str) -> None:
    payloads.put(
        "sec",
        result.url,
        result.content,
        status=result.status,
        fetched_at=result.fetched_at,
        partition_key=partition_key,
    )


def _markdown(rows: Sequence[dict[str, Any]]) -> dg.MetadataValue:
    header = list(rows[0]) if rows else ["filing"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


# ---- edgar_13f_filings: a manager's 13F-HR filings from the submissions index ------------------------------


@dataclass(frozen=True)
class ManagerFilings:
    frame: pl.DataFrame
    manager_name: str
    pages_fetched: int
    missing_pages: tuple[str, ...]


def load_manager_filings(client: SourceClient, payloads: PayloadArchive, cik: str) -> ManagerFilings:
    """The 13F-HR/13F-HR/A filings listed by one manager's submissions index and its extra pages."""
    url = SUBMISSIONS_URL.format(name=f"CIK{cik}.json")
    try:
        doc, result = client.get_json(url)
    except NotFoundError:
        raise FilingProblem(
            f"SEC EDGAR has no submissions index for manager CIK {cik} ({url} answered 404).", not_found=True
        ) from None
    _archive(payloads, result, cik)
    try:
        name = str(doc.get("name") or "")
        pages = [("recent", doc["filings"]["recent"], result.sha256)]
        extra = [page["name"] for page in doc["filings"].get("files", [])]
    except (AttributeError, KeyError, TypeError) as exc:
        raise FilingProblem(f"SEC EDGAR submissions index {url} for manager CIK {cik} is malformed: {exc!r}") from None
    missing: list[str] = []
    for page in extra:
        page_url = SUBMISSIONS_URL.format(name=page)
        try:
            page_doc, page_result = client.get_json(page_url)
        except NotFoundError:
            missing.append(page)
            continue
        _archive(payloads, page_result, cik)
        pages.append((page, page_doc, page_result.sha256))
    try:
        frame = pl.from_arrow(thirteenf_filings(pages, cik=cik, manager_name=name))
    except (KeyError, TypeError, ValueError) as exc:
        raise FilingProblem(f"SEC EDGAR submissions index {url} for manager CIK {cik} is malformed: {exc}") from None
    assert isinstance(frame, pl.DataFrame)
    return ManagerFilings(frame, name, len(pages), tuple(missing))


MANAGER_PAGES_CHECK = "submissions_pages_complete"
DISCOVERY_CHECKS = (
    checks.unique_key("accession_number"),
    checks.matches("manager_cik", CIK_PATTERN.pattern, name="cik_format"),
    checks.matches("accession_number", ACCESSION_PATTERN.pattern, name="accession_format"),
    checks.not_in_future("filing_date"),
)


@dg.asset(
    key=FILINGS_KEY,
    partitions_def=thirteenf_managers,
    backfill_policy=dg.BackfillPolicy.multi_run(FILINGS_PER_RUN),
    io_manager_key="iceberg_io_manager",
    metadata={
        PARTITION_EXPR: "manager_cik",
        PARTITION_BY: ["identity(manager_cik)"],
        COLUMN_SCHEMA: described_schema(
            THIRTEENF_FILINGS_SCHEMA, THIRTEENF_FILINGS_DOCS, table="bronze.edgar_13f_filings"
        ),
    },
    group_name=BRONZE,
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    check_specs=[
        *checks.specs(FILINGS_KEY, DISCOVERY_CHECKS),
        companies_check_spec(FILINGS_KEY),
        dg.AssetCheckSpec(
            MANAGER_PAGES_CHECK,
            asset=FILINGS_KEY,
            description="Every extra submissions page was fetched (else older 13F filings are absent).",
        ),
    ],
    description=(
        "A manager's 13F-HR and 13F-HR/A filings from its EDGAR submissions index (partition: 10-digit CIK); "
        "registers each filing as a thirteenf_filings partition."
    ),
)
def edgar_13f_filings(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    keys = list(context.partition_keys)
    step = CompanyStep(
        context,
        FILINGS_KEY,
        endpoint=SUBMISSIONS_ENDPOINT,
        ciks={k: k for k in keys},
        lakehouse=lakehouse.lakehouse(),
        partition_by=("identity(manager_cik)",),
        key_column="manager_cik",
    )
    for key in keys:
        if not CIK_PATTERN.match(key):
            step.fail(
                Rejected(
                    key,
                    key,
                    "partition key",
                    f"13F manager partition {key!r} is not a 10-digit CIK (e.g. 0001067983). Delete it and add the "
                    "manager by its zero-padded CIK.",
                )
            )
    valid = [k for k in keys if k not in step.outcomes]
    payloads = archive.archive()
    with sec.client() as client:
        load = _per_partition(lambda cik: load_manager_filings(client, payloads, cik), SUBMISSIONS_ENDPOINT, step.ciks)
        managers = list(step.load(valid, load).items())
    frames = {cik: m.frame for cik, m in managers}
    empty = pl.from_arrow(THIRTEENF_FILINGS_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    frame = pl.concat([empty, *frames.values()], how="diagonal_relaxed")
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=FILINGS_KEY.to_user_string(), partition_key=None
    )
    # only XML-era reports have documents to load; text-era ones stay listed here, unregistered
    found = frame.filter(pl.col("has_xml_documents")).get_column("filing_key").to_list()
    known = set(context.instance.get_dynamic_partitions(thirteenf_filings_partitions.name))
    new = [key for key in found if key not in known]
    if new:
        context.instance.add_dynamic_partitions(thirteenf_filings_partitions.name, new)
    missing = [page for _, m in managers for page in m.missing_pages]
    for cik, manager in managers:
        for page in manager.missing_pages:
            context.log.warning(f"manager CIK {cik}: extra submissions page {page} is not available (404).")
    per_manager = [
        {
            "cik": cik,
            "manager": m.manager_name,
            "13f_filings": m.frame.height,
            "latest_period": m.frame.get_column("report_date").max(),
            "pages_missing": ", ".join(m.missing_pages) or "none",
        }
        for cik, m in managers
    ]

    def pages_check(_: pl.DataFrame, __: list[str]) -> Iterator[dg.AssetCheckResult]:
        yield dg.AssetCheckResult(
            asset_key=FILINGS_KEY,
            check_name=MANAGER_PAGES_CHECK,
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missing_pages": ", ".join(missing) or "none"},
        )

    yield from step.finish(
        frames,
        metadata={
            "managers": len(keys),
            "filings": frame.height,
            "filings_registered": len(new),
            "text_era_filings_not_registered": frame.height - len(found),
            "per_manager": _markdown(per_manager),
        },
        per_company={cik: {"filings": m.frame.height} for cik, m in managers},
        frame_checks=DISCOVERY_CHECKS,
        extra_checks=pages_check,
        empty=empty,
    )


# ---- edgar_13f_cover_pages + edgar_13f_holdings: one filing's documents ------------------------------------


@dataclass(frozen=True)
class InformationTable:
    status: str
    detail: str
    table: pa.Table | None = None
    document: str | None = None
    result: FetchResult | None = None


@dataclass(frozen=True)
class LoadedFiling:
    cover: dict[str, Any]
    holdings: pa.Table


def _information_table(
    client: SourceClient, payloads: PayloadArchive, key: str, cik: str, accession: str, entries: int | None
) -> InformationTable:
    """Find and parse the filing's information table; why not, when it cannot be had."""
    reference = reference_filing(key)
    if reference is not None and reference.information_table:
        candidates: tuple[str, ...] = (reference.information_table,)
    else:
        index_url = filing_index_url(cik, accession)
        try:
            index_doc, index_result = client.get_json(index_url)
        except NotFoundError:
            return InformationTable(MISSING, f"the filing folder listing {index_url} answered 404")
        _archive(payloads, index_result, key)
        try:
            candidates = filing_documents(index_doc, what=f"filing index {index_url}").information_table_candidates
        except PayloadError as exc:
            raise FilingProblem(f"13F filing {key}: {exc}") from None
    if not candidates:
        if not entries:
            return InformationTable(EMPTY_REPORT, "the cover page lists no entries and the folder no table")
        return InformationTable(MISSING, "the filing folder lists no XML document besides the cover page")
    reasons = []
    for name in candidates:
        url = document_url(cik, accession, name)
        try:
            result = client.get(url)
        except NotFoundError:
            reasons.append(f"{url} answered 404")
            continue
        _archive(payloads, result, key)
        what = f"13F information table {url}"
        try:
            return InformationTable(LOADED, "", parse_information_table(result.content, what=what), name, result)
        except ShadowedDocumentError:
            return _from_full_submission(client, payloads, key, cik, accession, url)
        except WrongDocumentError as exc:  # another XML document of the filing: try the next candidate
            reasons.append(str(exc))
        except PayloadError as exc:
            raise FilingProblem(f"13F filing {key}: {exc}") from None
    return InformationTable(MISSING, "; ".join(reasons))


def _from_full_submission(
    client: SourceClient, payloads: PayloadArchive, key: str, cik: str, accession: str, shadowed_url: str
) -> InformationTable:
    url = full_submission_url(cik, accession)
    try:
        result = client.get(url)
    except NotFoundError:
        return InformationTable(MISSING, f"{shadowed_url} answers with EDGAR's folder listing and {url} answered 404")
    _archive(payloads, result, key)
    try:
        name, xml = submission_document(result.content)
        table = parse_information_table(xml, what=f"13F information table {name} in {url}")
    except PayloadError as exc:
        raise FilingProblem(f"13F filing {key}: {exc}") from None
    return InformationTable(
        LOADED,
        f"read from the full submission text: {shadowed_url} answers with EDGAR's folder listing",
        table,
        name,
        result,
    )


def load_filing(client: SourceClient, payloads: PayloadArchive, key: str) -> LoadedFiling:
    """One 13F filing: the cover page (required) and, when it can be had, the information table."""
    try:
        cik, accession = split_filing_key(key)
    except ValueError as exc:
        raise FilingProblem(str(exc)) from None
    url = document_url(cik, accession, PRIMARY_DOCUMENT)
    try:
        result = client.get(url)
    except NotFoundError:
        raise FilingProblem(
            f"SEC EDGAR has no 13F cover page for filing {key} ({url} answered 404): check the manager CIK and "
            "the accession number (13F filings before 2013 have no XML documents).",
            not_found=True,
        ) from None
    _archive(payloads, result, key)
    try:
        cover = parse_cover_page(result.content, what=f"13F cover page {url}")
    except PayloadError as exc:
        raise FilingProblem(f"13F filing {key}: {exc}") from None
    info = _information_table(client, payloads, key, cik, accession, cover["table_entry_total"])
    table = info.table if info.table is not None else INFORMATION_TABLE_SCHEMA.empty_table()
    values = table.column("value_reported").to_pylist()
    cover |= {
        "filing_key": key,
        "manager_cik": cik,
        "accession_number": accession,
        "cover_page_url": url,
        "cover_page_sha256": result.sha256,
        "information_table_document": info.document,
        "information_table_url": info.result.url if info.result else None,
        "information_table_sha256": info.result.sha256 if info.result else None,
        "information_table_status": info.status,
        "information_table_detail": info.detail or None,
        "holdings_loaded": table.num_rows if info.status == LOADED else None,
        "holdings_value_reported": sum(values) if info.status == LOADED else None,
    }
    n = table.num_rows
    holdings = pa.Table.from_pydict(
        {
            "filing_key": [key] * n,
            "manager_cik": [cik] * n,
            "accession_number": [accession] * n,
            **{name: table.column(name) for name in INFORMATION_TABLE_SCHEMA.names},
            "payload_sha256": [info.result.sha256 if info.result else None] * n,
        },
        schema=HOLDINGS_SCHEMA,
    )
    return LoadedFiling(cover, holdings)


COVER_SCHEMA = pa.schema(
    [
        ("filing_key", pa.string()),
        ("manager_cik", pa.string()),
        ("accession_number", pa.string()),
        *COVER_PAGE_SCHEMA,
        ("cover_page_url", pa.string()),
        ("cover_page_sha256", pa.string()),
        ("information_table_document", pa.string()),
        ("information_table_url", pa.string()),
        ("information_table_sha256", pa.string()),
        ("information_table_status", pa.string()),
        ("information_table_detail", pa.string()),
        ("holdings_loaded", pa.int64()),
        ("holdings_value_reported", pa.int64()),
    ]
)
HOLDINGS_SCHEMA = pa.schema(
    [
        ("filing_key", pa.string()),
        ("manager_cik", pa.string()),
        ("accession_number", pa.string()),
        *INFORMATION_TABLE_SCHEMA,
        ("payload_sha256", pa.string()),
    ]
)


def cover_frame(filings: Sequence[LoadedFiling]) -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_pylist([f.cover for f in filings], schema=COVER_SCHEMA))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _filing_label(row: dict[str, Any]) -> str:
    return (
        f"{row['manager_name']} (CIK {row['manager_cik']}), period {row['report_calendar_or_quarter']}, "
        f"accession {row['accession_number']}"
    )


def _totals_match() -> checks.FrameCheck:
    """sum(value) and count of the information table == tableValueTotal and tableEntryTotal of the cover page."""

    def evaluate(cover: pl.DataFrame) -> tuple[bool, Metadata]:
        lines, failing, unverifiable = [], [], []
        for row in cover.iter_rows(named=True):
            label = _filing_label(row)
            if row["information_table_status"] != LOADED:
                unverifiable.append(f"{label}: {row['information_table_status']} ({row['information_table_detail']})")
                status = "not verifiable"
            elif (row["holdings_loaded"], row["holdings_value_reported"]) != (
                row["table_entry_total"],
                row["table_value_total"],
            ):
                failing.append(
                    f"{label}: information table {row['holdings_loaded']} entries summing to "
                    f"{row['holdings_value_reported']:,} vs cover page tableEntryTotal {row['table_entry_total']} and "
                    f"tableValueTotal {row['table_value_total']:,}"
                )
                status = "MISMATCH"
            else:
                status = "matches"
            lines.append(
                {
                    "manager": row["manager_name"],
                    "cik": row["manager_cik"],
                    "period": row["report_calendar_or_quarter"],
                    "accession": row["accession_number"],
                    "entries (table / cover)": f"{row['holdings_loaded']} / {row['table_entry_total']}",
                    "value (table / cover)": f"{row['holdings_value_reported']} / {row['table_value_total']}",
                    "status": status,
                }
            )
        return not failing, {
            "failing_filings": "\n".join(failing) or "none",
            "not_verifiable": "\n".join(unverifiable) or "none",
            "per_filing": _markdown(lines),
        }

    return checks.FrameCheck(
        "holdings_match_cover_page",
        "Per filing (manager and period): the information table has tableEntryTotal rows summing to "
        "tableValueTotal of the cover page (both as reported, same unit). A filing without its information "
        "table is listed as not verifiable.",
        evaluate,
    )


def _table_loaded() -> checks.FrameCheck:
    def evaluate(cover: pl.DataFrame) -> tuple[bool, Metadata]:
        missing = [
            f"{_filing_label(row)}: {row['information_table_detail']}"
            for row in cover.filter(pl.col("information_table_status") == MISSING).iter_rows(named=True)
        ]
        return not missing, {"missing_information_tables": "\n".join(missing) or "none"}

    return checks.FrameCheck(
        "information_table_loaded",
        "Every filing whose cover page lists entries had its information table loaded.",
        evaluate,
        severity=dg.AssetCheckSeverity.WARN,
    )


def _cover_identifies_filing() -> checks.FrameCheck:
    def evaluate(cover: pl.DataFrame) -> tuple[bool, Metadata]:
        bad = cover.filter(
            (pl.col("filer_cik") != pl.col("manager_cik"))
            | pl.col("filer_cik").is_null()
            | ~pl.col("submission_type").is_in(list(HOLDINGS_FORMS))
        )
        return bad.is_empty(), {
            "violations": bad.height,
            "sample": str(bad.select("filing_key", "filer_cik", "submission_type").head(5).to_dicts()),
        }

    return checks.FrameCheck(
        "cover_page_identifies_filing",
        "The cover page is a 13F-HR or 13F-HR/A of the manager the partition names (filer CIK = manager CIK).",
        evaluate,
        blocking=True,
    )


COVER_CHECKS = (
    checks.non_empty(partition_column="filing_key"),
    checks.unique_key("filing_key"),
    _cover_identifies_filing(),
)
TOTALS_CHECKS = (_totals_match(), _table_loaded())
HOLDINGS_CHECKS = (
    checks.unique_key("filing_key", "row_number"),
    checks.no_rows_where(
        "cusip_format",
        "Every CUSIP has 9 letters or digits (the 13F schema's pattern).",
        ~pl.col("cusip").str.contains(r"^[A-Z0-9]{9}$") | pl.col("cusip").is_null(),
        severity=dg.AssetCheckSeverity.WARN,
        show=["filing_key", "row_number", "name_of_issuer", "cusip"],
    ),
)

_FILING_OUT = {
    PARTITION_EXPR: "filing_key",
    # one manager's filings share files; a filing is replaced by its filing_key
    PARTITION_BY: ["identity(manager_cik)"],
}


@dg.multi_asset(
    outs={
        "cover_pages": dg.AssetOut(
            key=COVER_PAGES_KEY,
            io_manager_key="iceberg_io_manager",
            metadata={
                **_FILING_OUT,
                COLUMN_SCHEMA: described_schema(COVER_SCHEMA, COVER_PAGES_DOCS, table="bronze.edgar_13f_cover_pages"),
            },
            kinds={"iceberg", "python"},
            description="One row per 13F filing: its cover page (manager, period, amendment, totals as reported) "
            "and where its information table came from.",
        ),
        "holdings": dg.AssetOut(
            key=HOLDINGS_KEY,
            io_manager_key="iceberg_io_manager",
            metadata={
                **_FILING_OUT,
                COLUMN_SCHEMA: described_schema(HOLDINGS_SCHEMA, HOLDINGS_DOCS, table="bronze.edgar_13f_holdings"),
            },
            kinds={"iceberg", "python"},
            description="One row per information table entry of each 13F filing, values as reported.",
        ),
    },
    partitions_def=thirteenf_filings_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(FILINGS_PER_RUN),
    group_name=BRONZE,
    pool=SEC_POOL,
    check_specs=[
        *checks.specs(COVER_PAGES_KEY, COVER_CHECKS),
        companies_check_spec(COVER_PAGES_KEY),
        *checks.specs(HOLDINGS_KEY, (*TOTALS_CHECKS, *HOLDINGS_CHECKS)),
    ],
)
def edgar_13f_documents(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Cover page and information table of each filing of the run (``<manager CIK>/<accession>``).

    A filing's two tables are written together (both or neither); a bad filing fails its own partition.
    """
    keys = list(context.partition_keys)
    step = CompanyStep(
        context,
        COVER_PAGES_KEY,
        endpoint=DOCUMENTS_ENDPOINT,
        ciks={key: key.partition("/")[0] for key in keys},
        lakehouse=lakehouse.lakehouse(),
        partition_by=("identity(manager_cik)",),
        key_column="filing_key",
    )
    payloads = archive.archive()
    with sec.client() as client:
        load = _per_partition(lambda key: load_filing(client, payloads, key), DOCUMENTS_ENDPOINT, step.ciks)
        filings = step.load(keys, load)
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=HOLDINGS_KEY.to_user_string(), partition_key=None
    )
    cover_frames = {key: cover_frame([f]) for key, f in filings.items()}
    holding_frames = {key: _frame(f.holdings) for key, f in filings.items()}
    covers = cover_frame(list(filings.values()))
    holdings = _frame(pa.concat_tables([HOLDINGS_SCHEMA.empty_table(), *(f.holdings for f in filings.values())]))
    for row in covers.filter(pl.col("information_table_status") == MISSING).iter_rows(named=True):
        context.log.warning(
            f"13F {_filing_label(row)}: information table not loaded: {row['information_table_detail']}"
        )
    summary = [
        {
            "manager": row["manager_name"],
            "period": row["report_calendar_or_quarter"],
            "accession": row["accession_number"],
            "entries": row["holdings_loaded"],
            "information_table": row["information_table_status"],
        }
        for row in covers.iter_rows(named=True)
    ]

    def holdings_checks(_: pl.DataFrame, __: list[str]) -> Iterator[dg.AssetCheckResult]:
        yield from checks.results(HOLDINGS_KEY, covers, TOTALS_CHECKS)
        yield from checks.results(HOLDINGS_KEY, holdings, HOLDINGS_CHECKS)

    yield from step.finish(
        cover_frames,
        metadata={"filings": covers.height, "holdings": holdings.height, "per_filing": _markdown(summary)},
        per_company={key: {"holdings": frame.height} for key, frame in holding_frames.items()},
        frame_checks=COVER_CHECKS,
        extra_checks=holdings_checks,
        empty=cover_frame([]),
        output_name="cover_pages",
        companions={HOLDINGS_KEY: ("holdings", holding_frames)},
    )


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def register_filings(instance: dg.DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Add filing partitions (``<manager CIK>/<accession>``) that are not registered yet; returns the new ones."""
    for key in keys:
        split_filing_key(key)  # a clear error for a malformed key before anything is registered
    known = set(instance.get_dynamic_partitions(thirteenf_filings_partitions.name))
    new = [k for k in dict.fromkeys(keys) if k not in known]
    if new:
        instance.add_dynamic_partitions(thirteenf_filings_partitions.name, new)
    return new


def register_managers(instance: dg.DagsterInstance, ciks: Sequence[str]) -> list[str]:
    """Add manager partitions (10-digit CIKs) that are not registered yet; returns the new ones."""
    padded = [normalize_cik(c) for c in ciks]
    known = set(instance.get_dynamic_partitions(thirteenf_managers.name))
    new = [c for c in dict.fromkeys(padded) if c not in known]
    if new:
        instance.add_dynamic_partitions(thirteenf_managers.name, new)
    return new
