"""SEC EDGAR Bronze assets: the ticker map, the filing index and every XBRL fact, per company."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa

from finance_assets.bronze.edgar.parse import (
    ACCESSION_PATTERN,
    CIK_PATTERN,
    parse_company_facts,
    parse_company_tickers,
    parse_filings,
)
from finance_assets.bronze.edgar.replay_routes import EDGAR_ROUTES
from finance_assets.core import checks
from finance_assets.core.checks import Metadata
from finance_assets.core.http import FetchResult, NotFoundError, SourceClient
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR, LakehouseResource
from finance_assets.core.partitions import companies_partitions
from finance_assets.core.settings import get_settings
from finance_assets.core.sources import RawArchiveResource, source_client

TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
TICKERS_EXCHANGE_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
COMPANY_FACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK{cik}.json"
SUBMISSIONS_URL = "https://data.sec.gov/submissions/{name}"

SEC_POOL = "sec_edgar"  # one rate budget for every EDGAR step in the deployment (see deploy/dagster.yaml)
BRONZE = "bronze"


class SecEdgarResource(dg.ConfigurableResource):
    """SEC EDGAR through the shared client: User-Agent from SEC_USER_AGENT, 10 requests/s at most."""

    def client(self) -> SourceClient:
        settings = get_settings()
        return source_client(
            "sec",
            settings=settings,
            user_agent=settings.require_sec_user_agent(),
            rate_per_second=settings.sec_requests_per_second,  # the limiter keeps a jitter margin under it
            routes=EDGAR_ROUTES,
        )


def resolve_cik(tickers: pl.DataFrame, ticker: str) -> str:
    """The CIK of ``ticker`` from ``bronze.sec_company_tickers``; a clear failure for an unknown one."""
    candidates = {ticker.upper(), ticker.upper().replace(".", "-")}
    match = tickers.filter(pl.col("ticker").is_in(list(candidates)))
    if match.is_empty():
        raise dg.Failure(
            description=(
                f"Ticker {ticker!r} is not in SEC's ticker map (bronze.sec_company_tickers). Check the spelling "
                "in UNIVERSE or the partition key; SEC writes share classes with a dash (BRK-B)."
            ),
            metadata={"ticker": ticker},
        )
    return match.get_column("cik")[0]


def _fetch_for_partition(client: SourceClient, url: str, ticker: str, what: str) -> tuple[Any, FetchResult]:
    try:
        return client.get_json(url)
    except NotFoundError:
        raise dg.Failure(
            description=f"SEC EDGAR has no {what} for {ticker} ({url} answered 404).",
            metadata={"ticker": ticker, "url": url},
        ) from None


def _malformed(what: str, results: list[FetchResult], error: ValueError) -> dg.Failure:
    """JSON that is not what the endpoint documents (e.g. a malformed CIK): say which payload, from where."""
    return dg.Failure(
        description=(
            f"SEC EDGAR {what} from {' and '.join(r.url for r in results)} is malformed: {error} No table was "
            "changed. Re-materialise once SEC serves a valid payload; if SEC changed the format, adapt "
            "finance_assets/bronze/edgar/parse.py."
        ),
        metadata={"urls": ", ".join(r.url for r in results), "payload_sha256": ", ".join(r.sha256 for r in results)},
    )


def _fetch_metadata(result: FetchResult) -> Metadata:
    return {
        "source_url": dg.MetadataValue.url(result.url),
        "payload_sha256": result.sha256,
        "payload_bytes": len(result.content),
        "fetched_at": result.fetched_at.isoformat(),
        "http_status": result.status,
        "from_cache": result.from_cache,
    }


# ---- sec_company_tickers ---------------------------------------------------------------------------

TICKERS_KEY = dg.AssetKey([BRONZE, "sec_company_tickers"])


def _universe_resolves() -> checks.FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        universe = get_settings().universe
        known = set(frame.get_column("ticker").to_list())
        unknown = [t for t in universe if t not in known and t.replace(".", "-") not in known]
        return not unknown, {"universe": ", ".join(universe), "unknown_tickers": ", ".join(unknown) or "none"}

    return checks.FrameCheck(
        "universe_resolves",
        "Every ticker in UNIVERSE is in SEC's ticker map (an unknown one is named here).",
        evaluate,
        blocking=True,
    )


TICKER_CHECKS = (
    checks.unique_key("ticker"),
    checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
    checks.non_empty(),
    _universe_resolves(),
)


@dg.asset(
    key=TICKERS_KEY,
    group_name=BRONZE,
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    check_specs=checks.specs(TICKERS_KEY, TICKER_CHECKS),
    description="SEC's ticker -> CIK map with exchange (company_tickers_exchange.json + company_tickers.json).",
)
def sec_company_tickers(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    payloads = archive.archive()
    with sec.client() as client:
        exchange_doc, exchange = client.get_json(TICKERS_EXCHANGE_URL)
        tickers_doc, plain = client.get_json(TICKERS_URL)
    for result in (exchange, plain):
        payloads.put("sec", result.url, result.content, status=result.status, fetched_at=result.fetched_at)
    try:
        table = pl.from_arrow(parse_company_tickers(exchange_doc, tickers_doc))
    except ValueError as exc:  # PayloadError, malformed CIKs
        raise _malformed("ticker map", [exchange, plain], exc) from exc
    assert isinstance(table, pl.DataFrame)
    payloads.commit_index(
        lakehouse.lakehouse(),
        run_id=context.run_id,
        asset_key=TICKERS_KEY.to_user_string(),
        partition_key=None,
    )

    # UNIVERSE registers the company partitions (only tickers SEC knows; the check names the others).
    universe = get_settings().universe
    known = set(table.get_column("ticker").to_list())
    registered = [t for t in universe if t in known]
    new = [t for t in registered if not context.instance.has_dynamic_partition(companies_partitions.name, t)]
    if new:
        context.instance.add_dynamic_partitions(companies_partitions.name, new)

    yield dg.Output(
        table,
        metadata={
            "tickers": table.height,
            "universe_registered": ", ".join(registered),
            **_fetch_metadata(exchange),
        },
    )
    yield from checks.results(TICKERS_KEY, table, TICKER_CHECKS)


# ---- edgar_filings ---------------------------------------------------------------------------------

FILINGS_KEY = dg.AssetKey([BRONZE, "edgar_filings"])


FILING_CHECKS = (
    checks.unique_key("accession_number"),
    checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
    checks.matches("accession_number", ACCESSION_PATTERN.pattern, name="accession_format"),
    checks.non_empty(),
    checks.not_in_future("filing_date"),
)
PAGES_CHECK = "submissions_pages_complete"


@dg.asset(
    key=FILINGS_KEY,
    group_name=BRONZE,
    partitions_def=companies_partitions,
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    ins={"tickers": dg.AssetIn(key=TICKERS_KEY)},
    metadata={PARTITION_EXPR: "ticker", PARTITION_BY: ["identity(ticker)"]},
    check_specs=[
        *checks.specs(FILINGS_KEY, FILING_CHECKS),
        dg.AssetCheckSpec(
            PAGES_CHECK,
            asset=FILINGS_KEY,
            description="Every extra page listed under filings.files was fetched (else older filings are absent).",
        ),
    ],
    description="One row per filing from the EDGAR submissions index, including its extra (older) pages.",
)
def edgar_filings(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    ticker = context.partition_key
    cik = resolve_cik(tickers, ticker)
    payloads = archive.archive()
    missing_pages: list[str] = []
    with sec.client() as client:
        url = SUBMISSIONS_URL.format(name=f"CIK{cik}.json")
        doc, result = _fetch_for_partition(client, url, ticker, "submissions index")
        payloads.put("sec", result.url, result.content, status=result.status, fetched_at=result.fetched_at)
        company = {
            "cik": cik,
            "ticker": ticker,
            "entity_name": doc.get("name") or "",
            "fiscal_year_end": doc.get("fiscalYearEnd"),
            "sic": doc.get("sic"),
        }
        parts = [
            parse_filings(doc["filings"]["recent"], page="recent", payload_sha256=result.sha256, **company)
        ]
        for page in doc["filings"].get("files", []):
            page_url = SUBMISSIONS_URL.format(name=page["name"])
            try:
                page_doc, page_result = client.get_json(page_url)
            except NotFoundError:
                missing_pages.append(page["name"])
                context.log.warning(
                    f"{ticker}: extra submissions page {page['name']} is not available (404)."
                )
                continue
            payloads.put("sec", page_result.url, page_result.content, fetched_at=page_result.fetched_at)
            parts.append(
                parse_filings(page_doc, page=page["name"], payload_sha256=page_result.sha256, **company)
            )
    frame = pl.from_arrow(pa.concat_tables(parts))
    assert isinstance(frame, pl.DataFrame)
    # The same filing can appear on two pages when EDGAR shifts its page boundary between fetches.
    frame = frame.unique(subset=["accession_number"], keep="first", maintain_order=True)
    payloads.commit_index(
        lakehouse.lakehouse(),
        run_id=context.run_id,
        asset_key=FILINGS_KEY.to_user_string(),
        partition_key=ticker,
    )
    yield dg.Output(
        frame,
        metadata={
            "ticker": ticker,
            "cik": cik,
            "filings": frame.height,
            "pages_fetched": len(parts),
            "pages_missing": ", ".join(missing_pages) or "none",
            "earliest_filing": str(frame.get_column("filing_date").min()),
            "latest_filing": str(frame.get_column("filing_date").max()),
            **_fetch_metadata(result),
        },
    )
    yield from checks.results(FILINGS_KEY, frame, FILING_CHECKS)
    yield dg.AssetCheckResult(
        asset_key=FILINGS_KEY,
        check_name=PAGES_CHECK,
        passed=not missing_pages,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_pages": ", ".join(missing_pages) or "none", "pages_fetched": len(parts)},
    )


# ---- edgar_company_facts ---------------------------------------------------------------------------

FACTS_KEY = dg.AssetKey([BRONZE, "edgar_company_facts"])
FACT_KEY_COLUMNS = ("cik", "taxonomy", "concept", "unit", "start_date", "end_date", "accn")


def _reports_statements() -> checks.FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        taxonomies = set(frame.get_column("taxonomy").unique().to_list())
        return bool({"us-gaap", "ifrs-full"} & taxonomies), {"taxonomies": ", ".join(sorted(taxonomies))}

    return checks.FrameCheck(
        "has_financial_statements",
        "The company reports under us-gaap or ifrs-full (dei-only payloads cannot build statements).",
        evaluate,
        severity=dg.AssetCheckSeverity.WARN,
    )


FACT_CHECKS = (
    checks.unique_key(*FACT_KEY_COLUMNS),
    checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
    checks.matches("accn", ACCESSION_PATTERN.pattern, name="accession_format"),
    checks.non_empty(),
    checks.no_rows_where(
        "period_order",
        "No duration fact ends before it starts.",
        pl.col("start_date") > pl.col("end_date"),
        show=["concept", "start_date", "end_date", "accn"],
    ),
    checks.no_rows_where(
        "value_present",
        "Every fact has a finite numeric value.",
        pl.col("value").is_null() | ~pl.col("value").is_finite(),
        show=["concept", "unit", "end_date", "accn"],
    ),
    checks.not_in_future("filed"),
    _reports_statements(),
)


@dg.asset(
    key=FACTS_KEY,
    group_name=BRONZE,
    partitions_def=companies_partitions,
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    ins={"tickers": dg.AssetIn(key=TICKERS_KEY)},
    metadata={PARTITION_EXPR: "ticker", PARTITION_BY: ["identity(ticker)"]},
    check_specs=checks.specs(FACTS_KEY, FACT_CHECKS),
    description="Every XBRL fact of the company's companyfacts payload: one row per (concept, unit, period, filing).",
)
def edgar_company_facts(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    ticker = context.partition_key
    cik = resolve_cik(tickers, ticker)
    payloads = archive.archive()
    with sec.client() as client:
        result = _fetch_for_partition(
            client, COMPANY_FACTS_URL.format(cik=cik), ticker, "XBRL company facts"
        )[1]
    payloads.put("sec", result.url, result.content, status=result.status, fetched_at=result.fetched_at)
    try:
        frame = pl.from_arrow(parse_company_facts(result.content, ticker=ticker, payload_sha256=result.sha256))
    except ValueError as exc:  # PayloadError, malformed CIKs
        raise _malformed(f"XBRL company facts for {ticker}", [result], exc) from exc
    assert isinstance(frame, pl.DataFrame)
    payloads.commit_index(
        lakehouse.lakehouse(),
        run_id=context.run_id,
        asset_key=FACTS_KEY.to_user_string(),
        partition_key=ticker,
    )
    taxonomies = sorted(set(frame.get_column("taxonomy").unique().to_list()))
    yield dg.Output(
        frame,
        metadata={
            "ticker": ticker,
            "cik": cik,
            "facts": frame.height,
            "concepts": frame.select("taxonomy", "concept").n_unique(),
            "taxonomies": ", ".join(taxonomies),
            "filings": frame.get_column("accn").n_unique(),
            "latest_filed": str(frame.get_column("filed").max()),
            **_fetch_metadata(result),
        },
    )
    yield from checks.results(FACTS_KEY, frame, FACT_CHECKS)
