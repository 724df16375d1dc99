"""Iceberg table maintenance: lineage tags, snapshot expiry, orphan-file removal, small-file compaction.

What pyiceberg 0.12 gives and what is ours:
- **Snapshot expiry** is pyiceberg's (``table.maintenance.expire_snapshots()``), which never expires a
  tagged snapshot or a branch head. We choose which ones: older than the retention, except the latest
  ``retain_last`` of the table's history. It only edits metadata; the files it releases become orphans.
- **Lineage tags** (``lineage/<consumer>/<snapshot id>``) are pyiceberg's ``manage_snapshots().create_tag``;
  :func:`sync_lineage_tags` tags every snapshot the ML tables' ``source_snapshots`` name, so a prediction's
  lineage still resolves by time travel after expiry, even for rows written before tagging existed.
- **Orphan-file removal** is ours: pyiceberg 0.12 has no ``delete_orphan_files``. A file under the table's
  location that no metadata reachable from the current metadata file names (previous metadata files in the
  metadata log, every snapshot's manifest list, manifests and live data/delete files, statistics) and that
  is older than ``min_age`` (younger: maybe a write in flight) is deleted. Small on purpose: one listing,
  one set difference.
- **Compaction** is ours too (pyiceberg has no ``rewrite_data_files``): a partition of an identity-partitioned
  or unpartitioned table holding at least ``min_files`` small data files is read and overwritten with the same
  rows in one commit, through :meth:`IcebergLakehouse.commit` (a concurrent write to the partition fails
  pyiceberg's conflict validation and the rewrite is retried on the new snapshot). Tables partitioned by a
  time transform (``year(date)``, ``month(...)``) are not compacted: their writes replace whole partitions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, IsNull
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from finance_assets.core.iceberg import CONFLICTS, LINEAGE_TAG_PREFIX, IcebergLakehouse, discard_uncommitted
from finance_assets.core.names import PREDICTIONS, TRAINING_SET, table_name

log = logging.getLogger("finance_assets.maintenance")

# Tables whose rows record the snapshots they were computed from (column ``source_snapshots``:
# list of {table, snapshot_id}); the consumer name is the table name.
LINEAGE_CONSUMERS: tuple[str, ...] = (table_name(PREDICTIONS), table_name(TRAINING_SET))
COMPACTION_PROPERTY = "lakehouse.maintenance"


@dataclass(frozen=True)
class Retention:
    """How much history the maintenance keeps (settings ``ICEBERG_SNAPSHOT_*``, ``ICEBERG_ORPHAN_*``, ...)."""

    snapshot_retention: timedelta = timedelta(days=7)
    retain_last: int = 5
    orphan_min_age: timedelta = timedelta(hours=24)
    compact_min_files: int = 8
    compact_target_bytes: int = 128 << 20


@dataclass
class TableReport:
    table: str
    tags_created: list[str] = field(default_factory=list)
    snapshots_expired: int = 0
    partitions_compacted: int = 0
    files_compacted: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    snapshots_left: int = 0

    def line(self) -> str:
        return (
            f"{self.table}: {self.snapshots_expired} snapshot(s) expired, {self.snapshots_left} kept, "
            f"{self.files_compacted} file(s) in {self.partitions_compacted} partition(s) compacted, "
            f"{len(self.orphans_removed)} orphan file(s) removed, {len(self.tags_created)} lineage tag(s) added"
        )


# ---- what the metadata references ------------------------------------------------------------------------
def _key(location: str) -> str:
    """A file's identity independent of the scheme spelling: ``/abs/path`` or ``bucket/key``."""
    parts = urlsplit(location)
    if parts.scheme in ("", "file"):
        return parts.path
    return f"{parts.netloc}{parts.path}"


def referenced_files(table: Table) -> set[str]:
    """Every file the table's current metadata reaches (as :func:`_key`), including retained snapshots'."""
    meta = table.metadata
    refs = {table.metadata_location, *(entry.metadata_file for entry in meta.metadata_log)}
    refs |= {s.statistics_path for s in meta.statistics}
    refs |= {s.statistics_path for s in meta.partition_statistics}
    seen_manifests: set[str] = set()
    for snapshot in meta.snapshots:
        refs.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen_manifests:
                continue
            seen_manifests.add(manifest.manifest_path)
            refs.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                refs.add(entry.data_file.file_path)
    return {_key(r) for r in refs}


