"""SEC EDGAR Bronze assets: the ticker map, the filing index and every XBRL fact, per company."""

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import polars as pl
import pyarrow as pa

from finance_assets.core import checks
from finance_assets.core.archive import PayloadArchive
from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.companies import (
    INCOMPLETE_FILING_INDEX,
    CompanyStep,
    MalformedPayload,
    NotFound,
)
from finance_assets.core.http import FetchResult, NotFoundError, SourceClient
from finance_assets.core.names import EDGAR_COMPANY_FACTS, EDGAR_FILINGS, SEC_COMPANY_TICKERS
from finance_assets.core.partitions import companies_partitions, company_asset
from finance_assets.core.resources import IngestPolicyResource, LakehouseResource, RawArchiveResource
from finance_assets.edgar import bulk_step
from finance_assets.edgar.columns import COMPANY_FACTS_DOCS, COMPANY_TICKERS_DOCS, FILINGS_DOCS
from finance_assets.edgar.parse import (
    ACCESSION_PATTERN,
    CIK_PATTERN,
    COMPANY_FACTS_SCHEMA,
    COMPANY_TICKERS_SCHEMA,
    FILINGS_SCHEMA,
    expected_unit,
    parse_company_facts,
    parse_company_tickers,
    parse_filings,
)
from finance_assets.edgar.resources import BULK, EdgarSourceResource, SecEdgarResource
from finance_assets.edgar.universe import (
    TICKERS_EXCHANGE_URL,
    TICKERS_URL,
    UniverseError,
    UniverseResource,
    primary_tickers,
    resolve,
)

T = TypeVar("T")

COMPANY_FACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK{cik}.json"
SUBMISSIONS_URL = "https://data.sec.gov/submissions/{name}"

COMPANYFACTS = "companyfacts"  # endpoint names in errors and bronze.ingest_status
SUBMISSIONS = "submissions"
SEC_POOL = "sec_edgar"  # one rate budget for every EDGAR step in the deployment (see deploy/dagster.yaml)
BRONZE = "bronze"


def resolve_ciks(tickers: pl.DataFrame, keys: Sequence[str]) -> dict[str, str]:
    """The CIK of every ticker known to ``bronze.sec_company_tickers`` (an unknown one is left out)."""
    ciks = {}
    for ticker in keys:
        match = tickers.filter(pl.col("ticker").is_in([ticker.upper(), ticker.upper().replace(".", "-")]))
        if not match.is_empty():
            ciks[ticker] = match.get_column("cik")[0]
    return ciks


def company_step(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    endpoint: str,
    tickers: pl.DataFrame,
    lakehouse: LakehouseResource,
    ingest: IngestPolicyResource,
) -> CompanyStep:
    """The run's companies, each with its CIK; a ticker SEC's map does not know fails as ``not_found``."""
    keys = list(context.partition_keys)
    ciks = resolve_ciks(tickers, keys)
    step = CompanyStep(
        context,
        key,
        endpoint=endpoint,
        ciks=ciks,
        lakehouse=lakehouse.lakehouse(),
        max_shrink=ingest.max_shrink,
        accept_shrink=ingest.accept_shrink,
    )
    for ticker in keys:
        if ticker not in ciks:
            step.fail(
                NotFound(
                    ticker,
                    "?",
                    "company_tickers",
                    f"Ticker {ticker!r} is not in SEC's ticker map (bronze.sec_company_tickers). Check the spelling "
                    "in UNIVERSE or the partition key; SEC writes share classes with a dash (BRK-B).",
                )
            )
    return step


def _malformed_text(what: str, results: Sequence[FetchResult], error: ValueError) -> str:
    """JSON that is not what the endpoint documents (e.g. a malformed CIK): say which payload, from where."""
    return f"SEC EDGAR {what} from {' and '.join(r.url for r in results)} is malformed: {error}"


def _malformed(
    ticker: str, cik: str, endpoint: str, result: FetchResult, error: Exception, field: str | None = None
) -> MalformedPayload:
    """A payload that is not as documented, named by company, endpoint, URL and (when known) the field."""
    field = field or getattr(error, "field", None) or _field_of(error)
    return MalformedPayload(ticker, cik, endpoint, f"{result.url}: {error}", field=field, payload_sha256=result.sha256)


def _field_of(error: Exception) -> str | None:
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return None


