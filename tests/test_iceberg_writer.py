"""The one Iceberg writer: idempotent partition overwrites, schema evolution, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo, In

from finance_assets.core import iceberg
from finance_assets.core.iceberg import ArrowChunks, IcebergLakehouse, parse_partition_by
from finance_assets.core.settings import Settings


def _lakehouse(home: Path) -> IcebergLakehouse:
    return IcebergLakehouse.from_settings(Settings(home=home))


def _frame(ticker: str, n: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame({"ticker": [ticker] * n, "i": list(range(n)), "value": [offset + i for i in range(n)]})


def test_rewriting_a_partition_replaces_it_and_adds_a_snapshot(tmp_path: Path) -> None:
    lake = _lakehouse(tmp_path)
    spec = ["identity(ticker)"]
    lake.write("bronze.t", _frame("AAPL", 3), replace=EqualTo("ticker", "AAPL"), partition_by=spec)
    lake.write("bronze.t", _frame("MSFT", 2), replace=EqualTo("ticker", "MSFT"), partition_by=spec)
    snapshots_before = len(lake.load("bronze.t").snapshots())
    result = lake.write(
        "bronze.t",
        _frame("AAPL", 3, offset=100),
        replace=EqualTo("ticker", "AAPL"),
        partition_by=spec,
        snapshot_properties={"dagster.run-id": "run-2", "dagster.partition-key": "AAPL"},
    )
    table = lake.load("bronze.t")
    assert len(table.snapshots()) > snapshots_before
    frame = lake.read("bronze.t")
    assert frame.height == 5
    assert sorted(frame.filter(pl.col("ticker") == "AAPL").get_column("value").to_list()) == [
        100.0,
        101.0,
        102.0,
    ]
    snapshot = table.snapshot_by_id(result.snapshot_id)
    assert snapshot is not None and snapshot.summary["dagster.run-id"] == "run-2"
    assert snapshot.summary["dagster.partition-key"] == "AAPL"
    assert [f.name for f in table.spec().fields] == ["ticker"]
    assert table.properties["commit.retry.num-retries"] == "20"


def _company_chunks(tickers: list[str], rows: int) -> ArrowChunks:
    """One chunk per company, as a bulk load's spool hands them to the writer."""
    tables = [_frame(t, rows).to_arrow() for t in tickers]
    return ArrowChunks(tables[0].schema, lambda: iter(tables))


