"""Table maintenance through Dagster runs of `lakehouse_maintenance`: orphans, snapshot expiry, lineage tags.

The tables are real Iceberg tables in an embedded SQLite catalog, written by ``IcebergLakehouse.write`` in
separate processes (racing, or SIGKILLed mid-write); the maintenance runs as the Dagster job the schedule and
``cli maintain`` launch. "Unreferenced" is judged independently of the maintenance code's own bookkeeping:
every file under the table's folder is compared with what pyiceberg's metadata reaches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pyiceberg.expressions import EqualTo

from finance_assets.core.iceberg import IcebergLakehouse, lineage_tag
from finance_assets.core.settings import Settings
from finance_assets.maintenance.jobs import JOB_NAME, MaintenanceConfig, build_maintenance_definitions, run_config
from finance_assets.maintenance.tables import referenced_files
from finance_assets.resources import resources_for

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[1]
SPEC = ["identity(part)"]

# python -c WRITER <home> race <k>   : wait for GO on stdin, then overwrite partition SHARED with writer k's rows
# python -c WRITER <home> big        : replace P1 and add 24 partitions of 40,000 rows in one write
WRITER = r"""
import sys
from pathlib import Path

import polars as pl
from pyiceberg.expressions import EqualTo, In

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings

home, mode = Path(sys.argv[1]), sys.argv[2]
lake = IcebergLakehouse.from_settings(Settings(home=home))


def frame(part, n, writer):
    return pl.DataFrame({"part": [part] * n, "i": list(range(n)), "writer": [writer] * n})


if mode == "race":
    k = int(sys.argv[3])
    print("READY", flush=True)
    assert sys.stdin.readline().strip() == "GO"
    result = lake.write("bronze.raced", frame("SHARED", 100 + k, k), replace=EqualTo("part", "SHARED"),
                        partition_by=["identity(part)"])
    print("ATTEMPTS", result.attempts, flush=True)
else:
    names = ["P1"] + [f"B{p:02d}" for p in range(24)]
    print("WRITING", flush=True)
    lake.write("bronze.killed", pl.concat([frame(n, 40_000, 9) for n in names]), replace=In("part", set(names)),
               partition_by=["identity(part)"])
"""


def _writer(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _frame(part: str, n: int, writer: int = -1) -> pl.DataFrame:
    return pl.DataFrame({"part": [part] * n, "i": list(range(n)), "writer": [writer] * n})


def _stored(home: Path, table: str) -> set[str]:
    """Every file in the table's folder, found by walking the disk (not by the maintenance code)."""
    root = home / "warehouse" / table.replace(".", "/")
    return {str(p) for p in root.rglob("*") if p.is_file()}


def _unreferenced(home: Path, lake: IcebergLakehouse, table: str) -> set[str]:
    return _stored(home, table) - referenced_files(lake.load(table))