def _fetch_metadata(results: Sequence[FetchResult]) -> Metadata:
    if not results:
        return {"payloads": 0}
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


# ---- sec_company_tickers ---------------------------------------------------------------------------

TICKERS_KEY = SEC_COMPANY_TICKERS


def _universe_resolves(problem: str | None, warnings: Sequence[str]) -> checks.FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        return problem is None, {"unresolved": problem or "none", "warnings": "; ".join(warnings) or "none"}

    return checks.FrameCheck(
        "universe_resolves",
        "Every ticker and CIK of UNIVERSE is in SEC's ticker map (an unknown one is named here, with close matches).",
        evaluate,
        blocking=True,
    )


def ticker_checks(problem: str | None = None, warnings: Sequence[str] = ()) -> tuple[checks.FrameCheck, ...]:
    """The ticker map's checks; ``problem``/``warnings``: the run's UNIVERSE resolution (the specs do not use them)."""
    return (
        checks.unique_key("ticker"),
        checks.matches("cik", CIK_PATTERN.pattern, name="cik_format"),
        checks.non_empty(),
        _universe_resolves(problem, warnings),
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

    # UNIVERSE registers the company partitions (only members SEC knows; the check names the others).
    ticker_map = primary_tickers(exchange_doc, tickers_doc)
    problem: str | None = None
    try:
        resolved, warnings = universe.resolve(ticker_map)
    except UniverseError as exc:
        problem = str(exc)
        replay = Path(universe.replay_dir) if universe.replay_dir else None
        resolved, warnings = resolve(universe.spec, ticker_map, replay_dir=replay, skip_unknown=True)
    for warning in warnings:
        context.log.warning(warning)
    registered = resolved.companies
    new = [t for t in registered if not context.instance.has_dynamic_partition(companies_partitions.name, t)]
    if new:
        context.instance.add_dynamic_partitions(companies_partitions.name, new)

    yield dg.Output(
        table,
        metadata={
            "tickers": table.height,
            "universe_registered": len(registered),
            "universe_price_only": ", ".join(resolved.unmapped) or "none",
            **_fetch_metadata([exchange]),
        },
    )
    yield from checks.results(TICKERS_KEY, table, ticker_checks(problem, warnings))


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


def _fetch_archived(client: SourceClient, payloads: PayloadArchive, url: str, ticker: str) -> tuple[Any, FetchResult]:
    """GET one of the company's payloads and archive its raw bytes (errors are the company's, see CompanyStep)."""
    doc, result = client.get_json(url)
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
    doc, result = _fetch_archived(client, payloads, SUBMISSIONS_URL.format(name=f"CIK{cik}.json"), ticker)
    field = "name"
    try:
        company = {
            "cik": cik,
            "ticker": ticker,
            "entity_name": doc.get("name") or "",
            "fiscal_year_end": doc.get("fiscalYearEnd"),
            "sic": doc.get("sic"),
        }
        field = "filings.recent"
        parts = [parse_filings(doc["filings"]["recent"], page="recent", payload_sha256=result.sha256, **company)]
        field = "filings.files"
        pages = [page["name"] for page in doc["filings"].get("files", [])]
    except (AttributeError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        sub = getattr(exc, "field", None)
        raise _malformed(ticker, cik, SUBMISSIONS, result, exc, f"{field}.{sub}" if sub else field) from exc
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
        except (AttributeError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
            raise _malformed(ticker, cik, f"{SUBMISSIONS} page {page}", page_result, exc) from exc
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
    description=(
        "One row per filing from the EDGAR submissions index, including its extra (older) pages; from the "
        "per-company API or, in the job edgar_bulk_load, SEC's submissions.zip."
    ),
    metadata={COLUMN_SCHEMA: described_schema(FILINGS_SCHEMA, FILINGS_DOCS, table="bronze.edgar_filings")},
)
def edgar_filings(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    edgar_source: EdgarSourceResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
    ingest: IngestPolicyResource,
) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
    step = company_step(context, FILINGS_KEY, SUBMISSIONS, tickers, lakehouse, ingest)
    ciks = step.ciks
    payloads = archive.archive()
    empty = pl.DataFrame(schema=pl.from_arrow(FILINGS_SCHEMA.empty_table()).schema)
    if edgar_source.mode == BULK:
        with tempfile.TemporaryDirectory(prefix="edgar-bulk-") as scratch:
            loaded = bulk_step.load(step, sec, edgar_source, payloads, Path(scratch), _filings_summary)
            frames = step.validate(loaded.frames)
            payloads.commit_index(
                lakehouse.lakehouse(),
                run_id=context.run.run_id,
                asset_key=FILINGS_KEY.to_user_string(),
                partition_key=None,
            )
            yield from step.finish(
                frames,
                metadata={
                    **loaded.metadata(),
                    "per_company": _per_company_table(bulk_step.per_company_rows(loaded, frames, ciks)),
                    "filings": sum(frames.rows.values()),
                },
                per_company={t: loaded.per_company[t] for t in frames},
                frame_checks=FILING_CHECKS,
                extra_checks=_pages_check(
                    [p for t in frames for p in loaded.missing_pages.get(t, ())],
                    sum(loaded.pages_read.get(t, 0) for t in frames),
                ),
                empty=empty,
            )
        return
    with sec.client() as client:
        companies = step.load(list(ciks), lambda t: _load_filings(client, payloads, t, ciks[t]))
    for ticker, company in companies.items():
        if company.missing_pages:
            step.note(
                ticker,
                INCOMPLETE_FILING_INDEX,
                f"extra submissions pages {', '.join(company.missing_pages)} are not available (404): "
                "older filings are absent",
            )
    frames = step.validate({t: c.frame for t, c in companies.items()})
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=FILINGS_KEY.to_user_string(), partition_key=None
    )
    written = {t: companies[t] for t in frames}
    per_company = {
        t: {
            "filings": c.frame.height,
            "pages_fetched": c.pages_fetched,
            "pages_missing": ", ".join(c.missing_pages) or "none",
            "latest_filing": str(c.frame.get_column("filing_date").max()),
        }
        for t, c in written.items()
    }
    missing_pages = [p for c in written.values() for p in c.missing_pages]
    frame = pl.concat([c.frame for c in written.values()]) if written else None
    metadata: Metadata = {
        "per_company": _per_company_table([{"ticker": t, "cik": ciks[t], **m} for t, m in per_company.items()]),
        "filings": frame.height if frame is not None else 0,
        "pages_fetched": sum(c.pages_fetched for c in written.values()),
        "pages_missing": ", ".join(missing_pages) or "none",
        **_fetch_metadata([c.index for c in written.values()]),
    }
    if frame is not None and frame.height:
        metadata |= {
            "earliest_filing": str(frame.get_column("filing_date").min()),
            "latest_filing": str(frame.get_column("filing_date").max()),
        }

    yield from step.finish(
        frames,
        metadata=metadata,
        per_company=per_company,
        frame_checks=FILING_CHECKS,
        extra_checks=_pages_check(missing_pages, sum(c.pages_fetched for c in written.values())),
        empty=empty,
    )


def _pages_check(
    missing_pages: Sequence[str], pages_fetched: int
) -> Callable[[pl.DataFrame, list[str]], Iterator[dg.AssetCheckResult]]:
    """The WARN check ``submissions_pages_complete`` of a run (every listed extra page was read)."""

    def check(_: pl.DataFrame, __: list[str]) -> Iterator[dg.AssetCheckResult]:
        yield dg.AssetCheckResult(
            asset_key=FILINGS_KEY,
            check_name=PAGES_CHECK,
            passed=not missing_pages,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missing_pages": ", ".join(missing_pages) or "none", "pages_fetched": pages_fetched},
        )

    return check


def _filings_summary(frame: pl.DataFrame) -> Metadata:
    return {"filings": frame.height, "latest_filing": str(frame.get_column("filing_date").max())}


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


def _values_present(ticker: str, frame: pl.DataFrame) -> str | None:
    bad = frame.filter(pl.col("value").is_null() | ~pl.col("value").is_finite())
    if bad.is_empty():
        return None
    first = bad.row(0, named=True)
    return (
        f"{bad.height} facts have no finite value (first: {first['taxonomy']}:{first['concept']} "
        f"{first['unit']} ending {first['end_date']}, accession {first['accn']})"
    )


def _units_expected(ticker: str, frame: pl.DataFrame) -> str | None:
    units = frame.get_column("unit").unique().to_list() if frame.height else []
    odd = sorted(u for u in units if not expected_unit(u))
    if not odd:
        return None
    sample = frame.filter(pl.col("unit").is_in(odd)).row(0, named=True)
    return (
        f"unexpected unit {', '.join(repr(u) for u in odd)} (not an ISO 4217 currency, a currency per share or a "
        f"named measure; first: {sample['taxonomy']}:{sample['concept']} ending {sample['end_date']}, "
        f"accession {sample['accn']})"
    )


# Guards that run before the write and reject the company (its loaded rows stay), with CompanyStep's own
# (no empty payload over loaded rows, no collapse of the row count).
FACT_GUARDS = (_values_present, _units_expected)


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
    description=(
        "Every XBRL fact of the company's companyfacts payload: one row per (concept, unit, period, filing); "
        "from the per-company API or, in the job edgar_bulk_load, SEC's companyfacts.zip."
    ),
)
def edgar_company_facts(
    context: dg.AssetExecutionContext,
    tickers: pl.DataFrame,
    sec: SecEdgarResource,
    edgar_source: EdgarSourceResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
    ingest: IngestPolicyResource,
) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
    step = company_step(context, FACTS_KEY, COMPANYFACTS, tickers, lakehouse, ingest)
    ciks = step.ciks
    payloads = archive.archive()
    empty = pl.DataFrame(schema=pl.from_arrow(COMPANY_FACTS_SCHEMA.empty_table()).schema)
    if edgar_source.mode == BULK:
        with tempfile.TemporaryDirectory(prefix="edgar-bulk-") as scratch:
            loaded = bulk_step.load(step, sec, edgar_source, payloads, Path(scratch), _facts_summary)
            frames = step.validate(loaded.frames, FACT_GUARDS)
            payloads.commit_index(
                lakehouse.lakehouse(),
                run_id=context.run.run_id,
                asset_key=FACTS_KEY.to_user_string(),
                partition_key=None,
            )
            yield from step.finish(
                frames,
                metadata={
                    **loaded.metadata(),
                    "per_company": _per_company_table(bulk_step.per_company_rows(loaded, frames, ciks)),
                    "facts": sum(frames.rows.values()),
                },
                per_company={t: loaded.per_company[t] for t in frames},
                frame_checks=FACT_CHECKS,
                empty=empty,
            )
        return

    def load(ticker: str) -> tuple[pl.DataFrame, FetchResult]:
        url = COMPANY_FACTS_URL.format(cik=ciks[ticker])
        doc, result = _fetch_archived(client, payloads, url, ticker)
        try:
            frame = pl.from_arrow(parse_company_facts(doc, ticker=ticker, payload_sha256=result.sha256))
        except (ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
            raise _malformed(ticker, ciks[ticker], COMPANYFACTS, result, exc) from exc
        assert isinstance(frame, pl.DataFrame)
        return frame, result

    with sec.client() as client:
        companies = step.load(list(ciks), load)
    frames = step.validate({t: f for t, (f, _) in companies.items()}, FACT_GUARDS)
    payloads.commit_index(
        lakehouse.lakehouse(), run_id=context.run.run_id, asset_key=FACTS_KEY.to_user_string(), partition_key=None
    )
    per_company = {t: _facts_summary(f) for t, f in frames.items()}
    metadata: Metadata = {
        "per_company": _per_company_table([{"ticker": t, "cik": ciks[t], **m} for t, m in per_company.items()]),
        **_fetch_metadata([companies[t][1] for t in frames]),
    }
    if frames:
        frame = pl.concat(list(frames.values()))
        metadata |= {
            "facts": frame.height,
            "concepts": frame.select("taxonomy", "concept").n_unique(),
            "taxonomies": ", ".join(sorted(set(frame.get_column("taxonomy").unique().to_list()))),
            "filings": frame.get_column("accn").n_unique(),
            "latest_filed": str(frame.get_column("filed").max()),
        }
    yield from step.finish(frames, metadata=metadata, per_company=per_company, frame_checks=FACT_CHECKS, empty=empty)


def _facts_summary(frame: pl.DataFrame) -> Metadata:
    return {
        "facts": frame.height,
        "taxonomies": ", ".join(sorted(frame.get_column("taxonomy").unique().to_list())),
        "latest_filed": str(frame.get_column("filed").max()),
    }
