"""FMP Bronze assets: ``bronze/fmp_profile`` and the five period tables, partitioned by company.

Each asset runs the fetch plan of :mod:`.source` for its table and the partition's ticker, archives every
raw response (``bronze.raw_payloads``, URL with ``apikey=***``), normalises both API shapes to the table's
fixed schema (:mod:`.parse`) and returns one frame that the Iceberg IO manager writes as the ticker's
partition (an idempotent overwrite). Checks are declared on the asset and evaluated on that frame.

A company FMP has no data for materialises an empty partition, reported in the metadata
(``fmp_coverage``), a warning log line and the WARN ``non_empty`` check; it never fails the run. A company
whose payload is malformed, in a currency that is no ISO 4217 code, or would empty/collapse its loaded rows
fails only its own partition (:class:`finance_assets.core.companies.CompanyStep`).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dagster as dg
import polars as pl
import pyarrow as pa

from finance_assets.core import checks
from finance_assets.core.archive import PayloadArchive
from finance_assets.core.checks import FrameCheck, Metadata
from finance_assets.core.companies import CompanyStep, MalformedPayload, known_ciks
from finance_assets.core.partitions import company_asset
from finance_assets.core.resources import IngestPolicyResource, LakehouseResource, RawArchiveResource
from finance_assets.edgar.parse import CURRENCIES
from finance_assets.fmp.parse import (
    BALANCE,
    CASH_FLOW,
    INCOME,
    KEY_COLUMNS,
    KEY_METRICS,
    PERIODS,
    PROFILE,
    RATIOS,
    TableSpec,
    merge,
    normalize,
)
from finance_assets.fmp.resources import FmpResource
from finance_assets.fmp.source import Attempt, fetch_plan

FMP_POOL = "fmp"  # one FMP step at a time in the deployment: the rate budget is per API key
BRONZE = "bronze"
FIELDS_CHECK = "fmp_fields_mapped"
WARN = dg.AssetCheckSeverity.WARN


def asset_key(spec: TableSpec) -> dg.AssetKey:
    return dg.AssetKey([BRONZE, spec.table])


FMP_ASSET_KEYS: tuple[str, ...] = tuple(
    asset_key(s).to_user_string() for s in (PROFILE, INCOME, BALANCE, CASH_FLOW, KEY_METRICS, RATIOS)
)


def _within(diff: pl.Expr, scale: pl.Expr, tolerance: float = 0.01) -> pl.Expr:
    """``diff`` is more than ``tolerance`` of ``scale`` (nulls: not a violation, the row is skipped)."""
    return diff.abs() > tolerance * scale.abs()


def _period_checks(spec: TableSpec) -> tuple[FrameCheck, ...]:
    found = [
        checks.unique_key(*KEY_COLUMNS),
        checks.non_empty(severity=WARN),
        checks.no_rows_where(
            "period_valid",
            f"period is one of {', '.join(PERIODS)} and the period end date is set.",
            pl.col("period").is_null() | ~pl.col("period").is_in(PERIODS) | pl.col("date").is_null(),
            show=["date", "period", "api"],
        ),
        checks.not_in_future("date"),
    ]
    if spec in (INCOME, BALANCE, CASH_FLOW):
        found += [
            checks.matches("cik", r"^\d{10}$", name="cik_format"),
            checks.matches("reported_currency", r"^[A-Z]{3}$", name="currency_format"),
            checks.not_in_future("filing_date"),
            checks.no_rows_where(
                "filed_after_period_end",
                "A statement is filed after its period ends.",
                pl.col("filing_date") < pl.col("date"),
                severity=WARN,
                show=["date", "period", "filing_date", "api"],
            ),
        ]
    if spec is BALANCE:
        found.append(
            checks.no_rows_where(
                "balance_sheet_identity",
                "total_assets = total_liabilities + total_equity within 1% of total_assets.",
                _within(
                    pl.col("total_assets") - pl.col("total_liabilities") - pl.col("total_equity"),
                    pl.col("total_assets"),
                ),
                severity=WARN,
                show=["date", "period", "total_assets", "total_liabilities", "total_equity", "api"],
            )
        )
    if spec is CASH_FLOW:
        found.append(
            checks.no_rows_where(
                "cash_roll_forward",
                "cash_at_end_of_period - cash_at_beginning_of_period = net_change_in_cash within 1%.",
                _within(
                    pl.col("cash_at_end_of_period")
                    - pl.col("cash_at_beginning_of_period")
                    - pl.col("net_change_in_cash"),
                    pl.max_horizontal(
                        pl.col("cash_at_end_of_period").abs(), pl.col("cash_at_beginning_of_period").abs()
                    ),
                ),
                severity=WARN,
                show=["date", "period", "cash_at_end_of_period", "cash_at_beginning_of_period", "api"],
            )
        )
    if spec is INCOME:
        found.append(
            checks.no_rows_where(
                "gross_profit_identity",
                "gross_profit = revenue - cost_of_revenue within 1% of revenue.",
                _within(pl.col("revenue") - pl.col("cost_of_revenue") - pl.col("gross_profit"), pl.col("revenue")),
                severity=WARN,
                show=["date", "period", "revenue", "cost_of_revenue", "gross_profit", "api"],
            )
        )
    return tuple(found)


PROFILE_CHECKS: tuple[FrameCheck, ...] = (checks.unique_key("ticker"), checks.non_empty(severity=WARN))


def _column_schema(spec: TableSpec) -> dg.TableSchema:
    sources = {f.column: f for f in spec.fields}
    columns = []
    for name, dtype in spec.schema.items():
        f = sources.get(name)
        if f is not None:
            description = f"stable: {f.stable or '(absent)'} | v3: {f.v3 or '(absent)'}"
        else:
            description = {
                "ticker": "partition key (the requested symbol)",
                "api": "which FMP API shape the row came from: stable | v3 (stable wins on overlap)",
                "payload_sha256": "sha256 of the raw response in bronze.raw_payloads",
                "fetched_at": "when FMP answered (UTC)",
            }[name]
        columns.append(dg.TableColumn(name=name, type=str(dtype), description=description))
    return dg.TableSchema(columns=columns)


def _requests_table(attempts: Sequence[Attempt]) -> str:
    lines = ["| api | period | outcome | rows | detail | url |", "|---|---|---|---|---|---|"]
    for a in attempts:
        detail = a.detail.replace("|", "/").replace("\n", " ")
        lines.append(f"| {a.api} | {a.period or '-'} | {a.outcome} | {a.rows} | {detail} | {a.url} |")
    return "\n".join(lines)


def _coverage(spec: TableSpec, ticker: str, frame: pl.DataFrame, attempts: Sequence[Attempt]) -> str:
    if frame.is_empty():
        outcomes = ", ".join(sorted({a.outcome for a in attempts if a.outcome != "skipped"})) or "no request"
        return f"none: FMP returned no {spec.endpoint} data for {ticker} ({outcomes})"
    if not spec.periodic:
        return "profile"
    periods = set(frame.get_column("period").drop_nulls().to_list())
    kinds = [k for k, present in (("annual", "FY" in periods), ("quarterly", bool(periods - {"FY"}))) if present]
    return " + ".join(kinds)


@dataclass(frozen=True)
class CompanyLoad:
    ticker: str
    frame: pl.DataFrame
    attempts: list[Attempt]
    coverage: str
    payloads: int
    unmapped: set[str]
    unreadable: int
    mismatches: int


def _load_company(
    spec: TableSpec, ticker: str, cik: str, fmp: FmpResource, limits: dict[str, int], payloads_archive: PayloadArchive
) -> CompanyLoad:
    with fmp.session() as session:
        payloads = fetch_plan(session, spec, ticker, limits)
        attempts = list(session.attempts)
    parts = []
    unmapped: set[str] = set()
    unreadable = mismatches = 0
    for payload in payloads:
        result = payload.result
        payloads_archive.put(
            "fmp", result.url, result.content, status=result.status, fetched_at=result.fetched_at, partition_key=ticker
        )
        try:
            normalized = normalize(
                spec,
                payload.rows,
                ticker=ticker,
                api=payload.api,
                payload_sha256=result.sha256,
                fetched_at=result.fetched_at,
            )
        except (AttributeError, KeyError, TypeError, ValueError, pa.ArrowException, pl.exceptions.PolarsError) as exc:
            raise MalformedPayload(
                ticker,
                cik,
                spec.endpoint,
                f"{result.url}: {type(exc).__name__}: {exc}",
                field=_bad_row_field(payload.rows),
                payload_sha256=result.sha256,
            ) from exc
        parts.append((payload.api, normalized.frame))
        unmapped.update(normalized.unmapped_fields)
        unreadable += normalized.unreadable_values
        mismatches += normalized.symbol_mismatches
    frame = merge(spec, parts)
    coverage = _coverage(spec, ticker, frame, attempts)
    return CompanyLoad(ticker, frame, attempts, coverage, len(payloads), unmapped, unreadable, mismatches)


def _bad_row_field(rows: Sequence[object]) -> str:
    """Where a response's rows stop being JSON objects (the usual shape of a malformed FMP answer)."""
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"[{i}]"
    return "(rows)"


