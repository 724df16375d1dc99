"""dbt-duckdb plugin: Bronze Iceberg tables in, Silver/Gold models back out to Iceberg.

Used from ``dbt_project/profiles.yml`` as ``module: finance_assets.transform.dbt_plugin`` (alias
``lakehouse``). It runs in dbt's process, so it reads the catalog at its own boundary, from the environment
(:meth:`Settings.from_env`), which the Dagster asset fills from its resources
(:meth:`~finance_assets.transform.resources.LakehouseDbtResource.environment`): the local (SQLite + files)
and prod (Postgres + S3) profiles need no edits to the dbt profile.

- ``load``: a source is **streamed** into DuckDB, never held in Python memory. dbt-duckdb's built-in
  ``iceberg`` plugin returns ``scan().to_arrow()`` (the whole table as one Arrow table: 6.3 GiB peak at
  1,000 companies); pyiceberg's own ``to_arrow_batch_reader()`` is no better, because it submits every
  data file to a thread pool at once and each task reads its whole file into a list, so the batches of
  all files pile up whenever DuckDB consumes slower than the pool reads. :func:`stream_scan` reads the
  planned files one after the other, batch by batch, and hands DuckDB a ``RecordBatchReader``: dbt-duckdb
  runs ``CREATE TABLE <source> AS SELECT * FROM <reader>``, so the rows go into DuckDB's buffer-managed
  table (which spills to ``temp_directory`` under ``memory_limit``, see ``profiles.yml``) as they are read.
  Python holds one record batch at a time. Source ``meta`` may give ``iceberg_table``,
  ``selected_fields``, ``row_filter``, ``snapshot_id``, ``case_sensitive``, ``limit``.
- **One snapshot per source per dbt invocation.** The first load of a table pins its current snapshot
  (or the ``snapshot_id`` of its meta); a later load of the same table in the same invocation (a second
  referencing node) reads that snapshot again, so a Bronze commit landing mid-build cannot give two
  models two versions of one source. Every snapshot stored by the invocation records the pins in its
  summary (``dbt.source-snapshots``: JSON ``{"bronze.edgar_company_facts": <snapshot id>, ...}``), so
  each Silver/Gold snapshot names the Bronze snapshots it was built from.
- ``store``: called by ``materialized='external'`` after dbt wrote the model to Parquet; the rows go
  through :meth:`IcebergLakehouse.write` (THE writer: create/evolve, atomic overwrite, commit retries),
  streamed from that Parquet file in chunks of about 128 MiB (:class:`ArrowChunks`): one transaction,
  one commit, but never the whole model in Python memory (``silver.financial_facts`` is ~7 M rows at
  1,000 companies).
  dbt-duckdb writes one all-NULL row for an empty model: that row is dropped here, so an empty model
  is an empty Iceberg snapshot. Each snapshot records the dbt model, the dbt invocation and the Dagster
  run (``LAKEHOUSE_DAGSTER_RUN_ID``, set by the Dagster asset), so a table names what wrote it.

- **Incremental builds** (:mod:`finance_assets.transform.scope`): when the Dagster side hands over a
  :class:`CompanyScope`, a company-keyed source (meta ``company_key``, or a stored model read back through
  ``macros/ref.sql``) is read with ``<key> IN (<changed companies>)`` at the snapshot the scope was planned
  against, and a model with ``company_key`` is stored as an overwrite of exactly those companies' rows (one
  commit; the table is partitioned by the key, so the unchanged companies' files are not touched). A model
  without ``company_key`` is refused in such a build: storing it would replace its whole table with a part.

Why not let DuckDB read the snapshot's Parquet files itself (``read_parquet([...])``): it would skip
Iceberg's column mapping by field id (our writer evolves schemas, so older files lack newer columns) and
delete files, and on S3 it needs DuckDB's ``httpfs`` extension, which DuckDB 2.0 cannot install offline.
pyiceberg's reader does the projection, filters and deletes; we only change how its batches are pulled.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig, TargetConfig
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression
from pyiceberg.expressions.parser import parse as parse_filter
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import DataScan

from finance_assets.core.iceberg import ArrowChunks, IcebergLakehouse
from finance_assets.core.settings import Settings
from finance_assets.transform.scope import CompanyScope

log = logging.getLogger("finance_assets.dbt_plugin")

DAGSTER_RUN_ID_ENV = "LAKEHOUSE_DAGSTER_RUN_ID"
# Snapshot summary keys the Dagster side reads back (finance_assets.transform.assets).
SNAPSHOT_MODEL = "dbt.model"
SNAPSHOT_INVOCATION = "dbt.invocation-id"
SNAPSHOT_RUN = "dagster.run-id"
SNAPSHOT_SOURCES = "dbt.source-snapshots"
# Incremental builds: the companies a snapshot rewrote ("all" for a full build) and how many.
SNAPSHOT_COMPANIES = "lakehouse.companies"
SNAPSHOT_COMPANY_COUNT = "lakehouse.company-count"

# pyiceberg's SQL catalog and the Iceberg commit are not meant to be driven from several dbt threads at
# once in one process; catalog lookups and stores are short next to the SQL, so they take turns.
_LOCK = threading.Lock()
ENGINE_SCHEMAS = ("bronze", "reference", "staging", "silver", "intermediate", "gold")
# Source meta keys passed on to ``Table.scan`` (the built-in iceberg plugin's set).
SCAN_KEYS = ("row_filter", "selected_fields", "case_sensitive", "options", "limit")


def _invocation_id() -> str:
    try:
        from dbt_common.invocation import get_invocation_id

        return get_invocation_id() or ""
    except Exception:  # pragma: no cover - older dbt
        return ""


def empty_source(source_config: SourceConfig) -> pa.Table | None:
    """An optional Bronze table that was never written reads as empty, with the schema its asset writes.

    A source opts in with ``meta: {bronze_schema: "<module>:<ARROW_SCHEMA>"}`` (the constant the Bronze asset
    writes with): a dataset a deployment does not load (13F without managers, FMP without a key) must not fail
    every dbt build. Sources without it still fail, naming the missing table.
    """
    pointer = source_config.meta.get("bronze_schema") if source_config.meta else None
    if not pointer:
        return None
    module, _, attribute = str(pointer).partition(":")
    schema = getattr(importlib.import_module(module), attribute)
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema]).empty_table()


def stream_scan(scan: DataScan) -> pa.RecordBatchReader:
    """The rows of ``scan`` as a ``RecordBatchReader`` that reads one data file, one batch at a time.

    Same rows, columns and types as ``scan.to_arrow()`` (pyiceberg's projection, residual filter,
    positional deletes and schema evolution apply), but nothing is read before the consumer asks for
    it and only the batch being consumed is held. Planning (manifests) happens here, eagerly, so the
    snapshot is fixed when this returns.
    """
    projected = scan.projection()
    schema = schema_to_pyarrow(projected, include_field_ids=False)
    tasks = list(scan.plan_files())
    arrow_scan = ArrowScan(scan.table_metadata, scan.io, projected, scan.row_filter, scan.case_sensitive, scan.limit)
    return pa.RecordBatchReader.from_batches(schema, _batches(arrow_scan, tasks, schema))


def _batches(arrow_scan: ArrowScan, tasks: list[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    # pyiceberg's lazy per-batch generator is private; its public to_record_batches() reads each file
    # whole (and, given several tasks, all files at once). Prefer the former, fall back to the latter
    # one task at a time (one file in memory) if a pyiceberg release renames it.
    lazy = getattr(arrow_scan, "_record_batches_from_scan_tasks_and_deletes", None)
    if lazy is not None:
        from pyiceberg.io.pyarrow import _read_all_delete_files

        batches: Iterator[pa.RecordBatch] = lazy(tasks, _read_all_delete_files(arrow_scan._io, tasks))
    else:  # pragma: no cover - depends on the pyiceberg release
        batches = (batch for task in tasks for batch in arrow_scan.to_record_batches([task]))
    for batch in batches:
        yield batch if batch.schema == schema else batch.cast(schema)


def _and(existing: Any, extra: BooleanExpression) -> BooleanExpression:
    if existing is None:
        return extra
    return And(parse_filter(existing) if isinstance(existing, str) else existing, extra)


def drop_placeholder_row(table: pa.Table) -> pa.Table:
    """dbt-duckdb writes one all-NULL row for an empty model; an empty model is an empty table."""
    if table.num_rows != 1:
        return table
    if all(table.column(i).null_count == 1 for i in range(table.num_columns)):
        return table.slice(0, 0)
    return table


def iceberg_table_name(target_config: TargetConfig) -> str:
    config = target_config.config
    explicit = config.get("iceberg_table") if config is not None else None
    if explicit:
        return str(explicit)
    relation = target_config.relation
    return f"{relation.schema}.{relation.identifier}"


def source_table_name(source_config: SourceConfig) -> str:
    """``meta.iceberg_table`` (may use ``{schema}``/``{identifier}``), else ``<schema>.<identifier>``."""
    template = str(source_config.get("iceberg_table", "{schema}.{identifier}"))
    return template.format(**source_config.as_dict())


class Plugin(BasePlugin):
    """Streams Iceberg sources into DuckDB at one pinned snapshot each; stores models to Iceberg."""

    def initialize(self, config: dict[str, Any]) -> None:
        self._lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
        self._catalog = self._lakehouse.catalog
        self._pins: dict[str, int | None] = {}
        self._pins_invocation = ""
        # external_root (where dbt writes each model's Parquet before store()) and the DuckDB file's
        # folder must exist before dbt touches them; on a fresh LAKEHOUSE_HOME nothing else makes them.
        if self.creds is not None:
            if self.creds.external_root:
                Path(self.creds.external_root).mkdir(parents=True, exist_ok=True)
            if self.creds.path and self.creds.path != ":memory:":
                Path(self.creds.path).parent.mkdir(parents=True, exist_ok=True)
            spill = (self.creds.config_options or {}).get("temp_directory")
            if spill:
                Path(str(spill)).mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn: Any) -> None:
        # Sources are loaded into a DuckDB schema named like their namespace; with several dbt threads on
        # a fresh engine file two loads would race to create it ("write-write conflict"): create up front.
        for schema in ENGINE_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")

    def source_snapshots(self) -> dict[str, int | None]:
        """The snapshot each source table was read at in the current dbt invocation (None: empty table)."""
        self._reset_pins_on_new_invocation()
        return dict(self._pins)

    def _reset_pins_on_new_invocation(self) -> None:
        invocation = _invocation_id()
        if invocation != self._pins_invocation:
            self._pins, self._pins_invocation = {}, invocation

    def load(self, source_config: SourceConfig) -> pa.RecordBatchReader:
        if source_config.get("materialization", self.default_materialization()) != "table":
            # a view would query the reader again on every use, and a reader can be read only once
            raise ValueError(
                f"dbt source {source_config.table_name()}: meta.materialization must be 'table' (the source is "
                "streamed into DuckDB once); remove the materialization setting"
            )
        try:
            scan = self.pinned_scan(source_config)
        except NoSuchTableError:
            empty = empty_source(source_config)
            if empty is None:
                raise
            return pa.RecordBatchReader.from_batches(empty.schema, iter(empty.to_batches()))
        return stream_scan(scan)

    def pinned_scan(self, source_config: SourceConfig) -> DataScan:
        """The scan of the source at this invocation's snapshot of its table (pinned on first use).

        In an incremental build a company-keyed source reads the scope's companies only, at the scope's
        snapshot of the table when it names one.
        """
        name = source_table_name(source_config)
        scan_config = {key: source_config[key] for key in SCAN_KEYS if key in source_config}
        if "selected_fields" in scan_config:
            scan_config["selected_fields"] = tuple(scan_config["selected_fields"])
        scope = CompanyScope.from_env()
        key = source_config.get("company_key") or (scope.keys.get(name) if scope else None)
        if scope is not None and key:
            scan_config["row_filter"] = _and(scan_config.get("row_filter"), scope.filter(str(key)))
        with _LOCK:
            self._reset_pins_on_new_invocation()
            table = self._catalog.load_table(name)
            if "snapshot_id" in source_config:
                snapshot_id: int | None = int(source_config["snapshot_id"])
            elif scope is not None and name in scope.snapshots and name not in self._pins:
                snapshot_id = scope.snapshots[name]
            elif name in self._pins:
                snapshot_id = self._pins[name]
            else:
                current = table.current_snapshot()
                snapshot_id = current.snapshot_id if current is not None else None
            if name in self._pins and self._pins[name] != snapshot_id:
                raise ValueError(
                    f"dbt source {source_config.table_name()} asks for snapshot {snapshot_id} of {name}, but this "
                    f"dbt invocation already read snapshot {self._pins[name]}: give every reference the same "
                    "meta.snapshot_id"
                )
            self._pins[name] = snapshot_id
            if snapshot_id is None:  # empty when first read: stays empty for this invocation
                scan_config["row_filter"] = AlwaysFalse()
            scan = table.scan(snapshot_id=snapshot_id, **scan_config)
        log.info("reading %s at snapshot %s", name, snapshot_id)
        return scan

    def store(self, target_config: TargetConfig) -> None:
        assert target_config.location is not None, "store() needs materialized='external'"
        rows = self.model_rows(target_config.location.path)
        schema = rows.schema
        config = target_config.config
        key = config.get("company_key") if config is not None else None
        partition_by = list(config.get("iceberg_partition_by") or []) if config is not None else []
        if key and not partition_by:  # one partition per company: an incremental overwrite drops whole files
            partition_by = [f"identity({key})"]
        name = iceberg_table_name(target_config)
        scope = CompanyScope.from_env()
        replace: BooleanExpression = AlwaysTrue()
        companies = "all"
        if scope is not None:
            if not key:
                raise ValueError(
                    f"{name}: an incremental build stores only company-keyed models (dbt config company_key), and "
                    "this model has none; storing it would replace the whole table with the changed companies' "
                    "rows. Build it in a full build (or give it a company_key if its rows are per company)."
                )
            replace = scope.filter(str(key))
            companies = ",".join(sorted(scope.values(str(key))))
        properties = {
            SNAPSHOT_MODEL: str(target_config.relation.identifier),
            SNAPSHOT_INVOCATION: _invocation_id(),
            SNAPSHOT_RUN: os.environ.get(DAGSTER_RUN_ID_ENV, ""),
            SNAPSHOT_SOURCES: json.dumps(self.source_snapshots(), sort_keys=True),
            SNAPSHOT_COMPANIES: companies,
            SNAPSHOT_COMPANY_COUNT: "all" if scope is None else str(len(scope.values(str(key)))),
        }
        with _LOCK:
            self._align_schema(name, schema)
            self._lakehouse.write(
                name, rows, replace=replace, partition_by=partition_by, snapshot_properties=properties
            )
            self._align_schema(name, schema)

    def model_rows(self, path: str) -> pa.Table | ArrowChunks:
        """The rows dbt wrote for a model: streamed from its Parquet file in bounded chunks."""
        if pq.read_metadata(path).num_rows <= 1:  # maybe dbt-duckdb's placeholder row of an empty model
            table = drop_placeholder_row(pq.read_table(path))
            # DuckDB marks columns without nulls as required; Iceberg fields must stay nullable.
            return table.cast(pa.schema([pa.field(f.name, f.type, nullable=True) for f in table.schema]))
        return ArrowChunks.parquet(path)  # the writer makes every field nullable

    def _align_schema(self, name: str, schema: pa.Schema) -> None:
        """Make the table's columns the model's columns, in the model's order (metadata only).

        The model replaces the whole table, so a column the model no longer selects is dropped (the writer
        would otherwise keep it as an all-null column), and new columns, which the writer appends at the
        end, are moved where the model has them.
        """
        if not self._lakehouse.table_exists(name):
            return
        table = self._lakehouse.load(name)
        current = [f.name for f in table.schema().fields]
        wanted = [n for n in schema.names if n in current]
        removed = [n for n in current if n not in schema.names]
        if not removed and current == wanted:
            return
        with table.update_schema() as update:
            for column in removed:
                update.delete_column(column)
            previous = None
            for column in wanted:
                if previous is None:
                    update.move_first(column)
                else:
                    update.move_after(column, previous)
                previous = column
