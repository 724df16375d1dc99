"""One company never blocks another: the per-company outcome of a run over a range of company partitions.

Why this mechanism (checked in Dagster 1.13's source, ``_core/storage/partition_status_cache.py`` and
``_core/execution/asset_backfill.py``): Dagster marks a partition *failed* when a run planned it, did not
record a materialization of it, and ended in FAILURE; a ranged backfill run's failed partitions are its
range minus what it materialized. So :class:`CompanyStep` writes the good companies itself (one atomic
Iceberg overwrite of exactly their partitions), emits one ``dg.AssetMaterialization`` per good partition
(with the Iceberg snapshot id), yields the checks, and then raises ``dg.Failure`` naming the bad companies:
the step fails, Dagster shows exactly the bad partitions as failed, and "re-run failed" (or
``cli materialize --failed``) retries only those. When every company succeeds the step yields a normal
``dg.Output(None)`` instead, so downstream steps of the same run still run. A ``dg.Output`` of a range
would mark every partition of the range materialized, which is why it cannot be used on partial success;
Dagster has no per-partition output for one step (a partition-keyed ``MaterializeResult`` does not exist).

The same step serves every Bronze asset whose partitions are independent source entities: companies
(partition = ticker, ``key_column="ticker"``), 13F managers (``manager_cik``) and 13F filings
(``filing_key``, two tables written together through ``companions``). "Company" below stands for the
partition's entity; its status row keeps the partition key in the column ``ticker`` and the entity's CIK
(the manager's, for a 13F filing) in ``cik``.

Every company's attempt is also a row of ``bronze.ingest_status`` (appended in the same run) and the
check ``companies_loaded`` fails naming each bad company with its status and reason.

The checks that guard a company's data run before the write (:meth:`CompanyStep.validate`): a payload
that would empty a loaded company, or shrink it by more than ``INGEST_MAX_SHRINK``, is rejected and
the company's loaded rows stay.

**An unchanged company writes nothing** (:meth:`CompanyStep.unchanged`): when a company's new rows equal the
rows already loaded (a conditional GET answered 304 and served the cached body, or the source sent the same
bytes again), its table gets no new Iceberg snapshot; the run still reports the company (metadata
``companies_unchanged``, ``unchanged: true`` per partition) and its ``bronze.ingest_status`` row. So the
snapshots of a Bronze table change exactly when a company's data does, which is what the incremental dbt
build reads to find the companies to rebuild (``finance_assets/transform/incremental.py``). The test is on
the rows, not on the payload hash alone: a parser change that turns the same bytes into different rows is a
change and is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysFalse, In

from finance_assets.core import checks
from finance_assets.core.checks import Metadata
from finance_assets.core.http import MalformedPayloadError, NotFoundError, SourceError
from finance_assets.core.iceberg import ArrowChunks, IcebergLakehouse, WriteResult, conform_to
from finance_assets.core.io_manager import write_metadata
from finance_assets.core.names import INGEST_STATUS_TABLE, SEC_COMPANY_TICKERS, table_name
from finance_assets.core.sources import fetch_each

R = TypeVar("R")

OK = "ok"
NOT_FOUND = "not_found"
MALFORMED = "malformed"
SOURCE_ERROR = "source_error"
INCOMPLETE_FILING_INDEX = "incomplete_filing_index"
REJECTED = "rejected"
STATUSES = (OK, NOT_FOUND, MALFORMED, SOURCE_ERROR, INCOMPLETE_FILING_INDEX, REJECTED)
# Statuses whose company is written (a warning at most); every other status fails the company's partition.
WRITTEN = (OK, INCOMPLETE_FILING_INDEX)

COMPANIES_CHECK = "companies_loaded"
# metadata key of the step failure: {partition key: status} of every company that failed
FAILED_STATUSES = "failed_statuses"

STATUS_SCHEMA = {
    "ticker": pl.String,
    "cik": pl.String,
    "asset_key": pl.String,
    "endpoint": pl.String,
    "status": pl.String,
    "error": pl.String,
    "field": pl.String,
    "rows": pl.Int64,
    "attempted_at": pl.Datetime("us", "UTC"),
    "payload_sha256": pl.String,
    "run_id": pl.String,
}


class CompanyError(Exception):
    """One company of a run could not be loaded; the text names ticker, CIK, endpoint and the reason."""

    status: ClassVar[str] = SOURCE_ERROR

    def __init__(
        self,
        ticker: str,
        cik: str,
        endpoint: str,
        detail: str,
        *,
        field: str | None = None,
        payload_sha256: str | None = None,
    ) -> None:
        self.ticker, self.cik, self.endpoint, self.detail = ticker, cik, endpoint, detail
        self.field, self.payload_sha256 = field, payload_sha256
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.ticker} (CIK {self.cik}) {self.endpoint}: {self.detail}"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across Dagster's processes
        return (
            _rebuild,
            (type(self), self.ticker, self.cik, self.endpoint, self.detail, self.field, self.payload_sha256),
        )


def _rebuild(cls: type[CompanyError], *args: Any) -> CompanyError:
    ticker, cik, endpoint, detail, field_, sha = args
    return cls(ticker, cik, endpoint, detail, field=field_, payload_sha256=sha)


class NotFound(CompanyError):
    """The source has no such payload for the company (HTTP 404)."""

    status = NOT_FOUND


class SourceFailed(CompanyError):
    """The source did not answer usefully after every retry (429/5xx/timeouts, auth)."""

    status = SOURCE_ERROR


class MalformedPayload(CompanyError):
    """The payload arrived but is not what the endpoint documents (truncated JSON, a wrongly typed field)."""

    status = MALFORMED

    def describe(self) -> str:
        where = f", field {self.field}" if self.field else ""
        return f"{self.ticker} (CIK {self.cik}) {self.endpoint}: malformed payload{where}: {self.detail}"


class Rejected(CompanyError):
    """The payload parsed but fails a guard of the company's data; its loaded rows stay (validate before commit)."""

    status = REJECTED