def test_a_chunked_write_of_many_companies_is_one_commit_of_a_few_snapshots_not_one_per_company(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every later scan and commit reads each snapshot's manifests: one per company made loads slow down with
    every company already loaded. Batches of about APPEND_BATCH_BYTES keep them few, in one atomic commit."""
    lake = _lakehouse(tmp_path)
    spec = ["identity(ticker)"]
    first = [f"C{i:03d}" for i in range(60)]
    lake.write("bronze.t", _company_chunks(first, 50), replace=In("ticker", set(first)), partition_by=spec)
    table = lake.load("bronze.t")
    assert len(table.metadata.metadata_log) <= 1  # one commit (the first metadata file has no log entry)
    assert len(table.snapshots()) <= 2  # the (empty) delete and one append, not 60 appends
    assert len(table.current_snapshot().manifests(table.io)) == 1
    # a budget smaller than the data: several appends, still one commit, every row once
    chunk_bytes = _frame("X", 50).to_arrow().nbytes
    monkeypatch.setattr(iceberg, "APPEND_BATCH_BYTES", 10 * chunk_bytes)
    before = len(table.snapshots())
    second = [f"D{i:03d}" for i in range(60)]
    result = lake.write("bronze.t", _company_chunks(second, 50), replace=In("ticker", set(second)), partition_by=spec)
    table = lake.load("bronze.t")
    assert len(table.snapshots()) - before == 1 + 6  # the delete, then 6 batches of 10 companies
    assert result.rows == 60 * 50
    stored = lake.read("bronze.t")
    assert stored.height == 120 * 50
    assert stored.group_by("ticker").len().get_column("len").unique().to_list() == [50]


def test_tables_are_readable_by_plain_pyiceberg_with_nullable_fields(tmp_path: Path) -> None:
    _lakehouse(tmp_path).write("silver.t", _frame("AAPL", 2))
    catalog = SqlCatalog(
        "lakehouse", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=(tmp_path / "warehouse").as_uri()
    )
    table = catalog.load_table("silver.t")
    assert table.scan().to_arrow().num_rows == 2
    assert all(not field.required for field in table.schema().fields)


def test_new_columns_evolve_the_schema_and_old_rows_read_null(tmp_path: Path) -> None:
    lake = _lakehouse(tmp_path)
    lake.write("bronze.t", _frame("AAPL", 2), replace=EqualTo("ticker", "AAPL"), partition_by=["identity(ticker)"])
    lake.write(
        "bronze.t",
        _frame("MSFT", 1).with_columns(pl.lit("x").alias("note")),
        replace=EqualTo("ticker", "MSFT"),
    )
    frame = lake.read("bronze.t").sort("ticker")
    assert frame.columns == ["ticker", "i", "value", "note"]
    assert frame.get_column("note").to_list() == [None, None, "x"]


def test_a_write_that_fails_before_commit_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    lake = _lakehouse(tmp_path)
    lake.write("bronze.t", _frame("AAPL", 2), replace=EqualTo("ticker", "AAPL"))
    before = lake.current_snapshot_id("bronze.t")
    bad = pa.table({"ticker": ["AAPL"], "i": ["not a number"], "value": [1.0]})
    with pytest.raises(Exception):  # noqa: B017 - any failure is fine; what matters is the table
        lake.write("bronze.t", bad, replace=EqualTo("ticker", "AAPL"))
    assert lake.current_snapshot_id("bronze.t") == before
    assert lake.read("bronze.t").height == 2


def test_partition_transforms_parse() -> None:
    parsed = parse_partition_by(["identity(ticker)", "month(date)", "bucket(cik, 8)"])
    assert [(c, n) for c, _, n in parsed] == [
        ("ticker", "ticker"),
        ("date", "date_month"),
        ("cik", "cik_bucket"),
    ]
    with pytest.raises(ValueError, match="Unrecognised partition transform"):
        parse_partition_by(["hour(ts)"])


def _write_partition(home: str, ticker: str, n: int) -> None:
    lake = _lakehouse(Path(home))
    lake.write(
        "bronze.concurrent",
        _frame(ticker, n),
        replace=EqualTo("ticker", ticker),
        partition_by=["identity(ticker)"],
    )


def test_eight_concurrent_partition_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    tickers = [f"T{i}" for i in range(8)]
    # create the table first so the race is on commits, not on creation
    _write_partition(str(tmp_path), "T0", 10)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_partition, args=(str(tmp_path), t, 10 + i)) for i, t in enumerate(tickers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    frame = _lakehouse(tmp_path).read("bronze.concurrent")
    counts = dict(frame.group_by("ticker").len().iter_rows())
    assert counts == {t: 10 + i for i, t in enumerate(tickers)}
    assert frame.select("ticker", "i").n_unique() == frame.height


def test_a_commit_that_loses_the_race_deletes_its_data_files_and_is_retried_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between our write's data files and its commit; pyiceberg's own retry is off
    (``commit.retry.num-retries=0``), so the tenacity policy re-runs the write: the first attempt's data
    files must be gone and every row of both writers present once."""
    from pyiceberg.table import Transaction

    from finance_assets.maintenance.tables import referenced_files

    lake = _lakehouse(tmp_path)
    no_inner_retry = {"commit.retry.num-retries": "0"}
    lake.write("bronze.lost", _frame("AAPL", 3), replace=EqualTo("ticker", "AAPL"), table_properties=no_inner_retry)
    assert lake.load("bronze.lost").properties["commit.retry.num-retries"] == "0"
    original = Transaction.commit_transaction
    interloped: list[set[Path]] = []

    def commit_after_another_writer(self: Transaction) -> object:
        if not interloped:  # once: a second writer lands first, our commit must then fail
            interloped.append(set((tmp_path / "warehouse").rglob("*.parquet")))
            _lakehouse(tmp_path).write("bronze.lost", _frame("MSFT", 2), replace=EqualTo("ticker", "MSFT"))
        return original(self)

    monkeypatch.setattr(Transaction, "commit_transaction", commit_after_another_writer)
    result = lake.write("bronze.lost", _frame("AAPL", 4, offset=10), replace=EqualTo("ticker", "AAPL"))
    assert result.attempts == 2  # the first attempt lost, the second landed
    frame = lake.read("bronze.lost")
    assert dict(frame.group_by("ticker").len().iter_rows()) == {"AAPL": 4, "MSFT": 2}
    table = lake.load("bronze.lost")
    on_disk = {str(p) for p in (tmp_path / "warehouse" / "bronze" / "lost").rglob("*") if p.is_file()}
    assert on_disk - referenced_files(table) == set()  # the lost attempt's data file was deleted
    assert {str(p) for p in interloped[0]} - on_disk  # ... and it had existed: written, then removed