def _filesystem(table: Table) -> tuple[pafs.FileSystem, str]:
    io = table.io
    if not isinstance(io, PyArrowFileIO):  # our catalogs use pyarrow's FileIO (local files and S3)
        io = PyArrowFileIO(table.io.properties)
    scheme, netloc, path = PyArrowFileIO.parse_location(table.location())
    return io.fs_by_scheme(scheme, netloc), path


def stored_files(table: Table) -> dict[str, datetime]:
    """Every file under the table's location (as :func:`_key`) with its modification time."""
    fs, root = _filesystem(table)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    out = {}
    for info in infos:
        if info.type == pafs.FileType.File:
            mtime = info.mtime or datetime.now(UTC)
            out[_key(info.path) if "://" in info.path else info.path] = mtime.astimezone(UTC)
    return out


def unreferenced_files(table: Table) -> set[str]:
    """Files under the table's location that its metadata does not reach (whatever their age)."""
    return set(stored_files(table)) - referenced_files(table)


def remove_orphan_files(lakehouse: IcebergLakehouse, name: str, min_age: timedelta) -> list[str]:
    """Delete the table's unreferenced files older than ``min_age``; the paths deleted."""
    table = lakehouse.load(name)
    cutoff = datetime.now(UTC) - min_age
    referenced = referenced_files(table)
    orphans = sorted(f for f, mtime in stored_files(table).items() if f not in referenced and mtime <= cutoff)
    fs, _ = _filesystem(table)
    for path in orphans:
        fs.delete_file(path)
    if orphans:
        log.info("%s: removed %s orphan file(s)", name, len(orphans))
    return orphans


# ---- lineage tags and snapshot expiry ----------------------------------------------------------------------
def lineage_references(lakehouse: IcebergLakehouse, consumers: Iterable[str] = LINEAGE_CONSUMERS) -> dict[str, dict]:
    """consumer -> {table: {snapshot ids}} read from the consumers' ``source_snapshots`` column."""
    out: dict[str, dict] = {}
    for consumer in consumers:
        if not lakehouse.table_exists(consumer):
            continue
        table = lakehouse.load(consumer)
        if "source_snapshots" not in {f.name for f in table.schema().fields}:
            continue
        column = table.scan(selected_fields=("source_snapshots",)).to_arrow().column("source_snapshots")
        refs: dict[str, set[int]] = {}
        for cell in column.to_pylist():
            for item in cell or []:
                if item and item.get("table") and item.get("snapshot_id") is not None:
                    refs.setdefault(item["table"], set()).add(int(item["snapshot_id"]))
        out[consumer] = refs
    return out


def sync_lineage_tags(lakehouse: IcebergLakehouse, references: Mapping[str, Mapping[str, set[int]]]) -> list[str]:
    """Tag every referenced snapshot that still exists (``lineage/<consumer>/<id>``); the tags created."""
    created: list[str] = []
    for consumer, tables in references.items():
        for name, ids in sorted(tables.items()):
            if not lakehouse.table_exists(name):
                log.warning("%s references %s, which no longer exists", consumer, name)
                continue
            table = lakehouse.load(name)
            present = {i for i in ids if table.snapshot_by_id(i) is not None}
            for gone in sorted(ids - present):
                log.warning(
                    "%s references %s snapshot %s, which was expired before it was tagged", consumer, name, gone
                )
            for snapshot_id in sorted(present):
                created += lakehouse.tag_lineage({name: snapshot_id}, consumer)
    return created


def expire_snapshots(lakehouse: IcebergLakehouse, name: str, older_than: timedelta, retain_last: int) -> int:
    """Expire snapshots older than ``older_than`` except the latest ``retain_last`` and tagged ones; how many."""

    def expire(table: Table) -> int:
        cutoff_ms = int((datetime.now(UTC) - older_than).timestamp() * 1000)
        newest = sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
        keep = {s.snapshot_id for s in newest[-retain_last:]}
        keep |= {ref.snapshot_id for ref in table.metadata.refs.values()}  # branch heads and tags
        doomed = [s.snapshot_id for s in newest if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep]
        if doomed:
            table.maintenance.expire_snapshots().by_ids(doomed).commit()
        return len(doomed)

    expired, _ = lakehouse.commit(name, expire)
    if expired:
        log.info("%s: expired %s snapshot(s)", name, expired)
    return expired


