"""dbt-duckdb plugin: Bronze Iceberg tables in, Silver/Gold models back out to Iceberg.

Used from ``dbt_project/profiles.yml`` as ``module: finance_assets.transform.dbt_plugin`` (alias
``lakehouse``). It reads the catalog from the one settings object (:func:`get_settings`), so the local
(SQLite + files) and prod (Postgres + S3) profiles need no edits to the dbt profile.

- ``load``: dbt-duckdb's built-in ``iceberg`` plugin (a full ``scan().to_arrow()``; source ``meta`` may
  give ``iceberg_table``, ``selected_fields``, ``row_filter``, ``snapshot_id``), on our catalog. A source
  whose ``meta.if_missing`` declares its columns (name: Iceberg type) is OPTIONAL: while its Bronze table
  does not exist (no company's filing index has landed yet), it loads as an empty table of those columns,
  so the models that only use it to enrich (the statements use the filing index for forms and filing
  dates when present) still build. Any other missing source fails as before.
- ``store``: called by ``materialized='external'`` after dbt wrote the model to Parquet; the rows go
  through :meth:`IcebergLakehouse.write` (THE writer: create/evolve, atomic overwrite, commit retries).
  dbt-duckdb writes one all-NULL row for an empty model: that row is dropped here, so an empty model
  is an empty Iceberg snapshot. Each snapshot records the dbt model, the dbt invocation and the Dagster
  run (``LAKEHOUSE_DAGSTER_RUN_ID``, set by the Dagster asset), so a table names what wrote it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dbt.adapters.duckdb.plugins import iceberg as dbt_iceberg
from dbt.adapters.duckdb.utils import SourceConfig, TargetConfig

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import get_settings

DAGSTER_RUN_ID_ENV = "LAKEHOUSE_DAGSTER_RUN_ID"
# Snapshot summary keys the Dagster side reads back (finance_assets.transform.assets).
SNAPSHOT_MODEL = "dbt.model"
SNAPSHOT_INVOCATION = "dbt.invocation-id"
SNAPSHOT_RUN = "dagster.run-id"

# pyiceberg's SQL catalog and the Iceberg commit are not meant to be driven from several dbt threads at
# once in one process; loads and stores are short next to the SQL, so they take turns.
_LOCK = threading.Lock()
ENGINE_SCHEMAS = ("bronze", "reference", "staging", "silver", "intermediate", "gold")


def _invocation_id() -> str:
    try:
        from dbt_common.invocation import get_invocation_id

        return get_invocation_id() or ""
    except Exception:  # pragma: no cover - older dbt
        return ""


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


# Iceberg type names of ``meta.if_missing`` -> Arrow types of the empty stand-in table.
_EMPTY_TYPES = {
    "string": pa.string(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


def empty_source(columns: dict[str, str], source: str) -> pa.Table:
    """The empty stand-in of an optional source: its declared columns, no rows."""
    unknown = sorted({t for t in columns.values() if t not in _EMPTY_TYPES})
    if unknown:
        raise ValueError(
            f"source {source}: meta.if_missing uses unknown types {unknown}; use one of {sorted(_EMPTY_TYPES)}"
        )
    return pa.schema([pa.field(name, _EMPTY_TYPES[kind]) for name, kind in columns.items()]).empty_table()


class Plugin(dbt_iceberg.Plugin):
    """The built-in iceberg source plugin on the project's catalog, plus an Iceberg ``store``."""

    def initialize(self, config: dict[str, Any]) -> None:
        settings = get_settings()
        self._lakehouse = IcebergLakehouse.from_settings(settings)
        self._catalog = self._lakehouse.catalog
        # external_root (where dbt writes each model's Parquet before store()) and the DuckDB file's
        # folder must exist before dbt touches them; on a fresh LAKEHOUSE_HOME nothing else makes them.
        if self.creds is not None:
            if self.creds.external_root:
                Path(self.creds.external_root).mkdir(parents=True, exist_ok=True)
            if self.creds.path and self.creds.path != ":memory:":
                Path(self.creds.path).parent.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn: Any) -> None:
        # Sources are loaded into a DuckDB schema named like their namespace; with several dbt threads on
        # a fresh engine file two loads would race to create it ("write-write conflict"): create up front.
        for schema in ENGINE_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")

    def load(self, source_config: SourceConfig) -> pa.Table:
        if_missing = source_config.meta.get("if_missing")
        if if_missing:
            table_name = source_config.get("iceberg_table", "{schema}.{identifier}").format(**source_config.as_dict())
            with _LOCK:
                exists = self._lakehouse.table_exists(table_name)
            if not exists:
                return empty_source(dict(if_missing), table_name)
        config = source_config
        if "selected_fields" in source_config:
            meta = dict(source_config.meta)
            meta["selected_fields"] = tuple(meta["selected_fields"])
            config = SourceConfig(
                name=source_config.name,
                identifier=source_config.identifier,
                schema=source_config.schema,
                database=source_config.database,
                meta=meta,
                tags=source_config.tags,
            )
        with _LOCK:
            return super().load(config)

    def store(self, target_config: TargetConfig) -> None:
        assert target_config.location is not None, "store() needs materialized='external'"
        table = drop_placeholder_row(pq.read_table(target_config.location.path))
        # DuckDB marks columns without nulls as required; Iceberg fields must stay nullable.
        table = table.cast(pa.schema([pa.field(f.name, f.type, nullable=True) for f in table.schema]))
        config = target_config.config
        partition_by = list(config.get("iceberg_partition_by") or []) if config is not None else []
        name = iceberg_table_name(target_config)
        properties = {
            SNAPSHOT_MODEL: str(target_config.relation.identifier),
            SNAPSHOT_INVOCATION: _invocation_id(),
            SNAPSHOT_RUN: os.environ.get(DAGSTER_RUN_ID_ENV, ""),
        }
        with _LOCK:
            self._align_schema(name, table.schema)
            self._lakehouse.write(name, table, partition_by=partition_by, snapshot_properties=properties)
            self._align_schema(name, table.schema)

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
