"""Issue #6: CI runs the whole demo graph on the prod profile, then reads every product back independently.

Bronze -> dbt Silver/Gold -> feature tables + Feast registry + Redis online store -> training set -> return
model (Optuna on Postgres, MLflow server on Postgres + S3) -> predictions, in replay mode, through
``finance_assets.pipeline.materialize_all`` on the Postgres-backed Dagster instance of ``deploy/dagster.yaml``.
Reduced: three companies, prices from 2019, a tiny trial budget and short walk-forward windows. Then, with
nothing of the lakehouse's own readers: plain pyiceberg over S3 for the Gold/ML tables, ``feast serve`` over
HTTP for the online features, ``mlflow.pyfunc`` through the tracking server for the champion model.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

from finance_assets.core.loopback import free_port, running
from finance_assets.core.names import CATALOG_NAME, MARKET_BENCHMARK
from finance_assets.core.settings import Settings
from prod.conftest import REPO_ROOT, MlflowServer, PostgresDatabases, RedisDb, S3Server, subprocess_env

pytestmark = pytest.mark.prod

UNIVERSE = ("AAPL", "MSFT", "NVDA")
PRICES_START = "2019-01-02"
TRIALS = 2
# the return model's walk-forward windows, shrunk to the short price range (ml/assets.py ReturnModelConfig)
WINDOWS = {"n_folds": 2, "fold_months": 3, "holdout_months": 6, "min_train_months": 12, "timeout_seconds": 120.0}
UNKNOWN = "ZZZZ"
SERVICE = "return_model_v1"
# feature view -> (Gold table it serves, its timestamp column): feature_repo/features.py
VIEW_TABLES = {
    "fundamentals": ("gold.fundamental_features", "event_timestamp"),
    "financial_ratios": ("gold.ratio_features", "event_timestamp"),
    "price_features": ("gold.price_features", "trade_date"),
    "filing_signals": ("gold.filing_signal_features", "event_timestamp"),
}


def _plain_catalog(pg: PostgresDatabases, s3: S3Server) -> SqlCatalog:
    """An independent reader: plain pyiceberg, the catalog name and the documented properties only."""
    return SqlCatalog(
        CATALOG_NAME,
        uri=pg.url("catalog", "postgresql+psycopg2"),
        warehouse=f"s3://{s3.bucket}/warehouse",
        **{
            "s3.endpoint": s3.endpoint,
            "s3.access-key-id": s3.access_key,
            "s3.secret-access-key": s3.secret_key,
            "s3.region": s3.region,
        },
    )


def _read(catalog: SqlCatalog, name: str, row_filter: Any = None) -> pl.DataFrame:
    table = catalog.load_table(name)
    scan = table.scan(row_filter=row_filter) if row_filter is not None else table.scan()
    frame = pl.from_arrow(scan.to_arrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return json.loads(response.read())


@contextlib.contextmanager
def _feature_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """``python -m finance_assets.features serve`` on a free loopback port; stopped by its PID (group)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        *(sys.executable, "-m", "finance_assets.features", "serve"),
        *("--host", "127.0.0.1", "--port", str(port), "--max-requests", "0", "--no-access-log"),
    ]
    with running("feast serve", argv, log, ready=f"{base}/health", timeout=180, env=env, cwd=REPO_ROOT):
        yield base


def _same(served: Any, stored: Any) -> bool:
    if stored is None or (isinstance(stored, float) and math.isnan(stored)):
        return served is None or (isinstance(served, float) and math.isnan(served))
    if isinstance(stored, datetime):  # UnixTimestamp features: ISO-8601 over HTTP (the server's wrapper)
        aware = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        return isinstance(served, str) and datetime.fromisoformat(served.replace("Z", "+00:00")) == aware
    if isinstance(stored, date):
        midnight = datetime(stored.year, stored.month, stored.day, tzinfo=UTC)
        return isinstance(served, str) and datetime.fromisoformat(served.replace("Z", "+00:00")) == midnight
    if isinstance(stored, float):
        return served is not None and math.isclose(served, stored, rel_tol=1e-9, abs_tol=1e-12)
    return served == stored


