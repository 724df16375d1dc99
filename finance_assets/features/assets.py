"""The feature layer as Dagster assets (group ``features``).

- ``gold/fundamental_features``, ``gold/ratio_features``, ``gold/filing_signal_features``: Gold-consuming
  Python assets that reshape Gold to one row per (ticker, event time) (:mod:`.tables` says why), written by
  the Iceberg IO manager (the project's one writer). Their metadata names the snapshot of every Gold table
  read, so each feature table points at the exact Gold state it came from.
- ``feast_registry``: applies ``feature_repo/`` to the registry. Its code version is a hash of the
  definitions, so Dagster shows it stale when they change. It compares normalized specs (not Feast's plan,
  which reports every materialized view as updated) and writes nothing when they match: re-running is a
  no-op.
- ``feast_online_features``: incremental materialization into the online store after the tables it reads
  change. It records the Iceberg snapshot of every source table, then makes Feast read exactly those
  snapshots (:func:`.sources.pinned_snapshots`), so the metadata is what was served, not a guess.

Interval: from the last materialized end minus the view's TTL (late rows: a filing ingested days after its
filing date still lands; the TTL bounds how far back a row can matter online) to now; a view without TTL or
without a previous run starts at the epoch. Feast reads whole tables anyway, so the overlap costs nothing,
and re-writing the same latest row per ticker is idempotent.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl
import pyarrow as pa

from finance_assets.core import checks, names
from finance_assets.core.checks import FrameCheck, Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import table_name as _table
from finance_assets.core.owners import QUANT_RESEARCH
from finance_assets.core.resources import LakehouseResource
from finance_assets.features import columns, tables
from finance_assets.features.resources import FeastResource
from finance_assets.features.store import (
    definition_specs,
    definitions_version,
    fingerprint,
    load_definitions,
    registry_specs,
    spec_changes,
)

if TYPE_CHECKING:  # feast takes seconds to import: the asset bodies import it, the code location does not
    from feast import FeatureView


GROUP = "features"  # Feast's registry and online store (features/...)
TABLE_GROUP = "gold"  # the feature tables are Gold Iceberg tables (gold/...): a group is its keys' prefix
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AUTOMATION = dg.AutomationCondition.eager()

FEAST_REGISTRY = names.FEAST_REGISTRY
FEAST_ONLINE = names.FEAST_ONLINE_FEATURES
FUNDAMENTAL_FEATURES = names.FUNDAMENTAL_FEATURES
RATIO_FEATURES = names.RATIO_FEATURES
FILING_SIGNAL_FEATURES = names.FILING_SIGNAL_FEATURES
PRICE_FEATURES = names.PRICE_FEATURES
# the tables the feature views read (feature_repo/features.py): lineage of the Feast assets
FEATURE_SOURCE_KEYS = (
    PRICE_FEATURES,
    FUNDAMENTAL_FEATURES,
    RATIO_FEATURES,
    FILING_SIGNAL_FEATURES,
    names.COMPANY_SECTORS,
)


def _read_gold(lakehouse: IcebergLakehouse, keys: Sequence[dg.AssetKey]) -> tuple[dict[str, pl.DataFrame], Metadata]:
    """Each Gold table at its current snapshot, and the snapshot ids for the metadata (lineage)."""
    frames, snapshots = {}, {}
    for key in keys:
        table = _table(key)
        snapshot_id = lakehouse.current_snapshot_id(table)
        frames[key.path[-1]] = lakehouse.read(table, snapshot_id=snapshot_id)
        snapshots[table] = str(snapshot_id)
    return frames, {"upstream_snapshots": dg.MetadataValue.json(snapshots)}


def _feature_table_checks(extra: Sequence[FrameCheck] = ()) -> tuple[FrameCheck, ...]:
    return (
        checks.unique_key("ticker", tables.EVENT_TIMESTAMP),
        checks.non_empty(),
        checks.no_rows_where(
            "event_timestamp_set",
            "Every row has a ticker and an event timestamp (Feast drops rows without one).",
            pl.col("ticker").is_null() | pl.col(tables.EVENT_TIMESTAMP).is_null(),
        ),
        *extra,
    )


FILED_AFTER_PERIOD = checks.no_rows_where(
    "filed_after_period_end",
    "A period's values are public after the period ends (filed_at >= period_end).",
    pl.col("filed_at") < pl.col("period_end"),
    show=["ticker", "period_type", "period_end", "filed_at"],
)
FUNDAMENTAL_CHECKS = _feature_table_checks([FILED_AFTER_PERIOD])
RATIO_CHECKS = _feature_table_checks([FILED_AFTER_PERIOD])
SIGNAL_CHECKS = _feature_table_checks()


def _feature_table(
    key: dg.AssetKey,
    deps: Sequence[dg.AssetKey],
    frame_checks: Sequence[FrameCheck],
    description: str,
    schema: pa.Schema,
) -> Any:
    return dg.asset(
        key=key,
        deps=list(deps),
        group_name=TABLE_GROUP,
        owners=[QUANT_RESEARCH],  # the feature layer's tables, though Gold by namespace
        io_manager_key="iceberg_io_manager",
        kinds={"polars", "iceberg"},
        automation_condition=AUTOMATION,
        check_specs=checks.specs(key, frame_checks),
        description=description,
        metadata={
            "dagster/table_name": f"lakehouse.{_table(key)}",
            "iceberg/table": _table(key),
            COLUMN_SCHEMA: described_schema(schema, columns.docs_for(schema), table=_table(key)),
        },
    )


def _emit(key: dg.AssetKey, frame: pl.DataFrame, meta: Metadata, frame_checks: Sequence[FrameCheck]) -> Iterator[Any]:
    yield dg.Output(frame, metadata={**meta, "tickers": frame.get_column("ticker").n_unique()})
    yield from checks.results(key, frame, frame_checks)


STATEMENTS = [names.INCOME_STATEMENT, names.BALANCE_SHEET, names.CASH_FLOW]


@_feature_table(
    FUNDAMENTAL_FEATURES,
    STATEMENTS,
    FUNDAMENTAL_CHECKS,
    "Per (ticker, filing date) the three Gold statements of the most recent fiscal period public on that "
    "date: the point-in-time source of the `fundamentals` feature view.",
    columns.FUNDAMENTAL_FEATURES_SCHEMA,
)
def fundamental_features(lakehouse: LakehouseResource) -> Iterator[Any]:
    frames, meta = _read_gold(lakehouse.lakehouse(), STATEMENTS)
    frame = tables.fundamental_features(frames["income_statement"], frames["balance_sheet"], frames["cash_flow"])
    yield from _emit(FUNDAMENTAL_FEATURES, frame, meta, FUNDAMENTAL_CHECKS)


@_feature_table(
    RATIO_FEATURES,
    [names.FINANCIAL_RATIOS, FUNDAMENTAL_FEATURES],
    RATIO_CHECKS,
    "gold.financial_ratios of the period gold.fundamental_features chose, per (ticker, filing date): the "
    "source of the `financial_ratios` feature view.",
    columns.RATIO_FEATURES_SCHEMA,
)
def ratio_features(lakehouse: LakehouseResource) -> Iterator[Any]:
    frames, meta = _read_gold(lakehouse.lakehouse(), [names.FINANCIAL_RATIOS, FUNDAMENTAL_FEATURES])
    frame = tables.ratio_features(frames["financial_ratios"], frames["fundamental_features"])
    yield from _emit(RATIO_FEATURES, frame, meta, RATIO_CHECKS)


@_feature_table(
    FILING_SIGNAL_FEATURES,
    [names.FILING_SIGNALS],
    SIGNAL_CHECKS,
    "gold.filing_signals counted per (ticker, date a count changes): late-filing notices, amendments and "
    "restatements in the trailing 365 days and in total. Source of the `filing_signals` feature view.",
    columns.FILING_SIGNAL_FEATURES_SCHEMA,
)
def filing_signal_features(lakehouse: LakehouseResource) -> Iterator[Any]:
    frames, meta = _read_gold(lakehouse.lakehouse(), [names.FILING_SIGNALS])
    frame = tables.filing_signal_features(frames["filing_signals"])
    yield from _emit(FILING_SIGNAL_FEATURES, frame, meta, SIGNAL_CHECKS)


# ---- Feast registry ------------------------------------------------------------------------------------------
@dg.asset(
    key=FEAST_REGISTRY,
    deps=list(FEATURE_SOURCE_KEYS),
    group_name=GROUP,
    kinds={"feast"},
    code_version=definitions_version(),
    automation_condition=AUTOMATION | dg.AutomationCondition.code_version_changed(),
    description=(
        "The Feast registry of feature_repo/ (entity ticker, feature views over Gold Iceberg tables, the "
        "return_model_v1 and return_model_v2 feature services). Applied only when the definitions differ from "
        "the registry."
    ),
)
def feast_registry(context: dg.AssetExecutionContext, feast: FeastResource) -> dg.MaterializeResult:
    from feast.project import Project
    from feast.repo_operations import extract_objects_for_apply_delete

    store = feast.store()
    repo = load_definitions()
    repo.projects.append(Project(name=store.project, description=store.config.project_description or ""))
    wanted, registered = definition_specs(repo), registry_specs(store)
    changes = spec_changes(registered, wanted)
    if changes:
        context.log.info("applying feature_repo/: %s", "; ".join(changes))
        provider = store._get_provider()
        for view in repo.feature_views:  # as `feast apply` does: the tables must exist and be readable
            if is_ml_view(view):  # written after the features (ml/predictions): validated when materialized
                continue
            provider.validate_data_source(store.config, view.batch_source)
        to_apply, to_delete, _, _ = extract_objects_for_apply_delete(store.project, store.registry, repo)
        store.apply(to_apply, objects_to_delete=to_delete, partial=False)
        store.refresh_registry()
        after = spec_changes(registry_specs(store), wanted)
        if after:
            raise RuntimeError(f"the registry still differs from feature_repo/ after apply: {after}")
    else:
        context.log.info("registry matches feature_repo/ (%s): nothing applied", fingerprint(wanted))
    views = store.list_feature_views()
    return dg.MaterializeResult(
        metadata={
            "applied": bool(changes),
            "changes": dg.MetadataValue.json(changes),
            "project": store.project,
            "definitions_version": definitions_version(),
            "registry_fingerprint": fingerprint(wanted),
            "feature_views": dg.MetadataValue.json(sorted(v.name for v in views)),
            "feature_services": dg.MetadataValue.json(sorted(s.name for s in store.list_feature_services())),
            "features": sum(len(v.features) for v in views),
        }
    )


# ---- online materialization -----------------------------------------------------------------------------------
class OnlineFeaturesConfig(dg.Config):
    full_refresh: bool = False
    """Materialize every view from the epoch (e.g. after the online store was wiped)."""


def is_ml_view(view: "FeatureView") -> bool:
    """A view over an ML table (ml.predictions): registered with the rest, materialized by the ML asset that
    follows its table (ml/online_predictions), not by feast_online_features, which runs before it exists."""
    return view.tags.get("layer") == "ml"


def source_table(view: "FeatureView") -> str:
    from finance_assets.features.sources import LakehouseIcebergSource

    source = view.batch_source
    if not isinstance(source, LakehouseIcebergSource):
        raise TypeError(f"feature view {view.name} reads {type(source).__name__}, not a lakehouse Iceberg table")
    return source.table_name


def interval_start(view: "FeatureView", *, full_refresh: bool) -> datetime:
    last_end = view.most_recent_end_time
    if full_refresh or last_end is None or not view.ttl:
        return EPOCH
    last_end = last_end if last_end.tzinfo else last_end.replace(tzinfo=UTC)
    return max(EPOCH, last_end - view.ttl)


def rows_in_interval(frame: pl.DataFrame, view: "FeatureView", start: datetime, end: datetime) -> int:
    """Online rows the interval writes: one per entity with a source row in [start, end] (Feast keeps the latest)."""
    ts = view.batch_source.timestamp_field
    column = pl.col(ts)
    if frame.schema[ts] == pl.Date:
        column = column.cast(pl.Datetime("us"))
    elif isinstance(frame.schema[ts], pl.Datetime) and frame.schema[ts].time_zone:  # type: ignore[union-attr]
        column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    lo, hi = start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)
    keys = [e.name for e in view.entity_columns]
    return frame.filter(column.is_between(lo, hi)).select(keys).unique().height


@dg.asset(
    key=FEAST_ONLINE,
    deps=[FEAST_REGISTRY, *FEATURE_SOURCE_KEYS],
    group_name=GROUP,
    kinds={"feast", "sqlite", "redis"},
    automation_condition=AUTOMATION,
    description=(
        "Latest feature values per ticker in the online store (SQLite embedded, Redis in prod), "
        "materialized incrementally from the Gold Iceberg tables at recorded snapshots."
    ),
)
def feast_online_features(
    context: dg.AssetExecutionContext,
    config: OnlineFeaturesConfig,
    feast: FeastResource,
    lakehouse: LakehouseResource,
) -> dg.MaterializeResult:
    from finance_assets.features.sources import pinned_snapshots

    store = feast.store()
    catalog = lakehouse.lakehouse()
    views = sorted((v for v in store.list_feature_views() if v.online and not is_ml_view(v)), key=lambda v: v.name)
    tables_read = {v.name: source_table(v) for v in views}
    snapshots = {table: catalog.current_snapshot_id(table) for table in sorted(set(tables_read.values()))}
    end = datetime.now(UTC).replace(microsecond=0)

    intervals: dict[str, dict[str, str]] = {}
    rows_written: dict[str, int] = {}
    with pinned_snapshots(snapshots, lakehouse=catalog) as reads:
        for view in views:
            start = interval_start(view, full_refresh=config.full_refresh)
            table = tables_read[view.name]
            frame = catalog.read(table, snapshot_id=snapshots[table])
            rows_written[view.name] = rows_in_interval(frame, view, start, end)
            context.log.info("materializing %s (%s) from %s to %s", view.name, table, start, end)
            store.materialize(start, end, feature_views=[view.name])
            intervals[view.name] = {"start": start.isoformat(), "end": end.isoformat()}
    unread = {t for t in snapshots if t not in reads.read}
    if unread:
        raise RuntimeError(f"Feast did not read {sorted(unread)} through the pinned lakehouse source")

    return dg.MaterializeResult(
        metadata={
            "feature_views": dg.MetadataValue.json(sorted(tables_read)),
            "features": dg.MetadataValue.json({v.name: [f.name for f in v.features] for v in views}),
            "intervals": dg.MetadataValue.json(intervals),
            "rows_written": dg.MetadataValue.json(rows_written),
            "dagster/row_count": sum(rows_written.values()),
            "iceberg/snapshots": dg.MetadataValue.json({t: str(s) for t, s in reads.read.items()}),
            "online_store": store.config.online_store.type,
            "full_refresh": config.full_refresh,
        }
    )


def feature_asset_keys() -> list[dg.AssetKey]:
    return [FUNDAMENTAL_FEATURES, RATIO_FEATURES, FILING_SIGNAL_FEATURES, FEAST_REGISTRY, FEAST_ONLINE]


def feature_selection() -> list[str]:
    """Asset selection strings of the feature layer (after the dbt build)."""
    return [key.to_user_string() for key in feature_asset_keys()]