def _run_maintenance(settings: Settings, **config: object) -> dg.ExecuteInProcessResult:
    """One run of the `lakehouse_maintenance` job, as the schedule or `cli maintain` launches it."""
    defs = dg.Definitions.merge(
        build_maintenance_definitions(settings), dg.Definitions(resources=resources_for(settings))
    )
    merged = {**MaintenanceConfig.from_settings(settings).model_dump(), **config}
    result = defs.resolve_job_def(JOB_NAME).execute_in_process(
        run_config=run_config(MaintenanceConfig(**merged)), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    return result


def test_after_an_eight_way_race_on_one_partition_the_job_leaves_no_unreferenced_file(tmp_path: Path) -> None:
    lake = IcebergLakehouse.from_settings(Settings(home=tmp_path))
    lake.write("bronze.raced", _frame("SHARED", 50), replace=EqualTo("part", "SHARED"), partition_by=SPEC)
    procs = [_writer(tmp_path, "race", str(k)) for k in range(8)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err[-1500:] for _, err in outputs]
    [winner] = lake.read("bronze.raced").get_column("writer").unique().to_list()  # one writer's whole partition
    assert lake.read("bronze.raced").height == 100 + winner

    # the writers cleaned up after their lost commits: no data file outside the metadata
    litter = _unreferenced(tmp_path, lake, "bronze.raced")
    assert not [f for f in litter if f.endswith(".parquet")], litter

    settings = Settings(home=tmp_path)
    _run_maintenance(settings, orphan_min_age_hours=0.0, snapshot_retention_days=0.0, retain_last=1)
    assert _unreferenced(tmp_path, lake, "bronze.raced") == set()
    # expiry released the replaced versions of SHARED; their files are gone, the rows are intact
    assert len(lake.load("bronze.raced").snapshots()) == 1
    assert lake.read("bronze.raced").height == 100 + winner


def test_after_a_killed_write_the_job_removes_its_files_and_keeps_the_table(tmp_path: Path) -> None:
    lake = IcebergLakehouse.from_settings(Settings(home=tmp_path))
    lake.write("bronze.killed", pl.concat([_frame(p, 1000) for p in ("P0", "P1", "P2")]), partition_by=SPEC)
    before = lake.read("bronze.killed").sort("part", "i")
    stored_before = _stored(tmp_path, "bronze.killed")

    proc = _writer(tmp_path, "big")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "WRITING"
    deadline = time.monotonic() + 60
    data = tmp_path / "warehouse" / "bronze" / "killed" / "data"
    while not ({str(p) for p in data.rglob("*.parquet")} - stored_before) and time.monotonic() < deadline:
        assert proc.poll() is None, "the writer finished before any data file was seen"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    litter = _unreferenced(tmp_path, lake, "bronze.killed")
    assert litter  # the killed write left files no metadata references

    # a young orphan may be a write in flight: the default retention leaves it alone
    _run_maintenance(Settings(home=tmp_path))
    assert litter <= _unreferenced(tmp_path, lake, "bronze.killed")

    _run_maintenance(Settings(home=tmp_path), orphan_min_age_hours=0.0)
    assert _unreferenced(tmp_path, lake, "bronze.killed") == set()
    assert lake.read("bronze.killed").sort("part", "i").equals(before)


def test_a_predictions_lineage_still_resolves_after_snapshot_expiry(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lake = IcebergLakehouse.from_settings(settings)
    lake.write("gold.price_features", _frame("AAPL", 10, writer=1), replace=EqualTo("part", "AAPL"), partition_by=SPEC)
    read = lake.current_snapshot_id("gold.price_features")
    assert read is not None
    # ml/predictions records what it read in each row and tags it (the asset's own call)
    predictions = pl.DataFrame(
        {"ticker": ["AAPL"], "source_snapshots": [[{"table": "gold.price_features", "snapshot_id": read}]]}
    )
    lake.write("ml.predictions", predictions)
    assert lake.tag_lineage({"gold.price_features": read}, "ml.predictions") == [
        f"gold.price_features@{lineage_tag('ml.predictions', read)}"
    ]
    assert lake.tag_lineage({"gold.price_features": read}, "ml.predictions") == []  # idempotent
    # an older snapshot the predictions never read, and two newer versions of the table
    for writer in (2, 3):
        lake.write(
            "gold.price_features",
            _frame("AAPL", 10 + writer, writer),
            replace=EqualTo("part", "AAPL"),
            partition_by=SPEC,
        )
    current = lake.current_snapshot_id("gold.price_features")
    history = [s.snapshot_id for s in lake.load("gold.price_features").snapshots()]
    assert len(history) >= 3

    _run_maintenance(settings, snapshot_retention_days=0.0, retain_last=1, orphan_min_age_hours=0.0)

    table = lake.load("gold.price_features")
    kept = {s.snapshot_id for s in table.snapshots()}
    assert kept == {read, current}  # every other snapshot expired; the tagged one and the current one kept
    assert table.metadata.refs[lineage_tag("ml.predictions", read)].snapshot_id == read
    # the lineage resolves: time travel to the snapshot the prediction names returns what it read
    resolved = lake.read("gold.price_features", snapshot_id=read)
    assert resolved.sort("i").equals(_frame("AAPL", 10, writer=1))
    assert _unreferenced(tmp_path, lake, "gold.price_features") == set()


def test_the_job_tags_snapshots_named_by_prediction_rows_written_before_tagging(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lake = IcebergLakehouse.from_settings(settings)
    lake.write("gold.labels", _frame("AAPL", 5, writer=1), replace=EqualTo("part", "AAPL"), partition_by=SPEC)
    read = lake.current_snapshot_id("gold.labels")
    lake.write(
        "ml.predictions",
        pl.DataFrame({"ticker": ["AAPL"], "source_snapshots": [[{"table": "gold.labels", "snapshot_id": read}]]}),
    )
    lake.write("gold.labels", _frame("AAPL", 7, writer=2), replace=EqualTo("part", "AAPL"), partition_by=SPEC)

    _run_maintenance(settings, snapshot_retention_days=0.0, retain_last=1, orphan_min_age_hours=0.0)

    assert lineage_tag("ml.predictions", read) in lake.load("gold.labels").metadata.refs  # type: ignore[arg-type]
    assert lake.read("gold.labels", snapshot_id=read).height == 5


def test_compaction_rewrites_a_partition_of_many_small_files_as_one_with_the_same_rows(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lake = IcebergLakehouse.from_settings(settings)
    for k in range(10):  # ten appends to one partition: ten small files
        lake.write("bronze.appended", _frame("P0", 100, writer=k), replace=EqualTo("writer", -99), partition_by=SPEC)
    lake.write("bronze.appended", _frame("P1", 5), replace=EqualTo("part", "P1"), partition_by=SPEC)
    before = lake.read("bronze.appended").sort("part", "writer", "i")

    def files(part: str) -> int:
        return sum(f["partition"]["part"] == part for f in lake.load("bronze.appended").inspect.files().to_pylist())

    assert files("P0") == 10
    _run_maintenance(settings, compact_min_files=8)
    assert files("P0") == 1 and files("P1") == 1
    assert lake.read("bronze.appended").sort("part", "writer", "i").equals(before)