def _currency_expected(ticker: str, frame: pl.DataFrame) -> str | None:
    """Statement values in a currency that is no ISO 4217 code are flagged before they are written."""
    if "reported_currency" not in frame.columns or frame.is_empty():
        return None
    currencies = frame.get_column("reported_currency").drop_nulls().unique().to_list()
    odd = sorted(c for c in currencies if c not in CURRENCIES)
    if not odd:
        return None
    sample = frame.filter(pl.col("reported_currency").is_in(odd)).row(0, named=True)
    return (
        f"unexpected reported_currency {', '.join(repr(c) for c in odd)} (not an ISO 4217 code; first: period "
        f"ending {sample.get('date')}, {sample.get('period')}, api {sample.get('api')})"
    )


def _materialize(
    context: dg.AssetExecutionContext,
    spec: TableSpec,
    frame_checks: Sequence[FrameCheck],
    fmp: FmpResource,
    archive: RawArchiveResource,
    lakehouse: LakehouseResource,
    ingest: IngestPolicyResource,
) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
    """Every company of the run in turn (FMP's budget is per key: one request at a time), one commit."""
    key = asset_key(spec)
    keys = list(context.partition_keys)
    limits = fmp.limits()
    lake = lakehouse.lakehouse()
    ciks = known_ciks(lake, keys)
    step = CompanyStep(
        context,
        key,
        endpoint=spec.endpoint,
        ciks=ciks,
        lakehouse=lake,
        max_shrink=ingest.max_shrink,
        accept_shrink=ingest.accept_shrink,
    )
    payloads_archive = archive.archive()
    loaded = step.load(keys, lambda t: _load_company(spec, t, ciks.get(t, "?"), fmp, limits, payloads_archive), ahead=1)
    loads = [loaded[t] for t in keys if t in loaded]
    for load in loads:  # FMP's statements carry the CIK: name it where SEC's map is not loaded
        if load.ticker not in ciks and "cik" in load.frame.columns and load.frame.height:
            ciks[load.ticker] = load.frame.get_column("cik").drop_nulls().first() or "?"
    frames = step.validate({load.ticker: load.frame for load in loads}, (_currency_expected,))
    payloads_archive.commit_index(lake, run_id=context.run.run_id, asset_key=key.to_user_string(), partition_key=None)

    for load in loads:
        if load.frame.is_empty():
            context.log.warning(f"{spec.table}[{load.ticker}]: {load.coverage}; the partition is written empty.")
        if load.mismatches:
            context.log.warning(f"{spec.table}[{load.ticker}]: {load.mismatches} rows carry another symbol.")
    written = [load for load in loads if load.ticker in frames]
    frame = pl.concat([load.frame for load in written], how="vertical") if written else spec.empty()
    unmapped = set().union(*(load.unmapped for load in written))
    unreadable = sum(load.unreadable for load in written)
    by_api = frame.group_by("api").len().sort("api")
    attempts = [a for load in loads for a in load.attempts]
    metadata: Metadata = {
        "rows": frame.height,
        "fmp_coverage": "; ".join(f"{load.ticker}: {load.coverage}" for load in loads)
        if len(loads) > 1
        else (loads[0].coverage if loads else "none"),
        "rows_by_api": ", ".join(f"{a}={n}" for a, n in by_api.iter_rows()) or "none",
        "requests": dg.MetadataValue.md(_requests_table(attempts)),
        "payloads_archived": sum(load.payloads for load in loads),
        "unmapped_fields": ", ".join(sorted(unmapped)) or "none",
        "unreadable_values": unreadable,
        "symbol_mismatches": sum(load.mismatches for load in written),
    }
    if len(keys) == 1:
        metadata["ticker"] = keys[0]
    if spec.periodic and not frame.is_empty():
        metadata |= {
            "earliest_period_end": str(frame.get_column("date").min()),
            "latest_period_end": str(frame.get_column("date").max()),
            "annual_rows": frame.filter(pl.col("period") == "FY").height,
            "quarterly_rows": frame.filter(pl.col("period") != "FY").height,
        }
    per_company = {load.ticker: {"rows": load.frame.height, "fmp_coverage": load.coverage} for load in written}

    def fields_check(_: pl.DataFrame, __: list[str]) -> Iterator[dg.AssetCheckResult]:
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=FIELDS_CHECK,
            passed=not unmapped and not unreadable,
            severity=WARN,
            metadata={"unmapped_fields": ", ".join(sorted(unmapped)) or "none", "unreadable_values": unreadable},
        )

    yield from step.finish(
        frames,
        metadata=metadata,
        per_company=per_company,
        frame_checks=frame_checks,
        extra_checks=fields_check,
        empty=spec.empty(),
    )