def company_error(exc: BaseException, ticker: str, cik: str, endpoint: str) -> CompanyError | None:
    """``exc`` as the company's error, or None when it is not about the company (a bug: re-raised)."""
    if isinstance(exc, CompanyError):
        return exc
    if isinstance(exc, NotFoundError):
        return NotFound(ticker, cik, endpoint, f"{exc.url} answered 404")
    if isinstance(exc, MalformedPayloadError):
        return MalformedPayload(ticker, cik, endpoint, str(exc), field="(body)")
    if isinstance(exc, SourceError):
        return SourceFailed(ticker, cik, endpoint, str(exc))
    return None


class SpooledFrames(Mapping[str, pl.DataFrame]):
    """Companies' frames on local disk, one Parquet file each, read back one at a time.

    For a step whose memory must be bounded by one company however many it covers (the bulk load of SEC's
    archives): :class:`CompanyStep` validates, writes (each company's file one chunk of the same single
    commit, :class:`~finance_assets.core.iceberg.ArrowChunks`) and checks a spool company by company, and
    never holds two companies' frames at once. ``folder`` is scratch (a run's temporary directory).
    """

    def __init__(self, folder: Path, files: Mapping[str, Path] | None = None, rows: Mapping[str, int] | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, Path] = dict(files or {})
        self.rows: dict[str, int] = dict(rows or {})

    def add(self, key: str, frame: pl.DataFrame) -> None:
        path = self.folder / f"{len(self._files):06d}.parquet"
        frame.write_parquet(path, compression="lz4")
        self._files[key] = path
        self.rows[key] = frame.height

    def __getitem__(self, key: str) -> pl.DataFrame:
        return pl.read_parquet(self._files[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def subset(self, keys: Iterable[str]) -> SpooledFrames:
        keep = [k for k in keys if k in self._files]
        return SpooledFrames(self.folder, {k: self._files[k] for k in keep}, {k: self.rows[k] for k in keep})

    def chunks(self) -> ArrowChunks:
        """The spooled rows for the writer: one company's table at a time, re-readable for a commit retry."""
        files = list(self._files.values())

        def open_() -> Iterator[Any]:
            for path in files:
                yield pq.read_table(path)

        return ArrowChunks(pq.read_schema(files[0]), open_)


def _height(frames: Mapping[str, pl.DataFrame], key: str) -> int:
    return frames.rows[key] if isinstance(frames, SpooledFrames) else frames[key].height


@dataclass
class Outcome:
    ticker: str
    status: str
    error: str = ""
    endpoint: str = ""
    field: str | None = None
    rows: int | None = None
    payload_sha256: str | None = None


@dataclass
class CompanyStep:
    """The outcome of every company of one step: load each, validate, write the good ones, report the rest.

    Used by every company-partitioned Bronze asset (EDGAR and FMP): :meth:`load` the companies, then
    :meth:`finish` with each good company's frame; ``finish`` yields the events and raises ``dg.Failure``
    naming the bad companies (see the module docstring for why).
    """

    context: dg.AssetExecutionContext
    asset_key: dg.AssetKey
    endpoint: str
    ciks: Mapping[str, str]
    lakehouse: IcebergLakehouse
    max_shrink: float = 0.5
    accept_shrink: bool = False
    partition_by: Sequence[str] = ("identity(ticker)",)
    # the column holding the partition key in the written tables (a 13F filing: filing_key)
    key_column: str = "ticker"
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return list(self.context.partition_keys)

    # ---- loading --------------------------------------------------------------------------------------------
    def fail(self, error: CompanyError) -> None:
        self.outcomes[error.ticker] = Outcome(
            error.ticker,
            error.status,
            error.describe(),
            error.endpoint,
            error.field,
            payload_sha256=error.payload_sha256,
        )
        self.context.log.warning(error.describe())

    def note(self, ticker: str, status: str, detail: str) -> None:
        """A company that is written, with a warning status (e.g. ``incomplete_filing_index``)."""
        self.outcomes[ticker] = Outcome(ticker, status, detail, self.endpoint)
        self.context.log.warning(f"{ticker} (CIK {self.ciks.get(ticker, '?')}) {self.endpoint}: {detail}")

    def load(self, keys: Iterable[str], load: Callable[[str], R], *, ahead: int = 4) -> dict[str, R]:
        """``load`` every company (fetches overlap under the shared rate limit); failures are recorded."""
        loaded: dict[str, R] = {}
        for ticker, outcome in fetch_each(keys, load, ahead=ahead):
            if isinstance(outcome, Exception):
                error = company_error(outcome, ticker, self.ciks.get(ticker, "?"), self.endpoint)
                if error is None:
                    raise outcome
                self.fail(error)
            else:
                loaded[ticker] = outcome
        return loaded

    # ---- validate before commit ------------------------------------------------------------------------------
    def loaded_rows(self, tickers: Sequence[str]) -> dict[str, int]:
        """Each company's rows in the table's current snapshot (0 for a company or table not loaded yet)."""
        name = table_name(self.asset_key)
        if not tickers or not self.lakehouse.table_exists(name):
            return {}
        frame = self.lakehouse.read(name, In(self.key_column, set(tickers)), columns=[self.key_column])
        return dict(frame.group_by(self.key_column).len().iter_rows())

    def validate(
        self,
        frames: Mapping[str, pl.DataFrame],
        guards: Sequence[Callable[[str, pl.DataFrame], str | None]] = (),
    ) -> dict[str, pl.DataFrame]:
        """The frames that pass every guard; each other company is ``rejected`` with the reason, its rows kept.

        Always: a company whose rows were loaded gets no empty payload, and its row count may shrink by at
        most ``max_shrink`` unless ``accept_shrink``. ``guards``: the asset's own (values present, units).
        """
        before = self.loaded_rows(list(frames))
        good: dict[str, pl.DataFrame] = {}
        for ticker, frame in frames.items():
            reason = None
            previous = before.get(ticker, 0)
            if previous and frame.is_empty():
                reason = f"the payload has no rows, {previous} rows are loaded: kept the loaded rows"
            elif previous and not self.accept_shrink and frame.height < (1 - self.max_shrink) * previous:
                reason = (
                    f"row count would fall from {previous} to {frame.height} (more than INGEST_MAX_SHRINK="
                    f"{self.max_shrink:.0%}): kept the loaded rows; set INGEST_ACCEPT_SHRINK=true (or the run's "
                    "ingest resource accept_shrink) to accept a legitimate shrink"
                )
            for guard in guards:
                reason = reason or guard(ticker, frame)
            if reason:
                sha = _first(frame, "payload_sha256")
                self.fail(Rejected(ticker, self.ciks.get(ticker, "?"), self.endpoint, reason, payload_sha256=sha))
            elif isinstance(frames, SpooledFrames):
                good[ticker] = None  # type: ignore[assignment]  # read back from the spool, not held
            else:
                good[ticker] = frame
        return frames.subset(good) if isinstance(frames, SpooledFrames) else good  # type: ignore[return-value]

    # ---- unchanged companies write nothing -------------------------------------------------------------------
    def unchanged(self, frames: Mapping[str, pl.DataFrame], asset_key: dg.AssetKey | None = None) -> set[str]:
        """The companies whose loaded rows already equal their new frame (writing them would only add a snapshot).

        First the cheap test, on the key and ``payload_sha256`` columns only: same row count and same payload
        hashes (a 304 serves the cached body, so its rows carry the same hash). Only those candidates' rows are
        then read and compared as multisets of rows (order-free), after conforming the new frame to the table's
        schema exactly as the writer would.
        """
        name = table_name(asset_key or self.asset_key)
        if not frames or not self.lakehouse.table_exists(name):
            return set()
        table = self.lakehouse.load(name)
        columns = {f.name for f in table.schema().fields}
        probe = [self.key_column] + (["payload_sha256"] if "payload_sha256" in columns else [])
        loaded = self.lakehouse.read(name, In(self.key_column, set(frames)), columns=probe)
        candidates = []
        for ticker in frames:
            mine = loaded.filter(pl.col(self.key_column) == ticker)
            if mine.is_empty() or mine.height != _height(frames, ticker):  # a spool knows its row counts
                continue
            frame = frames[ticker]
            hashed = "payload_sha256" in probe and "payload_sha256" in frame.columns
            if hashed and set(mine.get_column("payload_sha256")) != set(frame.get_column("payload_sha256")):
                continue
            candidates.append(ticker)
        if not candidates:
            return set()
        target = table.schema().as_arrow()
        rows = self.lakehouse.read(name, In(self.key_column, set(candidates)))
        same = set()
        for ticker in candidates:
            new = pl.from_arrow(conform_to(frames[ticker], target))
            old = rows.filter(pl.col(self.key_column) == ticker).select(new.columns)
            assert isinstance(new, pl.DataFrame)
            if old.hash_rows().sort().equals(new.hash_rows().sort()):
                same.add(ticker)
        return same

    # ---- commit and report ----------------------------------------------------------------------------------
    def write(self, frames: Mapping[str, pl.DataFrame], asset_key: dg.AssetKey | None = None) -> WriteResult | None:
        """One atomic overwrite of exactly the good companies' partitions (None when there are none).

        ``asset_key``: a companion table of the same step (default: the step's asset). Call it with the
        changed companies only (:meth:`unchanged`).
        """
        if not frames:
            return None
        key = asset_key or self.asset_key
        data = (
            frames.chunks()
            if isinstance(frames, SpooledFrames)
            else pl.concat(list(frames.values()), how="diagonal_relaxed")
        )
        return self.lakehouse.write(
            table_name(key),
            data,
            replace=In(self.key_column, set(frames)),
            partition_by=list(self.partition_by),
            snapshot_properties={
                "dagster.run-id": self.context.run.run_id,
                "dagster.asset-key": key.to_user_string(),
                "dagster.partition-key": ",".join(frames),
            },
        )

    def status_rows(self, frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
        now = datetime.now(UTC)
        rows = []
        for ticker in self.keys:
            outcome = self.outcomes.get(ticker) or Outcome(ticker, OK, "", self.endpoint)
            written = outcome.status in WRITTEN and ticker in frames
            frame = frames[ticker] if written else None  # a spool reads one company back at a time
            rows.append(
                {
                    "ticker": ticker,
                    "cik": self.ciks.get(ticker),
                    "asset_key": self.asset_key.to_user_string(),
                    "endpoint": outcome.endpoint or self.endpoint,
                    "status": outcome.status,
                    "error": outcome.error or None,
                    "field": outcome.field,
                    "rows": _height(frames, ticker) if written else None,
                    "attempted_at": now,
                    "payload_sha256": outcome.payload_sha256 or (_first(frame, "payload_sha256") if written else None),
                    "run_id": self.context.run.run_id,
                }
            )
        return pl.DataFrame(rows, schema=STATUS_SCHEMA)

    def finish(
        self,
        frames: Mapping[str, pl.DataFrame],
        *,
        metadata: Metadata,
        per_company: Mapping[str, Metadata] | None = None,
        frame_checks: Sequence[checks.FrameCheck] = (),
        extra_checks: Callable[[pl.DataFrame, list[str]], Iterable[dg.AssetCheckResult]] | None = None,
        empty: pl.DataFrame | None = None,
        output_name: str = "result",
        companions: Mapping[dg.AssetKey, tuple[str, Mapping[str, pl.DataFrame]]] | None = None,
    ) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
        """Write the good companies, record every attempt, yield events and checks, fail naming the bad ones.

        ``frames``: the validated frame of every company to write. ``empty``: a frame with the table's
        columns, for the checks when no company was written. ``output_name``: the step asset's output (a
        multi-asset's). ``companions``: further assets of the same multi-asset step, as asset key ->
        (output name, frame of each good company); they are written for the same companies (a company's rows
        of every table, or none) and materialized per good partition like the step's own asset.
        """
        companions = {k: (name, {t: f.get(t) for t in frames}) for k, (name, f) in (companions or {}).items()}
        same_main = self.unchanged(frames)
        same = set(same_main)  # unchanged in every table of the step
        changed = [t for t in frames if t not in same_main]
        # a spool stays a spool (written chunk by chunk from its files), a dict stays a dict
        to_write = frames.subset(changed) if isinstance(frames, SpooledFrames) else {t: frames[t] for t in changed}
        result = self.write(to_write)
        companion_meta: dict[dg.AssetKey, Metadata] = {}
        for key, (_, parts) in companions.items():
            written_parts = {t: f for t, f in parts.items() if f is not None}
            same_parts = self.unchanged(written_parts, key)
            same &= same_parts | {t for t, f in parts.items() if f is None}  # unchanged: in every table
            companion_result = self.write({t: f for t, f in written_parts.items() if t not in same_parts}, key)
            if companion_result is not None:
                replaced = In(self.key_column, set(written_parts) - same_parts)
                companion_meta[key] = write_metadata(companion_result, replaced)
        status = self.status_rows(frames)
        self.lakehouse.write(INGEST_STATUS_TABLE, status, replace=AlwaysFalse())
        written = list(frames)
        bad = status.filter(~pl.col("status").is_in(WRITTEN))
        counts = dict(status.group_by("status").len().iter_rows())
        run_metadata: Metadata = {
            **metadata,
            "companies": len(self.keys),
            "companies_written": len(written) - len(same),
            # loaded and equal to the rows already in the table: no new snapshot for them
            "companies_unchanged": len(same),
            "unchanged_companies": ", ".join(sorted(same)) or "none",
            "companies_failed": bad.height,
            "status_counts": ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            "failed_companies": _failed_table(bad) if bad.height else "none",
        }
        write_meta = write_metadata(result, In("ticker", set(written) - same_main)) if result else {}
        if bad.is_empty():
            yield dg.Output(None, output_name=output_name, metadata={**run_metadata, **write_meta})
            for key, (name, parts) in companions.items():
                rows = sum(f.height for f in parts.values() if f is not None)
                yield dg.Output(None, output_name=name, metadata={"rows": rows, **companion_meta.get(key, {})})
        else:
            for ticker in written:
                yield dg.AssetMaterialization(
                    asset_key=self.asset_key,
                    partition=ticker,
                    metadata={
                        "ticker": ticker,
                        "cik": self.ciks.get(ticker, ""),
                        "rows": _height(frames, ticker),
                        "status": self.outcomes.get(ticker, Outcome(ticker, OK)).status,
                        "unchanged": ticker in same,
                        **(per_company or {}).get(ticker, {}),
                        **write_meta,
                    },
                )
                for key, (_, parts) in companions.items():
                    part = parts.get(ticker)
                    yield dg.AssetMaterialization(
                        asset_key=key,
                        partition=ticker,
                        metadata={"rows": 0 if part is None else part.height, **companion_meta.get(key, {})},
                    )
        if isinstance(frames, SpooledFrames):  # company by company: memory bounded by one company
            yield from checks.results_by_partition(self.asset_key, frames.items(), frame_checks)
            if extra_checks is not None and empty is not None:
                yield from extra_checks(empty, written)
            checked = None
        else:
            checked = pl.concat(list(frames.values()), how="diagonal_relaxed") if frames else empty
        if checked is not None:
            yield from checks.results(self.asset_key, checked, frame_checks, partition_keys=written)
            if extra_checks is not None:
                yield from extra_checks(checked, written)
        yield dg.AssetCheckResult(
            asset_key=self.asset_key,
            check_name=COMPANIES_CHECK,
            passed=bad.is_empty(),
            metadata={
                "companies": len(self.keys),
                "failed": ", ".join(bad.get_column("ticker").to_list()) or "none",
                "reasons": _failed_table(bad) if bad.height else "none",
            },
        )
        if not bad.is_empty():
            reasons = " ".join(f"[{r['status']}] {r['error']}" for r in bad.iter_rows(named=True))
            kept = f" The other {len(written)} companies of this run were written." if written else ""
            raise dg.Failure(
                description=(
                    f"{bad.height} of {len(self.keys)} companies of {self.asset_key.to_user_string()} failed: "
                    f"{reasons}{kept} Their rows are unchanged; see bronze.ingest_status. Re-run only the failed "
                    "partitions once the source is fixed (UI: re-execute failed, or cli materialize --failed)."
                ),
                metadata={
                    "failed_companies": ", ".join(bad.get_column("ticker").to_list()),
                    # ticker -> status: what a launcher reads to tell a data gap from an error
                    FAILED_STATUSES: dg.MetadataValue.json(dict(bad.select("ticker", "status").iter_rows())),
                },
            )


def known_ciks(lakehouse: IcebergLakehouse, tickers: Sequence[str]) -> dict[str, str]:
    """The CIK of each ticker from SEC's ticker map (``bronze.sec_company_tickers``) where it is loaded.

    For sources keyed by ticker alone (FMP): their errors still name the company's CIK.
    """
    name = table_name(SEC_COMPANY_TICKERS)
    if not tickers or not lakehouse.table_exists(name):
        return {}
    wanted = {t.upper().replace(".", "-"): t for t in tickers}
    frame = lakehouse.read(name, In("ticker", set(wanted)), columns=["ticker", "cik"])
    return {wanted[t]: c for t, c in frame.iter_rows() if t in wanted}


def _first(frame: pl.DataFrame | None, column: str) -> str | None:
    if frame is None or frame.is_empty() or column not in frame.columns:
        return None
    value = frame.get_column(column)[0]
    return None if value is None else str(value)


def _failed_table(bad: pl.DataFrame) -> dg.MetadataValue:
    lines = ["| ticker | cik | status | reason |", "|---|---|---|---|"]
    for row in bad.iter_rows(named=True):
        reason = (row["error"] or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {row['ticker']} | {row['cik']} | {row['status']} | {reason} |")
    return dg.MetadataValue.md("\n".join(lines))


def companies_check_spec(asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        COMPANIES_CHECK,
        asset=asset_key,
        description=(
            "Every company of the run was loaded and written; a failure names each company (ticker, CIK) with "
            "its status (not_found, malformed, source_error, rejected) and reason (also in bronze.ingest_status)."
        ),
    )
