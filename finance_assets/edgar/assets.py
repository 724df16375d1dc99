"""SEC EDGAR Bronze assets: the ticker map, the filing index and every XBRL fact, per company."""

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
from finance_assets.core.http import FetchResult, NotFoundError, SourceClient
from finance_assets.core.names import EDGAR_COMPANY_FACTS, EDGAR_FILINGS, SEC_COMPANY_TICKERS
from finance_assets.core.partitions import companies_partitions, company_asset
from finance_assets.core.resources import LakehouseResource, RawArchiveResource, UniverseResource
from finance_assets.core.sources import fetch_each
from finance_assets.edgar.columns import COMPANY_FACTS_DOCS, COMPANY_TICKERS_DOCS, FILINGS_DOCS
from finance_assets.edgar.parse import (
    ACCESSION_PATTERN,
    CIK_PATTERN,
    COMPANY_FACTS_SCHEMA,
    COMPANY_TICKERS_SCHEMA,
    FILINGS_SCHEMA,
    parse_company_facts,
    parse_company_tickers,
    parse_filings,
)
from finance_assets.edgar.resources import SecEdgarResource

T = TypeVar("T")

TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
TICKERS_EXCHANGE_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
COMPANY_FACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK{cik}.json"
SUBMISSIONS_URL = "https://data.sec.gov/submissions/{name}"

SEC_POOL = "sec_edgar"  # one rate budget for every EDGAR step in the deployment (see deploy/dagster.yaml)
BRONZE = "bronze"


def resolve_ciks(tickers: pl.DataFrame, keys: Sequence[str]) -> dict[str, str]:
    """The CIK of every ticker from ``bronze.sec_company_tickers``; one clear failure naming every unknown."""
    ciks, unknown = {}, []
    for ticker in keys:
        match = tickers.filter(pl.col("ticker").is_in([ticker.upper(), ticker.upper().replace(".", "-")]))
        if match.is_empty():
            unknown.append(ticker)
        else:
            ciks[ticker] = match.get_column("cik")[0]
    if unknown:
        names = ", ".join(repr(t) for t in unknown)
        raise dg.Failure(
            description=(
                f"Ticker {names} is not in SEC's ticker map (bronze.sec_company_tickers). Check the spelling "
                "in UNIVERSE or the partition key; SEC writes share classes with a dash (BRK-B). "
                "No table was changed."
            ),
            metadata={"unknown_tickers": ", ".join(unknown)},
        )
    return ciks


class CompanyProblem(Exception):
    """One company of a run could not be loaded (no such payload, malformed payload)."""


def _not_found(what: str, ticker: str, url: str) -> CompanyProblem:
    return CompanyProblem(f"SEC EDGAR has no {what} for {ticker} ({url} answered 404).")


def _malformed_text(what: str, results: Sequence[FetchResult], error: ValueError) -> str:
    """JSON that is not what the endpoint documents (e.g. a malformed CIK): say which payload, from where."""
    return f"SEC EDGAR {what} from {' and '.join(r.url for r in results)} is malformed: {error}"


def _malformed(what: str, results: Sequence[FetchResult], error: ValueError) -> CompanyProblem:
    return CompanyProblem(_malformed_text(what, results, error))


def load_companies(keys: Sequence[str], load: Callable[[str], T]) -> Iterator[tuple[str, T]]:
    """``load`` every company of the run (fetches overlap under the shared rate limit), in key order.

    A source that is down (retries exhausted, timeouts) stops the run at once with its own error. A
    company-level problem (404, malformed payload) is collected, and the run then fails naming every
    such company: nothing is written, so the tables stay as they were.
    """
    problems: dict[str, str] = {}
    loaded: list[tuple[str, T]] = []
    for ticker, outcome in fetch_each(keys, load):
        if isinstance(outcome, CompanyProblem):
            problems[ticker] = str(outcome)
        elif isinstance(outcome, Exception):
            raise outcome
        else:
            loaded.append((ticker, outcome))
    if problems:
        others = (
            f" The other {len(keys) - len(problems)} companies of this run were not written either."
            if len(keys) > 1
            else ""
        )
        raise dg.Failure(
            description=(
                " ".join(problems.values())
                + f" No table was changed.{others} Re-materialise once SEC serves it, or remove the company "
                "(UNIVERSE / the partition); if SEC changed a format, adapt finance_assets/edgar/parse.py."
            ),
            metadata={"failed_companies": ", ".join(problems)},
        )
    yield from loaded


