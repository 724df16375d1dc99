"""The prod profile's storage on real servers: Iceberg on Postgres + S3, the S3 archive, Dagster on Postgres."""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.request
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import CATALOG_NAME
from finance_assets.core.settings import Settings
from prod.conftest import REDIS_LOCK_KEY, MlflowServer, PostgresDatabases, RedisDb, S3Server

pytestmark = pytest.mark.prod


def _frame(ticker: str, n: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame({"ticker": [ticker] * n, "i": list(range(n)), "value": [offset + i for i in range(n)]})


def test_iceberg_writer_on_postgres_catalog_and_s3_is_readable_by_plain_pyiceberg(
    prod_env: dict[str, str], s3_server: S3Server, pg_databases: PostgresDatabases
) -> None:
    settings = Settings.from_env(prod_env)
    props = settings.catalog_properties()
    assert props["uri"].startswith("postgresql+psycopg2://") and props["warehouse"].startswith("s3://")
    assert props["s3.endpoint"] == s3_server.endpoint and props["s3.force-virtual-addressing"] == "false"

    lake = IcebergLakehouse.from_settings(settings)
    spec = ["identity(ticker)"]
    lake.write("bronze.prod_probe", _frame("AAPL", 3), replace=EqualTo("ticker", "AAPL"), partition_by=spec)
    lake.write("bronze.prod_probe", _frame("MSFT", 2), replace=EqualTo("ticker", "MSFT"), partition_by=spec)
    result = lake.write(
        "bronze.prod_probe",
        _frame("AAPL", 4, offset=100),
        replace=EqualTo("ticker", "AAPL"),
        partition_by=spec,
        snapshot_properties={"dagster.run-id": "prod-run"},
    )

    # an independent reader: plain pyiceberg, the same catalog name, only the documented properties
    catalog = SqlCatalog(
        CATALOG_NAME,
        uri=pg_databases.url("catalog", "postgresql+psycopg2"),
        warehouse=f"s3://{s3_server.bucket}/warehouse",
        **{
            "s3.endpoint": s3_server.endpoint,
            "s3.access-key-id": s3_server.access_key,
            "s3.secret-access-key": s3_server.secret_key,
            "s3.region": s3_server.region,
        },
    )
    table = catalog.load_table("bronze.prod_probe")
    assert table.metadata_location.startswith(f"s3://{s3_server.bucket}/warehouse/")
    frame = pl.from_arrow(table.scan().to_arrow())
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == 6
    aapl = frame.filter(pl.col("ticker") == "AAPL").sort("i")
    assert aapl.get_column("value").to_list() == [100.0, 101.0, 102.0, 103.0]
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.snapshot_id == result.snapshot_id
    assert snapshot.summary is not None and snapshot.summary["dagster.run-id"] == "prod-run"

    # the files really are objects in the bucket, and the catalog rows really are in Postgres
    keys = s3_server.keys("warehouse/bronze")
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith(".metadata.json") for k in keys)
    conn = pg_databases.server.connect(pg_databases.names["catalog"])
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select metadata_location from iceberg_tables where catalog_name = %s and table_name = %s",
                (CATALOG_NAME, "prod_probe"),
            )
            assert cur.fetchone() == (table.metadata_location,)
    finally:
        conn.close()


def test_s3_server_rejects_a_wrong_secret(s3_server: S3Server) -> None:
    """The harness's S3 checks signatures: a test passing here would catch a credentials bug."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as error:
        s3_server.client(aws_secret_access_key="not-the-secret").list_objects_v2(Bucket=s3_server.bucket)
    assert error.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"}


def test_raw_archive_goes_to_s3_through_dagster_aws(prod_environ: dict[str, str], s3_server: S3Server) -> None:
    from finance_assets.core.archive import S3BlobStore
    from finance_assets.resources import resources_for

    archive = resources_for(Settings.from_env(), secrets="values")["archive"].archive()
    assert isinstance(archive.store, S3BlobStore)
    payload = json.dumps({"probe": "prod archive", "n": 1}).encode()
    item = archive.put("sec", "https://data.sec.gov/probe.json", payload)
    key = f"raw/{archive.key('sec', item.sha256)}"
    assert item.uri == f"s3://{s3_server.bucket}/{key}"
    assert key in s3_server.keys("raw/sec/")  # listed by a plain boto3 client
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert gzip.decompress(body) == payload and hashlib.sha256(payload).hexdigest() == item.sha256
    assert archive.get("sec", item.sha256) == payload
    again = archive.put("sec", "https://data.sec.gov/probe.json", payload)  # write-once: same key
    assert again.uri == item.uri and s3_server.keys("raw/sec/").count(key) == 1


def test_prod_dagster_instance_loads_from_the_deploy_template_and_stores_runs(
    prod_dagster_home: Path, prod_environ: dict[str, str]
) -> None:
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    repo = Path(__file__).resolve().parents[2]
    assert (prod_dagster_home / "dagster.yaml").read_text() == (repo / "deploy" / "dagster.yaml").read_text()

    @dg.asset(pool="prod_probe")  # an unconfigured pool: the template's default_limit applies
    def prod_probe() -> int:
        print("compute log line for S3")
        return 1

    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert not instance.telemetry_enabled
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None and run_queue.max_concurrent_runs == 8

        result = dg.materialize([prod_probe], instance=instance)
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        # the pool's one slot was created from default_limit, claimed through Postgres and given back
        info = instance.event_log_storage.get_concurrency_info("prod_probe")
        assert info.slot_count == 1 and info.using_default_limit and not info.claimed_slots

    # the run is in Postgres: a second, independent instance sees it
    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as other:
        assert other.get_run_by_id(result.run_id) is not None


def test_redis_db_is_this_sessions_and_is_what_feast_redis_names(prod_env: dict[str, str], redis_db: RedisDb) -> None:
    client = redis_db.client()
    assert client.dbsize() == 1 and client.get(REDIS_LOCK_KEY)  # flushed, then claimed by this session
    client.set("lakehouse:probe", "1")
    assert client.get("lakehouse:probe") == b"1"
    client.delete("lakehouse:probe")
    assert Settings.from_env(prod_env).require("feast_redis") == f"127.0.0.1:6379,db={redis_db.db}"


def test_mlflow_server_on_postgres_and_s3_answers_health(mlflow_server: MlflowServer) -> None:
    with urllib.request.urlopen(f"{mlflow_server.url}/health", timeout=5) as response:
        assert response.status == 200 and response.read().strip() == b"OK"