def _fmp_asset(spec: TableSpec, frame_checks: Sequence[FrameCheck]) -> dg.AssetsDefinition:
    key = asset_key(spec)

    @company_asset(
        key=key,
        group_name=BRONZE,
        kinds={"iceberg", "python"},
        pool=FMP_POOL,
        metadata={
            "dagster/column_schema": _column_schema(spec),
            "fmp/endpoint": spec.endpoint,
        },
        check_specs=[
            *checks.specs(key, frame_checks),
            dg.AssetCheckSpec(
                FIELDS_CHECK,
                asset=key,
                description=(
                    "Every field FMP returned is mapped to a column or knowingly ignored, and every value "
                    "parsed as its column's type (a red check means FMP changed its payload)."
                ),
            ),
        ],
        description=f"{spec.description} From FMP /{spec.endpoint} (stable API, legacy v3 as fallback).",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        fmp: FmpResource,
        archive: RawArchiveResource,
        lakehouse: LakehouseResource,
        ingest: IngestPolicyResource,
    ) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
        yield from _materialize(context, spec, frame_checks, fmp, archive, lakehouse, ingest)

    return _asset


fmp_profile = _fmp_asset(PROFILE, PROFILE_CHECKS)
fmp_income_statement = _fmp_asset(INCOME, _period_checks(INCOME))
fmp_balance_sheet = _fmp_asset(BALANCE, _period_checks(BALANCE))
fmp_cash_flow = _fmp_asset(CASH_FLOW, _period_checks(CASH_FLOW))
fmp_key_metrics = _fmp_asset(KEY_METRICS, _period_checks(KEY_METRICS))
fmp_ratios = _fmp_asset(RATIOS, _period_checks(RATIOS))