def _fetch_metadata(results: Sequence[FetchResult]) -> Metadata:
    if len(results) == 1:
        [result] = results
        return {
            "source_url": dg.MetadataValue.url(result.url),
            "payload_sha256": result.sha256,
            "payload_bytes": len(result.content),
            "fetched_at": result.fetched_at.isoformat(),
            "http_status": result.status,
            "from_cache": result.from_cache,
        }
    return {
        "payloads": len(results),
        "payload_bytes": sum(len(r.content) for r in results),
        "from_cache": sum(r.from_cache for r in results),
        "fetched_between": f"{min(r.fetched_at for r in results).isoformat()} .. "
        f"{max(r.fetched_at for r in results).isoformat()}",
    }


def _per_company_table(rows: Sequence[dict[str, Any]]) -> dg.MetadataValue:
    header = list(rows[0]) if rows else ["ticker"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def _run_metadata(keys: Sequence[str], ciks: dict[str, str], per_company: Sequence[dict[str, Any]]) -> Metadata:
    """A run may cover many companies (a backfill): totals, plus one line per company."""
    found: Metadata = {"companies": len(keys), "per_company": _per_company_table(per_company)}
    if len(keys) == 1:
        found |= {"ticker": keys[0], "cik": ciks[keys[0]]}
    return found


# ---- sec_company_tickers ---------------------------------------------------------------------------

TICKERS_KEY = SEC_COMPANY_TICKERS


def _universe_resolves(universe: Sequence[str]) -> checks.FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        known = set(frame.get_column("ticker").to_list())
        unknown = [t for t in universe if t not in known and t.replace(".", "-") not in known]
        return not unknown, {"universe": ", ".join(universe), "unknown_tickers": ", ".join(unknown) or "none"}

    return checks.FrameCheck(
        "universe_resolves",
        "Every ticker in UNIVERSE is in SEC's ticker map (an unknown one is named here).",
        evaluate,
        blocking=True,
    )


def ticker_checks(universe: Sequence[str] = ()) -> tuple[checks.FrameCheck, ...]:
    """The ticker map's checks; ``universe`` is the run's (the specs do not depend on it)."""
    return (
        checks.unique_key("ticker"),
        checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
        checks.non_empty(),
        _universe_resolves(universe),
    )


@dg.asset(
    key=TICKERS_KEY,
    group_name=BRONZE,
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    check_specs=checks.specs(TICKERS_KEY, ticker_checks()),
    metadata={
        COLUMN_SCHEMA: described_schema(
            COMPANY_TICKERS_SCHEMA, COMPANY_TICKERS_DOCS, table="bronze.sec_company_tickers"
        )
    },
    description="SEC's ticker -> CIK map with exchange (company_tickers_exchange.json + company_tickers.json).",
)
def sec_company_tickers(
    context: dg.AssetExecutionContext,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
    universe: UniverseResource,
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
        raise dg.Failure(
            description=f"{_malformed_text('ticker map', [exchange, plain], exc)} No table was changed. Re-materialise "
            "once SEC serves a valid payload; if SEC changed the format, adapt finance_assets/edgar/parse.py.",
            metadata={"urls": f"{exchange.url}, {plain.url}", "payload_sha256": f"{exchange.sha256}, {plain.sha256}"},
        ) from exc
    assert isinstance(table, pl.DataFrame)
    payloads.commit_index(
        lakehouse.lakehouse(),
        run_id=context.run.run_id,
        asset_key=TICKERS_KEY.to_user_string(),
        partition_key=None,
    )

    # UNIVERSE registers the company partitions (only tickers SEC knows; the check names the others).
    known = set(table.get_column("ticker").to_list())
    registered = [t for t in universe.tickers if t in known]
    new = [t for t in registered if not context.instance.has_dynamic_partition(companies_partitions.name, t)]
    if new:
        context.instance.add_dynamic_partitions(companies_partitions.name, new)

    yield dg.Output(
        table,
        metadata={
            "tickers": table.height,
            "universe_registered": ", ".join(registered),
            **_fetch_metadata([exchange]),
        },
    )
    yield from checks.results(TICKERS_KEY, table, ticker_checks(universe.tickers))


# ---- edgar_filings ---------------------------------------------------------------------------------

FILINGS_KEY = EDGAR_FILINGS


FILING_CHECKS = (
    # a filing can list several registrants (and a company several tickers): unique per ticker
    checks.unique_key("ticker", "accession_number"),
    checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
    checks.matches("accession_number", ACCESSION_PATTERN.pattern, name="accession_format"),
    checks.non_empty(),
    checks.not_in_future("filing_date"),
)
PAGES_CHECK = "submissions_pages_complete"


def _fetch_archived(
    client: SourceClient, payloads: PayloadArchive, url: str, ticker: str, what: str
) -> tuple[Any, FetchResult]:
    """GET one of the company's payloads and archive its raw bytes (a 404 is the company's problem)."""
    try:
        doc, result = client.get_json(url)
    except NotFoundError:
        raise _not_found(what, ticker, url) from None
    payloads.put(
        "sec", result.url, result.content, status=result.status, fetched_at=result.fetched_at, partition_key=ticker
    )
    return doc, result


@dataclass(frozen=True)
class CompanyFilings:
    frame: pl.DataFrame
    index: FetchResult
    pages_fetched: int
    missing_pages: tuple[str, ...]


def _load_filings(client: SourceClient, payloads: PayloadArchive, ticker: str, cik: str) -> CompanyFilings:
    """The submissions index of one company and every extra (older) page it lists."""
    doc, result = _fetch_archived(
        client, payloads, SUBMISSIONS_URL.format(name=f"CIK{cik}.json"), ticker, "submissions index"
    )
    try:
        company = {
            "cik": cik,
            "ticker": ticker,
            "entity_name": doc.get("name") or "",
            "fiscal_year_end": doc.get("fiscalYearEnd"),
            "sic": doc.get("sic"),
        }
        parts = [parse_filings(doc["filings"]["recent"], page="recent", payload_sha256=result.sha256, **company)]
        pages = [page["name"] for page in doc["filings"].get("files", [])]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise _malformed(f"submissions index for {ticker}", [result], ValueError(f"missing or bad {exc}")) from exc
    missing: list[str] = []
    for page in pages:
        try:
            page_doc, page_result = client.get_json(SUBMISSIONS_URL.format(name=page))
        except NotFoundError:
            missing.append(page)
            continue
        payloads.put(
            "sec", page_result.url, page_result.content, fetched_at=page_result.fetched_at, partition_key=ticker
        )
        try:
            parts.append(parse_filings(page_doc, page=page, payload_sha256=page_result.sha256, **company))
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed(f"submissions page {page} for {ticker}", [page_result], ValueError(str(exc))) from exc
    frame = pl.from_arrow(pa.concat_tables(parts))
    assert isinstance(frame, pl.DataFrame)
    # The same filing can appear on two pages when EDGAR shifts its page boundary between fetches.
    frame = frame.unique(subset=["accession_number"], keep="first", maintain_order=True)
    return CompanyFilings(frame, result, len(parts), tuple(missing))


@company_asset(
    key=FILINGS_KEY,
    group_name=BRONZE,
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    ins={"tickers": dg.AssetIn(key=TICKERS_KEY)},
    check_specs=[
        *checks.specs(FILINGS_KEY, FILING_CHECKS),
        dg.AssetCheckSpec(
            PAGES_CHECK,
            asset=FILINGS_KEY,
            description="Every extra page listed under filings.files was fetched (else older filings are absent).",
        ),
    ],
    description="One row per filing from the EDGAR submissions index, including its extra (older) pages.",
    metadata={COLUMN_SCHEMA: described_schema(FILINGS_SCHEMA, FILINGS_DOCS, table="bronze.edgar_filings")},
)
def edgar_filings(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    keys = list(context.partition_keys)
    ciks = resolve_ciks(tickers, keys)
    payloads = archive.archive()
    with sec.client() as client:
        companies = list(load_companies(keys, lambda t: _load_filings(client, payloads, t, ciks[t])))
    missing_pages: list[str] = []
    for ticker, company in companies:
        for page in company.missing_pages:
            context.log.warning(f"{ticker}: extra submissions page {page} is not available (404).")
            missing_pages.append(page)
    frame = pl.concat([c.frame for _, c in companies])
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=FILINGS_KEY.to_user_string(), partition_key=None
    )
    per_company = [
        {
            "ticker": t,
            "cik": ciks[t],
            "filings": c.frame.height,
            "pages_fetched": c.pages_fetched,
            "pages_missing": ", ".join(c.missing_pages) or "none",
            "latest_filing": c.frame.get_column("filing_date").max(),
        }
        for t, c in companies
    ]
    yield dg.Output(
        frame,
        metadata={
            **_run_metadata(keys, ciks, per_company),
            "filings": frame.height,
            "pages_fetched": sum(c.pages_fetched for _, c in companies),
            "pages_missing": ", ".join(missing_pages) or "none",
            "earliest_filing": str(frame.get_column("filing_date").min()),
            "latest_filing": str(frame.get_column("filing_date").max()),
            **_fetch_metadata([c.index for _, c in companies]),
        },
    )
    yield from checks.results(FILINGS_KEY, frame, FILING_CHECKS, partition_keys=keys)
    yield dg.AssetCheckResult(
        asset_key=FILINGS_KEY,
        check_name=PAGES_CHECK,
        passed=not missing_pages,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "missing_pages": ", ".join(missing_pages) or "none",
            "pages_fetched": sum(c.pages_fetched for _, c in companies),
        },
    )


# ---- edgar_company_facts ---------------------------------------------------------------------------

FACTS_KEY = EDGAR_COMPANY_FACTS
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


@company_asset(
    key=FACTS_KEY,
    group_name=BRONZE,
    kinds={"iceberg", "python"},
    pool=SEC_POOL,
    ins={"tickers": dg.AssetIn(key=TICKERS_KEY)},
    check_specs=checks.specs(FACTS_KEY, FACT_CHECKS),
    metadata={
        COLUMN_SCHEMA: described_schema(COMPANY_FACTS_SCHEMA, COMPANY_FACTS_DOCS, table="bronze.edgar_company_facts")
    },
    description="Every XBRL fact of the company's companyfacts payload: one row per (concept, unit, period, filing).",
)
def edgar_company_facts(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    keys = list(context.partition_keys)
    ciks = resolve_ciks(tickers, keys)
    payloads = archive.archive()

    def load(ticker: str) -> tuple[pl.DataFrame, FetchResult]:
        url = COMPANY_FACTS_URL.format(cik=ciks[ticker])
        doc, result = _fetch_archived(client, payloads, url, ticker, "XBRL company facts")
        try:
            frame = pl.from_arrow(parse_company_facts(doc, ticker=ticker, payload_sha256=result.sha256))
        except ValueError as exc:  # PayloadError, malformed CIKs
            raise _malformed(f"XBRL company facts for {ticker}", [result], exc) from exc
        assert isinstance(frame, pl.DataFrame)
        return frame, result

    with sec.client() as client:
        companies = list(load_companies(keys, load))
    frame = pl.concat([f for _, (f, _) in companies])
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=FACTS_KEY.to_user_string(), partition_key=None
    )
    per_company = [
        {
            "ticker": t,
            "cik": ciks[t],
            "facts": f.height,
            "taxonomies": ", ".join(sorted(f.get_column("taxonomy").unique().to_list())),
            "latest_filed": f.get_column("filed").max(),
        }
        for t, (f, _) in companies
    ]
    taxonomies = sorted(set(frame.get_column("taxonomy").unique().to_list()))
    yield dg.Output(
        frame,
        metadata={
            **_run_metadata(keys, ciks, per_company),
            "facts": frame.height,
            "concepts": frame.select("taxonomy", "concept").n_unique(),
            "taxonomies": ", ".join(taxonomies),
            "filings": frame.get_column("accn").n_unique(),
            "latest_filed": str(frame.get_column("filed").max()),
            **_fetch_metadata([r for _, (_, r) in companies]),
        },
    )
    yield from checks.results(FACTS_KEY, frame, FACT_CHECKS, partition_keys=keys)