def test_whole_graph_on_prod_profile_reads_back_over_s3_redis_http_and_mlflow_server(
    prod_env: dict[str, str],
    prod_dagster_home: Path,
    prod_environ: dict[str, str],
    mlflow_server: MlflowServer,
    pg_databases: PostgresDatabases,
    s3_server: S3Server,
    redis_db: RedisDb,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import finance_assets.ml.demo as demo
    from finance_assets.pipeline import materialize_all

    reduced = {"UNIVERSE": ",".join(UNIVERSE), "PRICES_START": PRICES_START}
    for name, value in reduced.items():
        monkeypatch.setenv(name, value)
    demo_runs = demo.demo_runs

    def small_demo_runs(*args: Any, **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
        runs = demo_runs(*args, **kwargs)
        for _, options in runs:
            if model := options.get("run_config", {}).get("ops", {}).get("ml__return_model"):
                model["config"] |= WINDOWS
        return runs

    monkeypatch.setattr(demo, "DEMO_TRIALS", TRIALS)  # the demo's ML stage, with a tiny budget
    monkeypatch.setattr(demo, "demo_runs", small_demo_runs)
    settings = Settings.from_env()
    assert settings.profile == "prod" and settings.universe == ",".join(UNIVERSE) and settings.replay
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_server.url

    # The session's catalog is shared with the concurrency test (eight other companies' facts): start
    # this graph from an empty lakehouse so Gold is built from exactly this UNIVERSE.
    from finance_assets.core.iceberg import IcebergLakehouse

    lakehouse = IcebergLakehouse.from_settings(settings)
    for (namespace,) in lakehouse.catalog.list_namespaces():
        for identifier in lakehouse.catalog.list_tables(namespace):
            lakehouse.drop(".".join(identifier))

    # 1. the whole graph, stage by stage, into the Postgres-backed instance
    started = time.monotonic()
    lines: list[str] = []
    failures = materialize_all(settings, log=lambda line: (lines.append(line), print(line)))
    elapsed = time.monotonic() - started
    assert not failures, "\n".join([*failures, "", *lines])

    # 2. Gold and ML tables, read back over S3 by plain pyiceberg
    catalog = _plain_catalog(pg_databases, s3_server)
    namespaces = {ns for (ns,) in catalog.list_namespaces()}
    assert {"bronze", "gold", "ml"} <= namespaces
    for name in ("gold.price_features", "gold.fundamental_features", "ml.training_set", "ml.predictions"):
        table = catalog.load_table(name)
        assert table.metadata_location.startswith(f"s3://{s3_server.bucket}/warehouse/"), name
        frame = _read(catalog, name)
        assert frame.height > 0, name
        assert set(frame.get_column("ticker").unique().to_list()) <= {*UNIVERSE, MARKET_BENCHMARK}, name
    prices = _read(catalog, "gold.price_features")
    assert set(prices.get_column("ticker").unique().to_list()) == {*UNIVERSE, MARKET_BENCHMARK}
    assert str(prices.get_column("trade_date").min()) >= PRICES_START
    predictions = _read(catalog, "ml.predictions")
    assert predictions.height > 0
    keys = s3_server.keys("warehouse/gold/")
    assert any(k.endswith(".parquet") for k in keys)
    assert s3_server.keys("raw/"), "the raw archive is in the bucket"
    assert s3_server.keys("mlflow/"), "MLflow artifacts went to the bucket through the server"

    # 3. online features over HTTP from Redis: the latest Gold rows for AAPL, nulls for an unknown ticker
    from finance_assets.features.store import load_definitions

    contents = load_definitions()
    service = next(s for s in contents.feature_services if s.name == SERVICE)
    wanted: dict[str, str] = {}  # feature name -> view
    for projection in service.feature_view_projections:
        for feature in projection.features:
            wanted[feature.name] = projection.name
    now = datetime.now(UTC)
    latest: dict[str, pl.DataFrame] = {}
    for view in set(wanted.values()):
        table, stamp = VIEW_TABLES[view]
        rows = _read(catalog, table, EqualTo("ticker", "AAPL"))
        assert rows.height > 0, table
        column = rows.get_column(stamp)
        if column.dtype == pl.Date:
            rows = rows.filter(pl.col(stamp) <= now.date())
        elif isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is not None:
            rows = rows.filter(pl.col(stamp) <= now)
        else:
            rows = rows.filter(pl.col(stamp) <= now.replace(tzinfo=None))
        top = rows.get_column(stamp).max()
        latest[view] = rows.filter(pl.col(stamp) == top)  # ties (e.g. FY and Q filed the same day): any one
    assert redis_db.client().dbsize() > 1, "the online store wrote into this session's Redis db"

    env = subprocess_env(prod_env, **reduced)
    with _feature_server(env, tmp_path / "serve.log") as base:
        body = _post(
            f"{base}/get-online-features", {"feature_service": SERVICE, "entities": {"ticker": ["AAPL", UNKNOWN]}}
        )
    columns = body["metadata"]["feature_names"]
    assert columns[0] == "ticker" and sorted(columns[1:]) == sorted(wanted)
    served = {name: result["values"] for name, result in zip(columns, body["results"], strict=True)}
    assert served["ticker"] == ["AAPL", UNKNOWN]
    assert all(values[1] is None for name, values in served.items() if name != "ticker"), "unknown ticker: nulls"
    assert sum(served[name][0] is not None for name in wanted) > len(wanted) // 2, "AAPL is mostly served"
    # a view's latest row older than its TTL is not current: the server serves nulls for it (OUTSIDE_MAX_AGE)
    ttls = {view.name: view.ttl for view in contents.feature_views}
    mismatches = []
    for view, candidates in latest.items():
        names = [n for n, v in wanted.items() if v == view]
        stamp = candidates.get_column(VIEW_TABLES[view][1]).max()
        stamped = stamp if isinstance(stamp, datetime) else datetime(stamp.year, stamp.month, stamp.day)
        stamped = stamped if stamped.tzinfo else stamped.replace(tzinfo=UTC)
        if ttls[view] and stamped < now - ttls[view]:
            if any(served[n][0] is not None for n in names):
                mismatches.append((view, {n: served[n][0] for n in names if served[n][0] is not None}))
            continue
        if not any(all(_same(served[n][0], row[n]) for n in names) for row in candidates.iter_rows(named=True)):
            row = candidates.row(0, named=True)
            mismatches.append((view, {n: (served[n][0], row[n]) for n in names if not _same(served[n][0], row[n])}))
    assert not mismatches, f"served != latest Gold rows: {mismatches}"

    # 4. the champion, loaded from the tracking server (artifacts proxied from S3), predicts on a row
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    from finance_assets.ml.spec import CHAMPION_ALIAS, MODEL_NAME

    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    version = MlflowClient(mlflow_server.url).get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert version.source
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}")
    schema = model.metadata.get_input_schema()
    assert schema is not None
    inputs = schema.input_names()
    training = _read(catalog, "ml.training_set")
    row = training.filter(pl.col("ticker") == "AAPL").tail(1).select(pl.col(inputs).cast(pl.Float64)).to_pandas()
    prediction = model.predict(row)
    values = prediction.to_numpy() if hasattr(prediction, "to_numpy") else prediction
    assert len(values) == 1 and all(math.isfinite(float(v)) for v in values.reshape(-1))

    print(f"\nwhole graph on prod: {elapsed:.1f}s, {predictions.height} predictions, champion v{version.version}")
