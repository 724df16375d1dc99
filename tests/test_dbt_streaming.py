"""dbt reads Bronze without holding it in Python memory, at one snapshot per source per dbt invocation,
and stores models from their Parquet in bounded chunks, in one commit.

Real parts: pyiceberg's SQL catalog on SQLite, Parquet files, DuckDB. The expected rows are the rows
written in the test (this is plumbing: no financial values are computed here).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbt.adapters.duckdb.utils import SourceConfig
from dbt_common.invocation import reset_invocation_id
from pyiceberg.expressions import AlwaysFalse, EqualTo

from finance_assets.core.iceberg import ArrowChunks, IcebergLakehouse
from finance_assets.transform.dbt_plugin import SNAPSHOT_SOURCES, Plugin, stream_scan


def _lakehouse(tmp_path: Path) -> IcebergLakehouse:
    return IcebergLakehouse({"uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": tmp_path.as_uri()})


def _companies(tickers: list[str], rows_each: int = 3) -> pa.Table:
    return pa.table(
        {
            "ticker": [t for t in tickers for _ in range(rows_each)],
            "value": [float(i) for i in range(len(tickers) * rows_each)],
        }
    )


def _three_files(lakehouse: IcebergLakehouse) -> None:
    """One table, three data files (three appends), a later column, one company rewritten."""
    lakehouse.write("bronze.facts", _companies(["A", "B"]))
    lakehouse.write("bronze.facts", _companies(["C"]), replace=AlwaysFalse())
    with_note = _companies(["D"]).append_column("note", pa.array(["new"] * 3))
    lakehouse.write("bronze.facts", with_note, replace=AlwaysFalse())
    lakehouse.write("bronze.facts", _companies(["B"], rows_each=2), replace=EqualTo("ticker", "B"))


def _sorted(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["ticker"], r["value"]))


def test_a_streamed_scan_has_the_rows_of_the_scan(tmp_path: Path) -> None:
    lakehouse = _lakehouse(tmp_path)
    _three_files(lakehouse)
    table = lakehouse.load("bronze.facts")
    for options in ({}, {"row_filter": "ticker = 'B'"}, {"selected_fields": ("ticker", "note")}):
        expected = table.scan(**options).to_arrow()
        streamed = stream_scan(table.scan(**options)).read_all()
        assert streamed.schema == expected.schema
        assert sorted(map(str, streamed.to_pylist())) == sorted(map(str, expected.to_pylist()))
    rows = _sorted(stream_scan(table.scan()).read_all())
    assert [r["ticker"] for r in rows] == ["A"] * 3 + ["B"] * 2 + ["C"] * 3 + ["D"] * 3
    assert {r["note"] for r in rows if r["ticker"] == "D"} == {"new"} and rows[0]["note"] is None


def _opened_files(scan: object, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    io = scan.io  # type: ignore[attr-defined]
    original = io.new_input

    def new_input(location: str):
        if location.endswith(".parquet"):
            opened.append(location)
        return original(location)

    monkeypatch.setattr(io, "new_input", new_input)
    return opened


def test_a_streamed_scan_reads_one_data_file_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lakehouse = _lakehouse(tmp_path)
    _three_files(lakehouse)
    scan = lakehouse.load("bronze.facts").scan()
    files = len(scan.plan_files())
    assert files >= 3
    opened = _opened_files(scan, monkeypatch)
    reader = stream_scan(scan)
    assert opened == []  # planning reads manifests, not data
    reader.read_next_batch()
    assert len(opened) == 1
    reader.read_all()
    assert len(opened) == files


def test_pyicebergs_own_batch_reader_reads_every_file_before_the_first_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why stream_scan exists: if this starts failing, pyiceberg streams by itself and can replace it."""
    lakehouse = _lakehouse(tmp_path)
    _three_files(lakehouse)
    scan = lakehouse.load("bronze.facts").scan()
    files = len(scan.plan_files())
    opened = _opened_files(scan, monkeypatch)
    reader = scan.to_arrow_batch_reader()
    reader.read_next_batch()
    assert len(opened) == files


def _source(table: str = "bronze.facts", **meta: object) -> SourceConfig:
    schema, identifier = table.split(".")
    return SourceConfig(
        name=identifier,
        identifier=identifier,
        schema=schema,
        database=None,
        meta={"iceberg_table": table, **meta},
        tags=[],
    )


