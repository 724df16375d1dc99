"""Which companies a dbt build rebuilds: the plan of the ``lakehouse_dbt`` asset (docs/transform.md).

The **company models** are the dbt models downstream of a company-keyed Bronze source (source meta
``company_key``: ``bronze.edgar_company_facts`` and ``bronze.edgar_filings``, partitioned by ticker). Each
one that is stored in Iceberg declares its ``company_key`` (``cik`` or ``ticker``): its rows for a company
depend on that company's Bronze rows (and on tables that are not per company: seeds, prices, the ticker
map), never on another company's. :func:`company_models` checks that every stored company model has one.

**The changed companies** come from Iceberg itself, not from a clock or a status table: each Silver/Gold
snapshot records the Bronze snapshots it was built from (``dbt.source-snapshots``, written by the plugin).
The companies that changed since are the ticker partitions of every data file added or deleted by the
Bronze snapshots after that one (:func:`changed_partitions`, from the manifests: exact, and it sees every
writer: the Dagster assets, a bulk load, a manual fix). An unchanged company writes no Bronze snapshot
(``core/companies.py``), so a day when 50 companies filed names those 50. When that cannot be told (a model
never built, a recorded snapshot expired, a table not partitioned by ticker), the build is a full one.

A ticker is turned into the company's CIK and every ticker of that CIK (share classes: GOOG and GOOGL are one
company) from Bronze, at the planned snapshot and at the previous one (a company whose rows were removed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.expressions import In
from pyiceberg.table import Table

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.transform.dbt_plugin import SNAPSHOT_SOURCES
from finance_assets.transform.scope import KEY_COLUMNS, CompanyScope

STORED_SCHEMAS = ("silver", "gold")
PARTITION_COLUMN = "ticker"  # the Bronze company partition (core/companies.py, key_column)
# Companies listed by name in metadata and logs; beyond this, a count.
LISTED_COMPANIES = 200


def _schema(node: Mapping[str, Any]) -> str:
    return str(node.get("schema") or node.get("config", {}).get("schema") or "")


def stored_table(node: Mapping[str, Any]) -> str | None:
    """``silver.financial_facts`` for a model stored in Iceberg, None for an engine-only node."""
    if node.get("resource_type") != "model" or _schema(node) not in STORED_SCHEMAS:
        return None
    return node.get("config", {}).get("iceberg_table") or f"{_schema(node)}.{node.get('alias') or node['name']}"


def company_sources(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Unique id -> Iceberg table of every company-keyed Bronze source."""
    found = {}
    for unique_id, source in manifest.get("sources", {}).items():
        meta = {**source.get("meta", {}), **(source.get("config", {}).get("meta") or {})}
        if meta.get("company_key"):
            found[unique_id] = str(meta.get("iceberg_table") or f"{source['schema']}.{source['name']}")
    return found


def company_models(manifest: Mapping[str, Any]) -> set[str]:
    """Every model downstream of a company-keyed source; each stored one must declare ``company_key``."""
    children: dict[str, list[str]] = manifest.get("child_map", {})
    seen: set[str] = set()
    frontier = list(company_sources(manifest))
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child.startswith("model.") and child not in seen:
                seen.add(child)
                frontier.append(child)
    nodes = manifest["nodes"]
    missing = sorted(u for u in seen if stored_table(nodes[u]) and not nodes[u]["config"].get("company_key"))
    if missing:
        raise ValueError(
            f"dbt models downstream of a company-keyed Bronze source must declare config company_key "
            f"({' or '.join(KEY_COLUMNS)}) so an incremental build can rebuild their changed companies: {missing}"
        )
    return seen


