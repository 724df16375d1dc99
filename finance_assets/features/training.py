"""Training sets from Feast, reproducible from the Iceberg snapshots they were read at.

For the ML side::

    from finance_assets.features.training import build_training_frame

    # entity_df: ticker, event_timestamp[, label...]; store: FeastResource.store(); lakehouse: the catalog
    frame, snapshots = build_training_frame(entity_df, store=store, lakehouse=lakehouse)
    ...log snapshots with the model (e.g. MLflow params / dataset digest)...
    again, _ = build_training_frame(entity_df, snapshots=snapshots, store=store, lakehouse=lakehouse)  # identical

Feast's point-in-time join (DuckDB offline store) reads every source table of the feature service whole,
and always at its current snapshot. Here the current snapshot of each table is recorded first and Feast is
made to read exactly it (:func:`.sources.pinned_snapshots`); given recorded ``snapshots`` it time-travels to
them instead, so a later export equals the first one row for row even after the tables changed (as long as
those snapshots are not expired). Rows come back in the order of ``entity_df`` with its extra columns
(labels, weights) carried through.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import polars as pl
from feast import FeatureStore

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.features import catalog
from finance_assets.features.sources import LakehouseIcebergSource, SnapshotPinError, pinned_snapshots

DEFAULT_FEATURE_SERVICE = catalog.SERVICE_V2
TIMESTAMP = "event_timestamp"
_ROW = "__entity_row"


def service_tables(store: FeatureStore, feature_service: str) -> dict[str, str]:
    """Feature view -> Iceberg table (``namespace.table``) for every view of the feature service."""
    service = store.get_feature_service(feature_service)
    found = {}
    for projection in service.feature_view_projections:
        source = store.get_feature_view(projection.name).batch_source
        if not isinstance(source, LakehouseIcebergSource):
            raise TypeError(f"{projection.name} reads {type(source).__name__}: not reproducible from Iceberg snapshots")
        found[projection.name] = source.table_name
    return found


def _entity_frame(entity_df: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
    frame = entity_df.to_pandas() if isinstance(entity_df, pl.DataFrame) else entity_df.copy()
    if TIMESTAMP not in frame.columns or "ticker" not in frame.columns:
        raise ValueError(f"entity_df needs columns 'ticker' and {TIMESTAMP!r} (the decision time), got {list(frame)}")
    stamps = pd.to_datetime(frame[TIMESTAMP])
    frame[TIMESTAMP] = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    frame[_ROW] = range(len(frame))
    return frame.reset_index(drop=True)


def build_training_frame(
    entity_df: pd.DataFrame | pl.DataFrame,
    feature_service: str = DEFAULT_FEATURE_SERVICE,
    *,
    snapshots: Mapping[str, int] | None = None,
    store: FeatureStore,
    lakehouse: IcebergLakehouse,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Point-in-time features of ``feature_service`` for each (ticker, event_timestamp) of ``entity_df``.

    Returns the frame (entity_df's rows in order, its columns, then the features) and the Iceberg snapshot
    id of every table read. Pass those ``snapshots`` back to rebuild the same frame later.
    """
    tables = sorted(set(service_tables(store, feature_service).values()))
    if snapshots is None:
        pins: dict[str, int] = {}
        for table in tables:
            snapshot_id = lakehouse.current_snapshot_id(table)
            if snapshot_id is None:
                raise SnapshotPinError(f"{table} has no snapshot yet: materialize it before exporting features")
            pins[table] = snapshot_id
    else:
        missing = [t for t in tables if t not in snapshots]
        if missing:
            raise SnapshotPinError(
                f"{feature_service} reads {missing}, which the recorded snapshots do not cover "
                f"({sorted(snapshots)}): the feature service changed since the export was recorded."
            )
        pins = {t: int(snapshots[t]) for t in tables}

    entities = _entity_frame(entity_df)
    with pinned_snapshots(pins, lakehouse=lakehouse, strict=True) as reads:
        job = store.get_historical_features(entity_df=entities, features=store.get_feature_service(feature_service))
        frame = job.to_df()
    if reads.read != pins:
        raise SnapshotPinError(f"Feast read {reads.read}, expected exactly {pins}")
    frame = frame.sort_values(_ROW, kind="stable").drop(columns=_ROW).reset_index(drop=True)
    return frame, pins
