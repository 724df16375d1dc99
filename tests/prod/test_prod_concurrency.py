"""Eight partitions of one Bronze asset, materialised at once by eight processes into one Iceberg table.

The stack notes measured it: concurrent pyiceberg writers on one table lose commits unless the writer
retries. Here the real asset (`bronze/edgar_company_facts`) runs in eight separate `dagster asset
materialize` processes against the Postgres-backed instance, the Postgres catalog and the S3 warehouse,
and the table must hold every fact of every recorded payload exactly once.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from finance_assets.core.names import CATALOG_NAME
from finance_assets.core.settings import Settings
from prod.conftest import REPO_ROOT, S3Server, finish_process, subprocess_env

pytestmark = pytest.mark.prod

# The eight companies whose companyfacts are recorded (MSFT's is a trimmed real capture).
TICKERS = ("AAPL", "MSFT", "NVDA", "TSM", "SNOW", "PLTR", "MRVL", "LPA")
FACTS = "bronze/edgar_company_facts"
FACT_COLUMNS = (
    "taxonomy",
    "concept",
    "unit",
    "start_date",
    "end_date",
    "accn",
    "fy",
    "fp",
    "form",
    "filed",
    "frame",
    "value",
)
# Eight slots for the SEC pool, each process at 10/8 requests/s: 10 requests/s for the deployment.
POOL_SLOTS = len(TICKERS)
RATE = 10.0 / POOL_SLOTS


def _recorded_facts(replay: Path, cik: str) -> Counter[tuple[Any, ...]]:
    """Every fact of the recorded companyfacts payload, as the rows Bronze must hold (a multiset)."""
    folder = replay / "edgar" / "companyfacts"
    plain, packed = folder / f"CIK{cik}.json", folder / f"CIK{cik}.json.gz"
    doc = orjson.loads(plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes()))
    facts: Counter[tuple[Any, ...]] = Counter()
    for taxonomy, concepts in doc["facts"].items():
        for concept, body in concepts.items():
            for unit, items in body.get("units", {}).items():
                for f in items:
                    facts[
                        (
                            taxonomy,
                            concept,
                            unit,
                            f.get("start"),
                            f.get("end"),
                            f.get("accn"),
                            f.get("fy"),
                            f.get("fp"),
                            f.get("form"),
                            f.get("filed"),
                            f.get("frame"),
                            float(f["val"]),
                        )
                    ] += 1
    return facts


def _stored_facts(frame: pl.DataFrame) -> Counter[tuple[Any, ...]]:
    rows = frame.select(
        *[pl.col(c).cast(pl.String) if c in ("start_date", "end_date", "filed") else pl.col(c) for c in FACT_COLUMNS]
    ).iter_rows()
    return Counter(rows)


def _materialize(env: dict[str, str], selection: str, partition: str | None, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "finance_assets.definitions", "-a", "defs"]
    argv += ["--select", selection] + (["--partition", partition] if partition else [])
    # the step runs in the launching process (the default would spawn one more process to import the code)
    argv += ["--config-json", '{"execution": {"config": {"in_process": {}}}}']
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_eight_processes_materialize_eight_partitions_into_one_table_exactly_once(
    prod_env: dict[str, str],
    prod_dagster_home: Path,
    prod_environ: dict[str, str],
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    env = subprocess_env(prod_env, UNIVERSE=",".join(TICKERS), SEC_REQUESTS_PER_SECOND=str(RATE))
    replay = Path(prod_env["REPLAY_DIR"])

    # 1. the ticker map registers the eight company partitions in the Postgres-backed instance
    log = tmp_path / "tickers.log"
    finish_process(_materialize(env, "bronze/sec_company_tickers", None, log), log, "bronze/sec_company_tickers")
    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:
        assert set(TICKERS) <= set(instance.get_dynamic_partitions("companies"))
        # scale the SEC pool out to eight slots (each process then gets 10/8 requests/s, see RATE)
        instance.event_log_storage.set_concurrency_slots("sec_edgar", POOL_SLOTS)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        # 2. eight processes, one partition each, all at once
        started = time.monotonic()
        logs = {t: tmp_path / f"facts-{t}.log" for t in TICKERS}
        processes.update({t: _materialize(env, FACTS, t, logs[t]) for t in TICKERS})
        for ticker, process in processes.items():
            finish_process(process, logs[ticker], f"{FACTS} [{ticker}]")
        elapsed = time.monotonic() - started
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:  # back to the template's 1
            instance.event_log_storage.delete_concurrency_limit("sec_edgar")

    # 3. an independent reader over S3 sees every recorded fact of every company exactly once
    settings = Settings.from_env(prod_env)
    catalog = SqlCatalog(CATALOG_NAME, **settings.catalog_properties())
    table = catalog.load_table("bronze.edgar_company_facts")
    stored = pl.from_arrow(table.scan().to_arrow())
    assert isinstance(stored, pl.DataFrame)
    # the session's catalog also holds other prod tests' companies (the company-batches test's re-keyed ones)
    stored = stored.filter(pl.col("ticker").is_in(TICKERS))
    tickers = pl.from_arrow(catalog.load_table("bronze.sec_company_tickers").scan().to_arrow())
    assert isinstance(tickers, pl.DataFrame)
    ciks = dict(tickers.select("ticker", "cik").iter_rows())
    expected_total = 0
    for ticker in TICKERS:
        expected = _recorded_facts(replay, ciks[ticker])
        expected_total += expected.total()
        got = _stored_facts(stored.filter(pl.col("ticker") == ticker))
        assert got.total() == expected.total(), f"{ticker}: {got.total()} rows, payload has {expected.total()}"
        assert got == expected, f"{ticker}: rows differ from the payload ({len(got - expected)} extra kinds)"
        assert stored.filter(pl.col("ticker") == ticker).get_column("payload_sha256").n_unique() == 1
    assert stored.height == expected_total
    assert set(stored.get_column("ticker").unique().to_list()) == set(TICKERS)

    # 4. lineage: eight successful runs in Postgres, one per partition, each named in a snapshot summary
    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:
        runs = [r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition") in TICKERS]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(TICKERS)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        attempts = []
        mine = dg.AssetRecordsFilter(asset_key=dg.AssetKey(FACTS.split("/")), asset_partitions=list(TICKERS))
        for record in instance.fetch_materializations(mine, limit=100).records:
            materialization = record.asset_materialization
            assert materialization is not None
            attempts.append(int(materialization.metadata["iceberg/commit_attempts"].value))  # type: ignore[arg-type]
        assert len(attempts) == len(TICKERS)
        windows = [(r.start_time or 0.0, r.end_time or 0.0) for r in runs]
    by_partition = {
        s.summary["dagster.partition-key"]: s.summary["dagster.run-id"]
        for s in table.snapshots()
        if s.summary is not None and s.summary.get("dagster.partition-key") in TICKERS
    }
    assert by_partition == {r.dagster_run.tags["dagster/partition"]: r.dagster_run.run_id for r in runs}
    # the eight runs really overlapped in time (each run's window contains the latest start)
    latest_start = max(start for start, _ in windows)
    overlapping = sum(start <= latest_start <= end for start, end in windows)
    spans = [(datetime.fromtimestamp(s).time(), datetime.fromtimestamp(e).time()) for s, e in windows]
    assert overlapping >= 2, f"the runs did not overlap: {spans}"

    # 5. the archive index got one row per payload (concurrent appends), and each blob is in the bucket
    index = pl.from_arrow(catalog.load_table("bronze.raw_payloads").scan().to_arrow())
    assert isinstance(index, pl.DataFrame)
    facts_index = index.filter((pl.col("asset_key") == FACTS) & pl.col("partition_key").is_in(TICKERS))
    assert sorted(facts_index.get_column("partition_key").to_list()) == sorted(TICKERS)
    keys = set(s3_server.keys("raw/sec/"))
    for uri in facts_index.get_column("uri").to_list():
        assert uri.removeprefix(f"s3://{s3_server.bucket}/") in keys
    # step stdout/stderr went to S3 through the S3ComputeLogManager of deploy/dagster.yaml
    assert s3_server.keys("dagster/compute-logs/")

    print(
        f"\n8 concurrent processes: {elapsed:.1f}s, {stored.height} rows, commit attempts per partition "
        f"{sorted(attempts)}, {overlapping} runs running at the latest start"
    )