# ---- compaction --------------------------------------------------------------------------------------------
def _partition_filter(table: Table, partition: Any) -> BooleanExpression | None:
    """The row filter selecting one partition of an identity-partitioned (or unpartitioned) table."""
    spec = table.spec()
    if not spec.fields:
        return AlwaysTrue()
    if not all(isinstance(f.transform, IdentityTransform) for f in spec.fields):
        return None
    schema = table.schema()
    terms: list[BooleanExpression] = []
    for i, pf in enumerate(spec.fields):
        column = schema.find_column_name(pf.source_id)
        value = partition[i]
        terms.append(IsNull(column) if value is None else EqualTo(column, value))
    return terms[0] if len(terms) == 1 else And(*terms)


def compact(lakehouse: IcebergLakehouse, name: str, min_files: int, target_bytes: int) -> tuple[int, int]:
    """Rewrite each partition with ``min_files`` or more small data files as one; (partitions, files) done."""
    table = lakehouse.load(name)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return 0, 0
    spec_id = table.spec().spec_id
    small: dict[tuple, list[int]] = {}
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data_file = entry.data_file
            if data_file.spec_id != spec_id or data_file.file_size_in_bytes >= target_bytes:
                continue
            key = tuple(data_file.partition) if data_file.partition is not None else ()
            small.setdefault(key, []).append(data_file.file_size_in_bytes)
    partitions = files = 0
    for key, sizes in sorted(small.items(), key=lambda kv: str(kv[0])):
        if len(sizes) < min_files:
            continue
        row_filter = _partition_filter(table, key)
        if row_filter is None:
            log.info("%s: not compacted (partitioned by a transform; its writes replace whole partitions)", name)
            return partitions, files

        def rewrite(table: Table, row_filter: BooleanExpression = row_filter) -> int:
            rows = table.scan(row_filter=row_filter).to_arrow()
            tx = table.transaction()
            try:
                tx.overwrite(rows, overwrite_filter=row_filter, snapshot_properties={COMPACTION_PROPERTY: "compaction"})
            except BaseException:
                discard_uncommitted(tx)
                raise
            try:
                tx.commit_transaction()
            except CONFLICTS:
                discard_uncommitted(tx)  # a concurrent write won: leave no rewritten file behind, retry
                raise
            return rows.num_rows

        rows, _ = lakehouse.commit(name, rewrite)
        partitions += 1
        files += len(sizes)
        log.info("%s: compacted %s files (%s rows) of partition %s", name, len(sizes), rows, key)
    return partitions, files


# ---- everything, per table -----------------------------------------------------------------------------------
def all_tables(lakehouse: IcebergLakehouse) -> list[str]:
    names = []
    for (namespace,) in sorted(lakehouse.catalog.list_namespaces()):
        names += [".".join(identifier) for identifier in sorted(lakehouse.catalog.list_tables(namespace))]
    return names


def maintain(
    lakehouse: IcebergLakehouse, retention: Retention, tables: Iterable[str] | None = None
) -> list[TableReport]:
    """Tag lineage, compact, expire, then remove orphans, table by table; a report per table.

    Order matters: lineage tags before expiry (tagged snapshots survive it), compaction before expiry
    (the replaced small files are released with the old snapshots), orphan removal last (it removes the
    files expiry and compaction released, once older than the retention's ``orphan_min_age``).
    """
    names = list(tables) if tables is not None else all_tables(lakehouse)
    references = lineage_references(lakehouse)
    created = sync_lineage_tags(lakehouse, references)
    reports = []
    for name in names:
        report = TableReport(name, tags_created=[t for t in created if t.startswith(f"{name}@")])
        report.partitions_compacted, report.files_compacted = compact(
            lakehouse, name, retention.compact_min_files, retention.compact_target_bytes
        )
        report.snapshots_expired = expire_snapshots(
            lakehouse, name, retention.snapshot_retention, retention.retain_last
        )
        report.orphans_removed = remove_orphan_files(lakehouse, name, retention.orphan_min_age)
        report.snapshots_left = len(lakehouse.load(name).snapshots())
        reports.append(report)
    return reports


__all__ = [
    "LINEAGE_CONSUMERS",
    "LINEAGE_TAG_PREFIX",
    "Retention",
    "TableReport",
    "compact",
    "expire_snapshots",
    "lineage_references",
    "maintain",
    "referenced_files",
    "remove_orphan_files",
    "sync_lineage_tags",
    "unreferenced_files",
]
