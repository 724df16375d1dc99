"""Feast's ``IcebergSource`` on the project's catalog, with snapshot pinning for reproducible reads.

Why a subclass and not a plain ``IcebergSource(catalog_properties=...)``:

- Feast stores a source's ``catalog_properties`` in the registry. In prod those are the Postgres catalog URL
  (with its password) and the S3 keys: they must not land in a registry every feature-server reader can
  dump. :class:`LakehouseIcebergSource` stores only ``namespace.table`` and opens the catalog at read time:
  inside :func:`pinned_snapshots`, the catalog the caller passes (a Dagster asset's lakehouse resource);
  anywhere else (``feast serve``, the feast CLI) the one of the process's settings, read at that boundary.
  The same registry serves the embedded and the prod profile.
- Feast always scans the current snapshot. Inside :func:`pinned_snapshots` every read of a source table is
  a time-travel scan of the snapshot given for it, and each read is recorded, so a training export (and a
  materialization) knows exactly which snapshot it read and can be rebuilt from it later.

The registry keeps the source as a ``CUSTOM_SOURCE`` naming this class (Feast imports it on load); the
DuckDB offline store reads it like any ``IcebergSource`` (it is one).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from feast.infra.data_sources.contrib.iceberg_catalog.iceberg_source import IcebergSource
from feast.protos.feast.core.DataSource_pb2 import DataSource as DataSourceProto
from pyiceberg.table import Table

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import CATALOG_NAME
from finance_assets.core.settings import Settings

CLASS_PATH = f"{__name__}.LakehouseIcebergSource"


class SnapshotPinError(RuntimeError):
    """A pinned read could not be served (snapshot expired, table missing from the pins...)."""


@dataclass
class SnapshotReads:
    """What the reads inside one :func:`pinned_snapshots` block actually scanned: table -> snapshot id."""

    pins: dict[str, int | None]
    strict: bool
    lakehouse: IcebergLakehouse
    read: dict[str, int | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, table: str, snapshot_id: int | None) -> None:
        with self._lock:
            previous = self.read.setdefault(table, snapshot_id)
        if previous != snapshot_id:
            raise SnapshotPinError(f"{table} was read at two snapshots ({previous}, {snapshot_id}) in one block")


_ACTIVE: ContextVar[SnapshotReads | None] = ContextVar("lakehouse_feast_snapshot_pins", default=None)


@contextmanager
def pinned_snapshots(
    pins: Mapping[str, int | None], *, lakehouse: IcebergLakehouse, strict: bool = True
) -> Iterator[SnapshotReads]:
    """Reads of :class:`LakehouseIcebergSource` tables in this block scan ``pins[table]`` of ``lakehouse``.

    ``strict``: a table without a pin is an error (a rebuild must not silently read "now"); otherwise it
    is read at its current snapshot and recorded. Yields the record of the reads made.
    """
    reads = SnapshotReads(pins=dict(pins), strict=strict, lakehouse=lakehouse)
    token = _ACTIVE.set(reads)
    try:
        yield reads
    finally:
        _ACTIVE.reset(token)


class _PinnedTable:
    """A pyiceberg ``Table`` whose ``scan()`` time-travels to one snapshot (everything else delegates)."""

    def __init__(self, table: Table, snapshot_id: int | None):
        self._table = table
        self._snapshot_id = snapshot_id

    def scan(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("snapshot_id") is None:
            kwargs["snapshot_id"] = self._snapshot_id
        return self._table.scan(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


class _LakehouseCatalog:
    """The subset of a pyiceberg catalog Feast's DuckDB offline store uses (``load_table``), pin-aware."""

    def __init__(self, lakehouse: IcebergLakehouse):
        self._lakehouse = lakehouse

    def load_table(self, identifier: str | tuple[str, ...]) -> Table | _PinnedTable:
        name = identifier if isinstance(identifier, str) else ".".join(identifier)
        table = self._lakehouse.load(name)
        reads = _ACTIVE.get()
        if reads is None:
            return table
        if name in reads.pins:
            snapshot_id = reads.pins[name]
        elif reads.strict:
            raise SnapshotPinError(f"{name} is read by Feast but has no pinned snapshot (pins: {sorted(reads.pins)})")
        else:
            current = table.current_snapshot()
            snapshot_id = current.snapshot_id if current else None
        if snapshot_id is not None and table.snapshot_by_id(snapshot_id) is None:
            raise SnapshotPinError(
                f"snapshot {snapshot_id} of {name} no longer exists (expired?): the export cannot be rebuilt "
                "from it. Keep snapshots referenced by training exports (tag them, or expire older ones only)."
            )
        reads.record(name, snapshot_id)
        return _PinnedTable(table, snapshot_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lakehouse.catalog, name)


class LakehouseIcebergSource(IcebergSource):
    """An Iceberg table of the ``lakehouse`` catalog (``namespace.table``), connection from settings."""

    def __init__(
        self,
        *,
        table: str,
        timestamp_field: str,
        name: str | None = None,
        created_timestamp_column: str | None = None,
        field_mapping: dict[str, str] | None = None,
        description: str | None = "",
        tags: dict[str, str] | None = None,
        owner: str | None = "",
    ):
        namespace, _, identifier = table.partition(".")
        if not namespace or not identifier:
            raise ValueError(f"table must be 'namespace.table', got {table!r}")
        super().__init__(
            warehouse=CATALOG_NAME,
            namespace=namespace,
            table=identifier,
            catalog_type="sql",
            catalog_name=CATALOG_NAME,
            catalog_properties={},
            name=name or table,
            timestamp_field=timestamp_field,
            created_timestamp_column=created_timestamp_column,
            field_mapping=field_mapping,
            description=description,
            tags=tags,
            owner=owner,
            credential_vending=False,
        )

    @property
    def table_name(self) -> str:
        """``namespace.table`` in the lakehouse catalog."""
        return f"{self.namespace}.{self.iceberg_table}"

    def get_catalog_client(self) -> _LakehouseCatalog:
        reads = _ACTIVE.get()
        if reads is not None:
            return _LakehouseCatalog(reads.lakehouse)
        # outside a pinned read: Feast's own process (`feast serve`, the CLI), configured by its environment
        return _LakehouseCatalog(IcebergLakehouse.from_settings(Settings.from_env()))

    def source_type(self) -> DataSourceProto.SourceType.ValueType:
        return DataSourceProto.CUSTOM_SOURCE

    def _to_proto_impl(self) -> DataSourceProto:
        proto = super()._to_proto_impl()
        proto.type = DataSourceProto.CUSTOM_SOURCE
        proto.data_source_class_type = CLASS_PATH
        return proto

    @staticmethod
    def from_proto(data_source: DataSourceProto) -> LakehouseIcebergSource:
        options = json.loads(bytes(data_source.custom_options.configuration).decode("utf8"))
        return LakehouseIcebergSource(
            table=f"{options['namespace']}.{options['table']}",
            name=data_source.name,
            timestamp_field=data_source.timestamp_field,
            created_timestamp_column=data_source.created_timestamp_column or None,
            field_mapping=dict(data_source.field_mapping),
            description=data_source.description,
            tags=dict(data_source.tags),
            owner=data_source.owner,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LakehouseIcebergSource) and super().__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()