def test_a_source_is_streamed_into_duckdb_at_one_snapshot_per_dbt_invocation(lakehouse_env: Path) -> None:
    reset_invocation_id()
    plugin = Plugin(name="lakehouse", plugin_config={})
    lakehouse = plugin._lakehouse
    lakehouse.write("bronze.facts", _companies(["A", "B"]))
    first_snapshot = lakehouse.current_snapshot_id("bronze.facts")
    con = duckdb.connect()

    def load(source: SourceConfig) -> list[tuple]:
        reader = plugin.load(source)
        assert isinstance(reader, pa.RecordBatchReader)
        con.register("source_df", reader)  # what dbt-duckdb does with a plugin's load()
        con.execute("create or replace table loaded as select * from source_df")
        return con.execute("select ticker, count(*) from loaded group by all order by 1").fetchall()

    assert load(_source()) == [("A", 3), ("B", 3)]
    # a Bronze commit lands mid-build: a second reference in the same invocation still reads the first snapshot
    lakehouse.write("bronze.facts", _companies(["C"]), replace=AlwaysFalse())
    assert load(_source()) == [("A", 3), ("B", 3)]
    assert plugin.source_snapshots() == {"bronze.facts": first_snapshot}
    # an explicit meta.snapshot_id that contradicts the pin is refused, naming both
    latest = lakehouse.current_snapshot_id("bronze.facts")
    with pytest.raises(ValueError, match=rf"{latest}.*already read snapshot {first_snapshot}"):
        plugin.load(_source(snapshot_id=latest))
    # the next dbt invocation reads the new snapshot
    reset_invocation_id()
    assert load(_source()) == [("A", 3), ("B", 3), ("C", 3)]
    assert plugin.source_snapshots() == {"bronze.facts": latest}


def test_a_table_empty_when_first_read_stays_empty_for_the_invocation(lakehouse_env: Path) -> None:
    reset_invocation_id()
    plugin = Plugin(name="lakehouse", plugin_config={})
    lakehouse = plugin._lakehouse
    lakehouse.ensure_namespaces(["bronze"])
    lakehouse.catalog.create_table("bronze.facts", schema=_companies(["A"]).schema)  # no snapshot yet
    assert plugin.load(_source()).read_all().num_rows == 0
    lakehouse.write("bronze.facts", _companies(["A"]), replace=AlwaysFalse())
    assert plugin.load(_source()).read_all().num_rows == 0
    assert plugin.source_snapshots() == {"bronze.facts": None}


def test_a_model_is_stored_from_its_parquet_in_chunks_in_one_commit(lakehouse_env: Path, tmp_path: Path) -> None:
    reset_invocation_id()
    plugin = Plugin(name="lakehouse", plugin_config={})
    lakehouse = plugin._lakehouse
    lakehouse.write("bronze.facts", _companies(["A"]))
    plugin.load(_source()).read_all()
    rows = pa.table({"ticker": [f"T{i:05d}" for i in range(200_000)], "value": [float(i) for i in range(200_000)]})
    path = tmp_path / "model.parquet"
    pq.write_table(rows, path, row_group_size=20_000)
    chunks = ArrowChunks.parquet(str(path), chunk_bytes=1 << 20)
    sizes = [t.num_rows for t in chunks.open()]
    assert len(sizes) > 1 and sum(sizes) == 200_000
    assert [t.num_rows for t in chunks.open()] == sizes  # re-readable: a commit retry starts again

    lakehouse.write("silver.model", _companies(["OLD"]))
    before = len(lakehouse.load("silver.model").metadata.metadata_log)
    result = lakehouse.write("silver.model", chunks, snapshot_properties={SNAPSHOT_SOURCES: "{}"})
    table = lakehouse.load("silver.model")
    assert result.rows == 200_000
    assert len(table.metadata.metadata_log) == before + 1  # one commit: readers see all of it or none
    stored = table.scan().to_arrow()
    assert stored.num_rows == 200_000 and "OLD" not in set(stored.column("ticker").to_pylist())
    # the chunks (1 MiB each) are appended in batches of APPEND_BATCH_BYTES (tests/test_iceberg_writer.py)
    assert len(table.scan().plan_files()) < len(sizes)
    assert table.current_snapshot().snapshot_id == result.snapshot_id


def test_stored_snapshots_name_the_source_snapshots_they_were_built_from(lakehouse_env: Path, tmp_path: Path) -> None:
    from dbt.adapters.duckdb.utils import TargetConfig, TargetLocation

    reset_invocation_id()
    plugin = Plugin(name="lakehouse", plugin_config={})
    plugin._lakehouse.write("bronze.facts", _companies(["A"]))
    plugin.load(_source()).read_all()
    path = tmp_path / "model.parquet"
    pq.write_table(_companies(["A", "B"]), path)

    class Relation:
        schema, identifier = "silver", "model"

    plugin.store(
        TargetConfig(
            relation=Relation(),  # type: ignore[arg-type]
            column_list=[],
            config={},  # type: ignore[arg-type]
            location=TargetLocation(path=str(path), format="parquet"),
        )
    )
    snapshot = plugin._lakehouse.load("silver.model").current_snapshot()
    sources = json.loads(snapshot.summary[SNAPSHOT_SOURCES])
    assert sources == {"bronze.facts": plugin._lakehouse.current_snapshot_id("bronze.facts")}
    assert plugin._lakehouse.load("silver.model").scan().to_arrow().num_rows == 6


def test_a_source_meant_as_a_view_is_refused_because_a_stream_reads_once(lakehouse_env: Path) -> None:
    plugin = Plugin(name="lakehouse", plugin_config={})
    plugin._lakehouse.write("bronze.facts", _companies(["A"]))
    with pytest.raises(ValueError, match=r"bronze\.facts: meta\.materialization must be 'table'"):
        plugin.load(_source(materialization="view"))
