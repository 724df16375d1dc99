"""The dbt plugin's streaming read and chunked store on the prod profile: Postgres catalog, S3 (SeaweedFS).

DuckDB 2.0 cannot install httpfs offline, so DuckDB never touches S3 itself: pyiceberg reads the data files
over S3 and hands DuckDB record batches, and the chunked store writes them back through pyiceberg.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbt.adapters.duckdb.utils import SourceConfig
from dbt_common.invocation import reset_invocation_id
from pyiceberg.expressions import AlwaysFalse

from finance_assets.core.iceberg import ArrowChunks
from finance_assets.transform.dbt_plugin import Plugin
from prod.conftest import PostgresDatabases, S3Server

pytestmark = pytest.mark.prod


def _rows(ticker: str, n: int) -> pa.Table:
    return pa.table({"ticker": [ticker] * n, "value": [float(i) for i in range(n)]})


def test_sources_stream_from_s3_into_duckdb_and_models_store_back_in_chunks(
    prod_environ: dict[str, str], s3_server: S3Server, pg_databases: PostgresDatabases, tmp_path: Path
) -> None:
    reset_invocation_id()
    plugin = Plugin(name="lakehouse", plugin_config={})
    lakehouse = plugin._lakehouse
    lakehouse.write("bronze.stream_probe", _rows("AAPL", 100_000))
    lakehouse.write("bronze.stream_probe", _rows("MSFT", 50_000), replace=AlwaysFalse())
    assert lakehouse.load("bronze.stream_probe").metadata_location.startswith(f"s3://{s3_server.bucket}/")

    source = SourceConfig(
        name="stream_probe",
        identifier="stream_probe",
        schema="bronze",
        database=None,
        meta={"iceberg_table": "bronze.stream_probe"},
        tags=[],
    )
    con = duckdb.connect()
    con.register("source_df", plugin.load(source))
    con.execute("create table loaded as select * from source_df")
    assert con.execute("select ticker, count(*) from loaded group by 1 order by 1").fetchall() == [
        ("AAPL", 100_000),
        ("MSFT", 50_000),
    ]

    path = tmp_path / "model.parquet"
    pq.write_table(con.sql("select * from loaded").to_arrow_table(), path, row_group_size=10_000)
    chunks = ArrowChunks.parquet(str(path), chunk_bytes=1 << 20)  # batches of 64k rows: ~1 MiB each
    assert len(list(chunks.open())) > 1
    result = lakehouse.write("silver.stream_probe", chunks)
    table = lakehouse.load("silver.stream_probe")
    assert result.rows == 150_000 and table.scan().to_arrow().num_rows == 150_000
    assert all(task.file.file_path.startswith("s3://") for task in table.scan().plan_files())
    assert pq.read_metadata(path).num_rows == 150_000
