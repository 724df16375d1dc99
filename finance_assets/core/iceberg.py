"""The one Iceberg reader/writer every Python asset goes through.

Why our own and not dagster-iceberg: dagster-iceberg pins pyiceberg below 0.12, which has no commit
retry at all, and concurrent partition writers then lose rows (see the stack notes). Here every write is
an atomic overwrite of exactly the rows it replaces (a Dagster partition, or the whole table). Commits are
retried at two levels: pyiceberg's own ``commit.retry.*`` table properties re-apply a transaction to the
refreshed metadata (quick races), and ONE tenacity policy (:meth:`IcebergLakehouse.commit`) reloads the
table and re-runs the whole operation when pyiceberg gives up or its conflict validation fails. Either
the whole write lands in one commit or nothing does.

Litter: a commit that fails leaves nothing behind. pyiceberg deletes the manifests of a failed commit;
the writer deletes the data files the failed attempt wrote (:func:`discard_uncommitted`), and the
catalog deletes the metadata file of a commit that lost the compare-and-swap
(:class:`LakehouseSqlCatalog`). What a killed process leaves is removed by the maintenance job
(``finance_assets/maintenance``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    YearTransform,
)
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from finance_assets.core import iceberg_partitions
from finance_assets.core.names import CATALOG_NAME, NAMESPACES
from finance_assets.core.settings import Settings

log = logging.getLogger("finance_assets.iceberg")

# Table properties set on every table we create. Retries inside pyiceberg cover quick races; the one
# tenacity policy of IcebergLakehouse.commit covers the rest (conflict validation failures, exhausted retries).
DEFAULT_TABLE_PROPERTIES: dict[str, str] = {
    "commit.retry.num-retries": "20",
    "commit.retry.min-wait-ms": "50",
    "commit.retry.max-wait-ms": "2000",
    "commit.retry.total-timeout-ms": "120000",
    "write.parquet.compression-codec": "zstd",
    "format-version": "2",
}

iceberg_partitions.install()  # partitioned writes split in one sort, not one scan per company (see module)

# IcebergLakehouse.commit: attempts of the whole operation, and the cap of its jittered exponential wait
COMMIT_ATTEMPTS = 10
COMMIT_MAX_WAIT_SECONDS = 5.0
# What guarantees that a commit did not land (pyiceberg: "safe to delete the files written for it").
CONFLICTS: tuple[type[Exception], ...] = (CommitFailedException, ValidationException)

ALWAYS_TRUE: BooleanExpression = AlwaysTrue()
T = TypeVar("T")
_TRANSFORM = re.compile(r"^(identity|year|month|day|bucket)\((\w+)(?:,(\d+))?\)$")


class IcebergWriteError(RuntimeError):
    """A write could not be committed; the table is left at its previous snapshot."""


@dataclass(frozen=True)
class ArrowChunks:
    """Rows to write that need not fit in memory at once: ``open()`` yields them as tables of bounded size.

    Each call to ``open()`` starts from the first row again (a commit retry re-reads the rows), so the
    source must be re-readable: :meth:`parquet` streams a Parquet file (e.g. dbt's model output).
    """

    schema: pa.Schema
    open: Callable[[], Iterator[pa.Table]]

    @classmethod
    def parquet(cls, path: str, *, chunk_bytes: int = 128 << 20) -> ArrowChunks:
        """The rows of a Parquet file in tables of about ``chunk_bytes`` (decoded; at least one 64k-row batch)."""
        import pyarrow.parquet as pq

        def chunks() -> Iterator[pa.Table]:
            pending: list[pa.RecordBatch] = []
            size = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=64 * 1024):
                pending.append(batch)
                size += batch.nbytes
                if size >= chunk_bytes:
                    yield pa.Table.from_batches(pending)
                    pending, size = [], 0
            if pending:
                yield pa.Table.from_batches(pending)

        return cls(pq.read_schema(path), chunks)


@dataclass(frozen=True)
class WriteResult:
    table: str
    rows: int
    snapshot_id: int | None
    metadata_location: str
    schema: pa.Schema
    attempts: int


def parse_partition_by(specs: Sequence[str]) -> list[tuple[str, Transform, str]]:
    """``["identity(ticker)", "month(date)", "bucket(cik, 16)"]`` -> (column, transform, field name)."""
    parsed = []
    for spec in specs:
        match = _TRANSFORM.match(spec.replace(" ", ""))
        if not match:
            raise ValueError(
                f"Unrecognised partition transform {spec!r}; use identity|year|month|day|bucket(col[, n])."
            )
        kind, column, n = match.groups()
        transform: Transform = {
            "identity": IdentityTransform,
            "year": YearTransform,
            "month": MonthTransform,
            "day": DayTransform,
        }.get(kind, IdentityTransform)()
        if kind == "bucket":
            transform = BucketTransform(int(n or 16))
        name = column if kind == "identity" else f"{column}_{kind}"
        parsed.append((column, transform, name))
    return parsed


def to_arrow(data: pl.DataFrame | pa.Table) -> pa.Table:
    """Normalise a frame to what Iceberg stores: no dictionaries, microsecond timestamps, nullable fields."""
    table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        if pa.types.is_timestamp(t) and t.unit in ("ns", "s", "ms"):
            t = pa.timestamp("us", tz=t.tz)
        if pa.types.is_null(t):  # an all-null column of unknown type: the table's type wins in _conform
            t = pa.string()
        if pa.types.is_unsigned_integer(t):
            t = pa.int64()
        if t in (pa.int8(), pa.int16()):
            t = pa.int32()
        if pa.types.is_large_list(t) or pa.types.is_list_view(t):
            t = pa.list_(t.value_type)
        fields.append(pa.field(f.name, t, nullable=True))
    return table.cast(pa.schema(fields))


class LakehouseSqlCatalog(SqlCatalog):
    """pyiceberg's SqlCatalog, deleting the metadata file of a commit that lost the race.

    ``SqlCatalog.commit_table`` writes the new ``*.metadata.json`` and then swaps the catalog pointer
    with a compare-and-swap; when another writer moved the pointer first it raises
    ``CommitFailedException`` and leaves the file behind, one per lost race (and pyiceberg retries up to
    ``commit.retry.num-retries`` times). pyiceberg offers no hook for it, so this records the files
    written by the current thread's commit and deletes them when that commit failed. A failed
    compare-and-swap guarantees nothing references the file.
    """

    _written = threading.local()

    def _write_metadata(self, metadata: TableMetadata, io: FileIO, metadata_path: str) -> None:  # type: ignore[override]
        SqlCatalog._write_metadata(metadata, io, metadata_path)
        getattr(self._written, "paths", []).append((io, metadata_path))

    def commit_table(self, table: Table, requirements: Any, updates: Any) -> Any:
        self._written.paths = []
        try:
            return super().commit_table(table, requirements, updates)
        except CommitFailedException:
            for io, path in self._written.paths:
                with contextlib.suppress(Exception):
                    io.delete(path)
            raise
        finally:
            self._written.paths = []


def _log_retry(name: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "commit to %s conflicted (%s), retrying %s/%s in %.2fs",
            name,
            type(exc).__name__,
            state.attempt_number,
            COMMIT_ATTEMPTS,
            state.next_action.sleep if state.next_action else 0.0,
        )

    return before_sleep


#: Chunks are appended in batches of about this many Arrow bytes. Each ``Transaction.append`` is a snapshot
#: of its own with a manifest of its own (kept by every later fast append), so one append per chunk made a
#: bulk load of 100 companies 100 snapshots and 100 manifests per table, and every later scan, delete and
#: commit read them all: a load slowed down with every company already loaded. A batch keeps memory bounded
#: by the budget (plus one chunk) and the manifests by the data, not by the number of companies.
APPEND_BATCH_BYTES = 128 * 2**20


def _batched(chunks: Iterable[Any], target: pa.Schema) -> Iterator[pa.Table]:
    """The chunks conformed to ``target`` and concatenated into tables of about ``APPEND_BATCH_BYTES``."""
    batch: list[pa.Table] = []
    size = 0
    for chunk in chunks:
        table = _conform(to_arrow(chunk), target)
        batch.append(table)
        size += table.nbytes
        if size >= APPEND_BATCH_BYTES:
            yield pa.concat_tables(batch)
            batch, size = [], 0
    if batch:
        yield pa.concat_tables(batch)


def discard_uncommitted(tx: Any) -> None:
    """Delete every file a transaction that did not commit wrote: its data files and its manifests.

    Call it only when the commit is known not to have landed: an exception before the commit, or
    ``CommitFailedException``/``ValidationException`` from it (pyiceberg then already deleted the
    manifests; deleting twice is harmless). pyiceberg 0.12 keeps the data files of a failed commit, and
    has no public handle on them, so this reads the transaction's snapshot producers (pinned version;
    ``tests/test_iceberg_writer.py`` fails if the attributes move).
    """
    for producer in getattr(tx, "_snapshot_producers", []):
        for data_file in producer._added_data_files:
            with contextlib.suppress(Exception):
                producer._io.delete(data_file.file_path)
        with contextlib.suppress(Exception):
            producer._clean_all_uncommitted()


class IcebergLakehouse:
    """Catalog access plus the idempotent, retrying writer. Cheap to build; the catalog opens lazily."""

    def __init__(self, catalog_properties: Mapping[str, str], *, catalog_name: str = CATALOG_NAME):
        self.catalog_name = catalog_name
        self.catalog_properties = dict(catalog_properties)

    @classmethod
    def from_settings(cls, settings: Settings) -> IcebergLakehouse:
        if settings.profile == "local":
            settings.home.mkdir(parents=True, exist_ok=True)
            (settings.home / "warehouse").mkdir(parents=True, exist_ok=True)
        return cls(settings.catalog_properties())

    @cached_property
    def catalog(self) -> Catalog:
        return LakehouseSqlCatalog(self.catalog_name, **self.catalog_properties)

    def ensure_namespaces(self, namespaces: Sequence[str] = NAMESPACES) -> None:
        existing = {ns[0] for ns in self.catalog.list_namespaces()}
        for ns in namespaces:
            if ns not in existing:
                with contextlib.suppress(NamespaceAlreadyExistsError):
                    self.catalog.create_namespace(ns)

    # ---- reading ---------------------------------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        return self.catalog.table_exists(name)

    def load(self, name: str) -> Table:
        return self.catalog.load_table(name)

    def read(
        self,
        name: str,
        row_filter: BooleanExpression | str = ALWAYS_TRUE,
        *,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        table = self.load(name)
        scan = table.scan(
            row_filter=row_filter,
            snapshot_id=snapshot_id,
            selected_fields=tuple(columns) if columns else ("*",),
        )
        return pl.from_arrow(scan.to_arrow())  # type: ignore[return-value]

    def current_snapshot_id(self, name: str) -> int | None:
        snapshot = self.load(name).current_snapshot()
        return snapshot.snapshot_id if snapshot else None

    # ---- writing ---------------------------------------------------------------------------------
    def write(
        self,
        name: str,
        data: pl.DataFrame | pa.Table | ArrowChunks,
        *,
        replace: BooleanExpression = ALWAYS_TRUE,
        partition_by: Sequence[str] = (),
        snapshot_properties: Mapping[str, str] | None = None,
        table_properties: Mapping[str, str] | None = None,
        max_attempts: int = COMMIT_ATTEMPTS,
    ) -> WriteResult:
        """Atomically replace the rows matching ``replace`` with ``data`` (append when ``AlwaysFalse``).

        Idempotent for a fixed ``replace`` filter: re-running replaces, never duplicates. On a commit
        conflict the table is reloaded and the whole operation re-applied, so a retry after a
        concurrent writer neither loses nor duplicates rows.

        ``data`` as :class:`ArrowChunks` (rows that need not fit in memory) is written in batches of
        chunks of about ``APPEND_BATCH_BYTES`` in the same single transaction: the replaced rows are deleted,
        each batch is appended, and one commit makes it all visible at once, or nothing.
        """
        chunks = data if isinstance(data, ArrowChunks) else None
        arrow = to_arrow(chunks.schema.empty_table() if chunks is not None else data)  # type: ignore[arg-type]
        table = self._create_or_evolve(name, arrow.schema, partition_by, table_properties)
        target = table.schema().as_arrow()
        arrow = _conform(arrow, target)
        write_id = uuid.uuid4().hex
        props = {**(snapshot_properties or {}), "lakehouse.write-id": write_id}

        def replace_rows(table: Table) -> int:
            tx = table.transaction()
            try:
                with warnings.catch_warnings():
                    # an overwrite of a partition that does not exist yet deletes nothing: expected
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    if chunks is None:
                        tx.overwrite(arrow, overwrite_filter=replace, snapshot_properties=props)
                        rows = arrow.num_rows
                    else:
                        tx.delete(replace, snapshot_properties=props)
                        rows = 0
                        for batch in _batched(chunks.open(), target):
                            tx.append(batch, snapshot_properties=props)
                            rows += batch.num_rows
            except BaseException:
                discard_uncommitted(tx)  # nothing was committed: every file written so far is ours
                raise
            try:
                tx.commit_transaction()
            except CONFLICTS:
                discard_uncommitted(tx)  # the commit did not land; a retry writes its files afresh
                raise
            return rows

        rows, attempts = self.commit(name, replace_rows, max_attempts=max_attempts)
        snapshot_id = self._snapshot_written(name, write_id)
        log.debug("wrote %s rows to %s (snapshot %s, attempt %s)", rows, name, snapshot_id, attempts)
        return WriteResult(
            table=name,
            rows=rows,
            snapshot_id=snapshot_id,
            metadata_location=self.load(name).metadata_location,
            schema=arrow.schema,
            attempts=attempts,
        )

    def commit(
        self, name: str, operation: Callable[[Table], T], *, max_attempts: int = COMMIT_ATTEMPTS
    ) -> tuple[T, int]:
        """Run ``operation`` on the freshly loaded table ``name``, retrying it whole on a commit conflict.

        The one retry policy of the lakehouse's Iceberg commits (writes, schema evolution, tags,
        snapshot expiry): up to ``max_attempts`` attempts with a jittered exponential wait (capped at
        :data:`COMMIT_MAX_WAIT_SECONDS`) on ``CommitFailedException`` or ``ValidationException``, each
        attempt on a reloaded table. Returns the operation's result and the attempt that succeeded;
        raises :class:`IcebergWriteError` (the table unchanged) when every attempt conflicted.
        """
        retrying = Retrying(
            retry=retry_if_exception_type(CONFLICTS),
            stop=stop_after_attempt(max_attempts),
            wait=wait_random_exponential(multiplier=0.1, max=COMMIT_MAX_WAIT_SECONDS),
            before_sleep=_log_retry(name),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    result = operation(self.load(name))
        except CONFLICTS as exc:
            raise IcebergWriteError(
                f"Could not commit to Iceberg table {name} after {max_attempts} attempts "
                f"({type(exc).__name__}: {exc}). The table is unchanged; re-run the materialization."
            ) from exc
        return result, attempt.retry_state.attempt_number

    def _snapshot_written(self, name: str, write_id: str) -> int | None:
        """The last snapshot our write produced (an overwrite may commit a delete and an append)."""
        table = self.load(name)
        ours = [s for s in table.snapshots() if s.summary and s.summary["lakehouse.write-id"] == write_id]
        if ours:
            return max(ours, key=lambda s: s.sequence_number or 0).snapshot_id
        current = table.current_snapshot()
        return current.snapshot_id if current else None

    def _create_or_evolve(
        self,
        name: str,
        schema: pa.Schema,
        partition_by: Sequence[str],
        table_properties: Mapping[str, str] | None,
    ) -> Table:
        namespace = name.split(".", 1)[0]
        self.ensure_namespaces([namespace])
        try:
            table = self.load(name)
        except NoSuchTableError:
            iceberg_schema = assign_fresh_schema_ids(_pyarrow_to_schema_without_ids(schema))
            spec = _partition_spec(iceberg_schema, partition_by)
            try:
                return self.catalog.create_table(
                    name,
                    schema=iceberg_schema,
                    partition_spec=spec,
                    properties={**DEFAULT_TABLE_PROPERTIES, **(table_properties or {})},
                )
            except TableAlreadyExistsError:  # a concurrent writer created it first
                table = self.load(name)

        if partition_by and table.spec().is_unpartitioned():
            # a table created before it was partitioned (e.g. a dbt model that gained a company_key): partition
            # it now; files written before keep the old spec until they are rewritten
            def partition(table: Table) -> None:
                with table.update_spec() as update:
                    for column, transform, field_name in parse_partition_by(partition_by):
                        update.add_field(column, transform, field_name)

            self.commit(name, partition)
            table = self.load(name)

        existing = {f.name for f in table.schema().fields}
        if any(f.name not in existing for f in schema):

            def evolve(table: Table) -> None:
                with table.update_schema() as update:
                    update.union_by_name(schema)

            self.commit(name, evolve)
            table = self.load(name)
        return table

    def tag_lineage(self, snapshots: Mapping[str, int], consumer: str) -> list[str]:
        """Tag each table's snapshot ``lineage/<consumer>/<snapshot id>`` so snapshot expiry keeps it.

        What a prediction or a training set read must stay readable by time travel after the
        maintenance job expires old snapshots (pyiceberg never expires a tagged snapshot). Idempotent;
        returns the tags created. ``consumer`` names the reader, e.g. ``ml.predictions``.
        """
        created = []
        for name, snapshot_id in sorted(snapshots.items()):
            if snapshot_id is None:  # an empty table: nothing to keep
                continue
            tag = lineage_tag(consumer, snapshot_id)

            def create(table: Table, tag: str = tag, snapshot_id: int = snapshot_id, name: str = name) -> bool:
                if tag in table.metadata.refs:
                    return False
                if table.snapshot_by_id(snapshot_id) is None:
                    raise IcebergWriteError(
                        f"{name} has no snapshot {snapshot_id} (expired?): cannot record {consumer}'s lineage."
                    )
                with table.manage_snapshots() as manage:
                    manage.create_tag(snapshot_id, tag)
                return True

            if self.commit(name, create)[0]:
                created.append(f"{name}@{tag}")
        return created

    def drop(self, name: str) -> None:
        if self.table_exists(name):
            self.catalog.purge_table(name)


def _partition_spec(schema: Schema, partition_by: Sequence[str]) -> PartitionSpec:
    fields = []
    for i, (column, transform, field_name) in enumerate(parse_partition_by(partition_by)):
        source = schema.find_field(column)
        fields.append(
            PartitionField(source_id=source.field_id, field_id=1000 + i, transform=transform, name=field_name)
        )
    return PartitionSpec(*fields)


def conform_to(data: pl.DataFrame | pa.Table, target: pa.Schema) -> pa.Table:
    """``data`` as the writer would store it in a table of arrow schema ``target`` (types, order, missing columns)."""
    return _conform(to_arrow(data), target)


def _conform(arrow: pa.Table, target: pa.Schema) -> pa.Table:
    """Order and cast columns to the table schema; columns the frame lacks become nulls."""
    columns = []
    for f in target:
        if f.name in arrow.column_names:
            col = arrow.column(f.name)
            columns.append(col if col.type == f.type else pc.cast(col, f.type))
        else:
            columns.append(pa.nulls(arrow.num_rows, type=f.type))
    return pa.Table.from_arrays(columns, schema=pa.schema([pa.field(f.name, f.type, nullable=True) for f in target]))


LINEAGE_TAG_PREFIX = "lineage/"


def lineage_tag(consumer: str, snapshot_id: int) -> str:
    """The Iceberg tag protecting a snapshot that ``consumer`` (e.g. ``ml.predictions``) read."""
    return f"{LINEAGE_TAG_PREFIX}{consumer}/{snapshot_id}"


def snapshot_lineage(table: Table) -> list[dict[str, Any]]:
    """Snapshot history with the Dagster run, asset and partition recorded in each summary."""
    rows = []
    for s in table.snapshots():
        summary = s.summary.additional_properties if s.summary else {}
        rows.append(
            {
                "snapshot_id": s.snapshot_id,
                "timestamp_ms": s.timestamp_ms,
                "operation": s.summary.operation.value if s.summary else None,
                "dagster_run_id": summary.get("dagster.run-id"),
                "asset_key": summary.get("dagster.asset-key"),
                "partition_key": summary.get("dagster.partition-key"),
            }
        )
    return rows