def model_keys(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Iceberg table -> company key of every stored model that declares one."""
    keys = {}
    for node in manifest["nodes"].values():
        table = stored_table(node)
        key = node.get("config", {}).get("company_key")
        if table and key:
            keys[table] = str(key)
    return keys


# ---- what changed in Bronze --------------------------------------------------------------------------------
def changed_partitions(table: Table, since: int, until: int | None = None) -> set[str] | None:
    """Ticker partitions touched by the snapshots after ``since`` up to ``until`` (default: current).

    None when it cannot be told: ``since`` is not an ancestor of ``until`` (expired, or the table was
    replaced), or a touched file has no ticker partition. Compaction (operation ``replace``) changes no data
    and is skipped.
    """
    snapshot = table.snapshot_by_id(until) if until is not None else table.current_snapshot()
    walked = []
    while snapshot is not None and snapshot.snapshot_id != since:
        walked.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:
        return None
    specs = table.specs()
    touched: set[str] = set()
    for snap in walked:
        if snap.summary is not None and snap.summary.operation.value == "replace":
            continue
        for manifest in snap.manifests(table.io):
            if manifest.added_snapshot_id != snap.snapshot_id:
                continue
            names = [f.name for f in specs[manifest.partition_spec_id].fields]
            if PARTITION_COLUMN not in names:
                return None
            position = names.index(PARTITION_COLUMN)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                if entry.snapshot_id == snap.snapshot_id:
                    touched.add(str(entry.data_file.partition[position]))
    return touched


def _recorded_sources(table: Table) -> dict[str, int | None] | None:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return None
    recorded = snapshot.summary.additional_properties.get(SNAPSHOT_SOURCES)
    return json.loads(recorded) if recorded else None


def last_built_from(
    lakehouse: IcebergLakehouse, tables: Iterable[str], bronze: Iterable[str]
) -> dict[str, int | None] | None:
    """The oldest Bronze snapshot ``tables`` were built from, per Bronze company table (None: cannot tell).

    A model built from stored parents only (no Bronze source read in its invocation) inherits the Bronze
    snapshots its parents' snapshots (the ones it read) were built from. A value None means the Bronze table
    was empty (or absent) then: every company in it now is a change.
    """
    bronze = list(bronze)
    pins: dict[str, list[int | None]] = {name: [] for name in bronze}

    def visit(name: str, recorded: Mapping[str, Any] | None, depth: int = 0) -> bool:
        if recorded is None or depth > 10:
            return False
        found = False
        for source, snapshot_id in recorded.items():
            if source in pins:
                pins[source].append(None if snapshot_id is None else int(snapshot_id))
                found = True
            elif source.split(".", 1)[0] in STORED_SCHEMAS and source != name and snapshot_id is not None:
                exists = lakehouse.table_exists(source)
                parent = lakehouse.load(source).snapshot_by_id(int(snapshot_id)) if exists else None
                summary = parent.summary.additional_properties if parent and parent.summary else {}
                text = summary.get(SNAPSHOT_SOURCES)
                found = visit(source, json.loads(text) if text else None, depth + 1) or found
        return found

    for name in tables:
        if not lakehouse.table_exists(name) or not visit(name, _recorded_sources(lakehouse.load(name))):
            return None
    oldest: dict[str, int | None] = {}
    for name, found in pins.items():
        if not found:
            return None
        if None in found:
            oldest[name] = None
            continue
        table = lakehouse.load(name)
        snapshots = [table.snapshot_by_id(s) for s in set(found)]
        if any(s is None for s in snapshots):  # expired: what changed since cannot be told
            return None
        oldest[name] = min(snapshots, key=lambda s: s.sequence_number or 0).snapshot_id  # type: ignore[union-attr]
    return oldest


def changed_tickers(
    lakehouse: IcebergLakehouse, since: Mapping[str, int | None], until: Mapping[str, int | None]
) -> set[str] | None:
    """Tickers whose rows changed in any Bronze company table between ``since`` and ``until``."""
    tickers: set[str] = set()
    for name, current in until.items():
        if current is None or since.get(name) == current:
            continue
        table = lakehouse.load(name)
        previous = since.get(name)
        if previous is None:  # empty when last built: every company in it now
            frame = lakehouse.read(name, snapshot_id=current, columns=[PARTITION_COLUMN])
            tickers |= set(frame.get_column(PARTITION_COLUMN).unique().to_list())
            continue
        touched = changed_partitions(table, previous, current)
        if touched is None:
            return None
        tickers |= touched
    return tickers


# ---- the scope ---------------------------------------------------------------------------------------------
def scope_for(
    lakehouse: IcebergLakehouse,
    tickers: Iterable[str],
    *,
    bronze: Mapping[str, int | None],
    previous: Mapping[str, int | None] | None = None,
    keys: Mapping[str, str] | None = None,
) -> CompanyScope:
    """The scope of changed ``tickers``: their CIKs (now and at ``previous``), and every ticker of those CIKs."""
    tickers = set(tickers)
    ciks: set[str] = set()
    for name, snapshot_id in bronze.items():
        for at in {snapshot_id, (previous or {}).get(name)} - {None}:
            frame = lakehouse.read(name, In(PARTITION_COLUMN, tickers), snapshot_id=at, columns=["cik"])
            ciks |= set(frame.get_column("cik").drop_nulls().to_list())
    every_ticker = set(tickers)
    for name, snapshot_id in bronze.items():
        if ciks and snapshot_id is not None:
            frame = lakehouse.read(name, In("cik", ciks), snapshot_id=snapshot_id, columns=[PARTITION_COLUMN])
            every_ticker |= set(frame.get_column(PARTITION_COLUMN).drop_nulls().to_list())
    return CompanyScope(
        ciks=frozenset(ciks), tickers=frozenset(every_ticker), keys=dict(keys or {}), snapshots=dict(bronze)
    )


@dataclass
class BuildPlan:
    """One ``lakehouse_dbt`` step: ``full`` builds over every company, then ``incremental`` over ``scope``."""

    mode: str  # full | incremental | up_to_date
    reason: str
    full: set[str] = field(default_factory=set)
    incremental: set[str] = field(default_factory=set)
    scope: CompanyScope | None = None
    changed: set[str] = field(default_factory=set)  # the tickers whose Bronze changed (before the closure)

    def companies_text(self) -> str:
        """The rebuilt companies for people: tickers, sorted, the first :data:`LISTED_COMPANIES`."""
        if self.scope is None:
            return "all" if self.full else "none"
        names = sorted(self.scope.tickers)
        shown = ", ".join(names[:LISTED_COMPANIES])
        return shown + (f" ... and {len(names) - LISTED_COMPANIES} more" if len(names) > LISTED_COMPANIES else "")

    def metadata(self) -> dict[str, Any]:
        return {
            "lakehouse/build": self.mode,
            "lakehouse/build_reason": self.reason,
            "lakehouse/companies_rebuilt": "all" if self.scope is None else len(self.scope.tickers),
            "lakehouse/companies": self.companies_text(),
        }


def _descendants(manifest: Mapping[str, Any], roots: Iterable[str], within: set[str]) -> set[str]:
    children: Mapping[str, list[str]] = manifest.get("child_map", {})
    found: set[str] = set()
    frontier = list(roots)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child in within and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _engine_ancestors(manifest: Mapping[str, Any], nodes: Iterable[str]) -> set[str]:
    """Seeds and engine-only models the nodes read (through engine-only nodes; stored parents are read back)."""
    parents: Mapping[str, list[str]] = manifest.get("parent_map", {})
    found: set[str] = set()
    frontier = list(nodes)
    while frontier:
        for parent in parents.get(frontier.pop(), []):
            node = manifest["nodes"].get(parent)
            if node is None or parent in found or node["resource_type"] not in ("model", "seed"):
                continue
            if stored_table(node) is None:
                found.add(parent)
                frontier.append(parent)
    return found


def plan_build(
    manifest: Mapping[str, Any],
    selected: set[str],
    lakehouse: IcebergLakehouse,
    *,
    full_refresh: bool = False,
    companies: Iterable[str] | None = None,
) -> BuildPlan:
    """Split the selected dbt nodes (unique ids) into an incremental part, built first, and a full part.

    A company model stays in the full part when a stored model that is not per company (``silver.prices_daily``)
    is rebuilt upstream of it in the same run: that input changes for every company. The incremental part also
    builds the selected seeds and engine-only models it reads, so it never depends on the full part, which
    runs after it and reads its results back from Iceberg. ``companies``: the changed tickers, when the caller
    knows them (a benchmark, an operator); otherwise they are read from Bronze's snapshots since the
    incremental part's stored models were last built.
    """
    if full_refresh:
        return BuildPlan("full", "full_refresh requested", full=selected)
    chain = company_models(manifest) & selected
    rebuilt_inputs = {u for u in selected - chain if stored_table(manifest["nodes"][u])}
    chain -= _descendants(manifest, rebuilt_inputs, chain)
    stored = sorted(t for u in chain if (t := stored_table(manifest["nodes"][u])))
    if not stored:
        return BuildPlan("full", "no company model to build incrementally in this selection", full=selected)
    bronze_tables = sorted(set(company_sources(manifest).values()))
    now = {n: lakehouse.current_snapshot_id(n) if lakehouse.table_exists(n) else None for n in bronze_tables}
    since = last_built_from(lakehouse, stored, bronze_tables)
    if companies is not None:
        changed = {c.strip() for c in companies if c.strip()}
        reason = "changed companies given"
    else:
        if since is None:
            return BuildPlan("full", "no complete earlier build to compare Bronze with", full=selected)
        detected = changed_tickers(lakehouse, since, now)
        if detected is None:
            return BuildPlan("full", "cannot tell what changed since the last build (snapshot expired?)", full=selected)
        changed, reason = detected, "Bronze snapshots since the last build"
    if not changed:
        return BuildPlan("up_to_date", f"no company changed ({reason})", full=selected - chain, changed=set())
    incremental = chain | (_engine_ancestors(manifest, chain) & (selected - chain))
    scope = scope_for(lakehouse, changed, bronze=now, previous=since, keys=model_keys(manifest))
    return BuildPlan(
        "incremental", reason, full=selected - incremental, incremental=incremental, scope=scope, changed=changed
    )
