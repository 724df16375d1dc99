"""The bulk initial load: the job ``edgar_bulk_load`` reads SEC's archives into the same Bronze tables.

Real Dagster runs (launched as the CLI/demo launch them) over a real Iceberg lakehouse in a temp
LAKEHOUSE_HOME; the archives are built by the replay transport from a copy of the recorded payloads in
which one company's companyfacts is cut off mid-document. Expected values are read from the recorded
payloads (the filings' own numbers), never from our output.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import dagster as dg
import orjson
import polars as pl
import pytest

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings
from finance_assets.resources import resources_for

FACTS = dg.AssetKey(["bronze", "edgar_company_facts"])
FILINGS = dg.AssetKey(["bronze", "edgar_filings"])
# AAPL, NVDA, MRVL: recorded; MSFT: its companyfacts cut in half below; SNOW: companyfacts recorded, no
# submissions (its filings partition fails as not_found, its facts land)
UNIVERSE = ("AAPL", "MSFT", "NVDA", "MRVL", "SNOW")
CIKS = {"AAPL": "0000320193", "MSFT": "0000789019", "NVDA": "0001045810", "MRVL": "0001835632", "SNOW": "0001640147"}


def _payload(replay: Path, folder: str, cik: str) -> bytes:
    path = replay / "edgar" / folder / f"CIK{cik}.json"
    return path.read_bytes() if path.exists() else gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def _fact_count(doc: dict) -> int:
    return sum(len(f) for c in doc["facts"].values() for body in c.values() for f in body["units"].values())


@pytest.fixture
def bulk_env(tmp_path: Path, lakehouse_env: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch):
    replay = tmp_path / "replay"
    shutil.copytree(replay_dir / "edgar", replay / "edgar", ignore=shutil.ignore_patterns("snapshots", "13f"))
    msft = replay / "edgar" / "companyfacts" / f"CIK{CIKS['MSFT']}.json"
    msft.write_bytes(msft.read_bytes()[: msft.stat().st_size // 2])  # cut off mid-document
    monkeypatch.setenv("REPLAY_DIR", str(replay))
    monkeypatch.setenv("UNIVERSE", ",".join(UNIVERSE))
    from finance_assets.cli import init
    from finance_assets.definitions import build_definitions

    settings = Settings.from_env()
    init(settings)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    from finance_assets.launch import Launch, launch

    assert launch(defs, instance, Launch("bronze_reference"), launched_by="test").ok
    return defs, instance, replay


def _bulk_load(defs: dg.Definitions, instance: dg.DagsterInstance, keys: tuple[str, ...] = UNIVERSE):
    from finance_assets.launch import launch, plan

    [request] = plan(defs, instance, "edgar_bulk_load", partition_keys=list(keys))
    return launch(defs, instance, request, launched_by="test")


def test_bulk_load_writes_the_same_tables_and_fails_only_the_bad_companies(bulk_env, replay_dir: Path) -> None:
    defs, instance, _ = bulk_env
    outcome = _bulk_load(defs, instance)
    lakehouse = IcebergLakehouse.from_settings(Settings.from_env())

    # one run over the range; the two bad partitions are named, each with its status
    assert not outcome.ok
    failures = " ".join(outcome.failures)
    assert "MSFT (malformed)" in failures and "SNOW (not_found)" in failures
    # Dagster: exactly the bad companies' partitions failed, the others materialized
    assert instance.get_materialized_partitions(FACTS) == {"AAPL", "NVDA", "MRVL", "SNOW"}
    assert instance.get_materialized_partitions(FILINGS) == {"AAPL", "MSFT", "NVDA", "MRVL"}
    facts_status = instance.get_status_by_partition(
        FACTS, list(UNIVERSE), defs.resolve_asset_graph().get(FACTS).partitions_def
    )
    assert facts_status["MSFT"] == dg.AssetPartitionStatus.FAILED

    # every fact of each good company's payload is a row, keyed by its ticker, hashed as the API serves it
    facts = lakehouse.read("bronze.edgar_company_facts")
    for ticker in ("AAPL", "NVDA", "MRVL", "SNOW"):
        raw = _payload(replay_dir, "companyfacts", CIKS[ticker])
        mine = facts.filter(pl.col("ticker") == ticker)
        assert mine.height == _fact_count(orjson.loads(raw)), ticker
        assert set(mine.get_column("payload_sha256")) == {hashlib.sha256(raw).hexdigest()}
    assert facts.filter(pl.col("ticker") == "MSFT").is_empty()
    # Apple 10-Q 0001193125-09-153165, quarter ended 2009-06-27: net sales $8,337 million (the filing's number)
    sales = facts.filter(
        (pl.col("ticker") == "AAPL")
        & (pl.col("concept") == "SalesRevenueNet")
        & (pl.col("accn") == "0001193125-09-153165")
        & (pl.col("end_date") == pl.date(2009, 6, 27))
        & (pl.col("start_date") == pl.date(2009, 3, 29))
    )
    assert sales.get_column("value").to_list() == [8_337_000_000]

    filings = lakehouse.read("bronze.edgar_filings")
    index = orjson.loads(_payload(replay_dir, "submissions", CIKS["NVDA"]))
    nvda = filings.filter(pl.col("ticker") == "NVDA")
    assert set(index["filings"]["recent"]["accessionNumber"]) <= set(nvda.get_column("accession_number"))

    # bronze.ingest_status: every attempt, the bad ones with the reason
    status = lakehouse.read("bronze.ingest_status").filter(pl.col("run_id") == outcome.run_id)
    by = {(r["ticker"], r["endpoint"]): r for r in status.iter_rows(named=True)}
    assert by[("MSFT", "companyfacts")]["status"] == "malformed"
    assert "CIK0000789019.json" in by[("MSFT", "companyfacts")]["error"]
    assert by[("SNOW", "submissions")]["status"] == "not_found"
    assert by[("AAPL", "companyfacts")]["status"] == "ok" and by[("AAPL", "companyfacts")]["rows"] > 20_000

    # the raw archive holds each member's bytes: any row traces to its payload
    raw_index = lakehouse.read("bronze.raw_payloads").filter(pl.col("dagster_run_id") == outcome.run_id)
    assert any(u.endswith("companyfacts.zip#CIK0000320193.json") for u in raw_index.get_column("url"))


def test_the_good_companies_land_in_one_commit_and_an_unchanged_archive_is_a_304_that_writes_nothing(bulk_env) -> None:
    defs, instance, _ = bulk_env
    lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
    good = ("NVDA", "MRVL")  # contiguous partitions: one run
    assert _bulk_load(defs, instance, good).ok
    table = lakehouse.load("bronze.edgar_company_facts")
    snapshot_before = table.current_snapshot().snapshot_id
    rows_before = table.scan().count()
    # the second load finds the archive unchanged (304): the same rows, so no company is written again
    second = _bulk_load(defs, instance, good)
    assert second.ok
    table = lakehouse.load("bronze.edgar_company_facts")
    assert table.current_snapshot().snapshot_id == snapshot_before  # no new snapshot
    assert table.scan().count() == rows_before
    materialization = next(
        e
        for e in instance.get_records_for_run(second.run_id).records
        if e.event_log_entry.dagster_event
        and e.event_log_entry.dagster_event.is_step_materialization
        and e.event_log_entry.dagster_event.asset_key == FACTS
    )
    metadata = materialization.event_log_entry.dagster_event.materialization.metadata
    assert metadata["http_status"].value == 304
    assert metadata["companies_unchanged"].value == len(good)
    assert metadata["source"].value == "bulk"


def test_the_bulk_source_is_a_resource_choice_of_the_same_assets() -> None:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env())
    bulk = defs.resolve_job_def("edgar_bulk_load")
    api = defs.resolve_job_def("bronze_edgar_companies")
    assert set(bulk.asset_layer.executable_asset_keys) == set(api.asset_layer.executable_asset_keys) == {FACTS, FILINGS}
    assert bulk.partitions_def == api.partitions_def
    assert resources_for(Settings.from_env())["edgar_source"].mode == "api"  # the default stays the API


def test_the_daily_refresh_asks_only_for_the_companies_that_filed(bulk_env, replay_dir: Path) -> None:
    """After a bulk load, yesterday's Bronze lacks MRVL's filings of March 2026: only MRVL is refreshed."""
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual

    from finance_assets.edgar.refresh import REFRESHED, edgar_changed_companies
    from finance_assets.launch import Launch, launch

    defs, instance, _ = bulk_env
    good = ("NVDA", "MRVL")
    assert _bulk_load(defs, instance, good).ok
    assert _bulk_load(defs, instance, ("AAPL",)).ok
    lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
    # the state of the day before: MRVL's filings from 2026-03-05 on (the recording's newest) not loaded yet
    recent = orjson.loads(_payload(replay_dir, "submissions", CIKS["MRVL"]))["filings"]["recent"]
    new = {a for a, day in zip(recent["accessionNumber"], recent["filingDate"], strict=True) if day >= "2026-03-05"}
    assert new  # the recording has them
    lakehouse.load("bronze.edgar_filings").delete(
        And(EqualTo("ticker", "MRVL"), GreaterThanOrEqual("filing_date", "2026-03-05"))
    )
    facts_snapshot = lakehouse.current_snapshot_id("bronze.edgar_company_facts")

    detection = launch(defs, instance, Launch("edgar_daily_refresh"), launched_by="test")
    assert detection.ok
    event = instance.get_latest_materialization_event(edgar_changed_companies.key)
    metadata = event.asset_materialization.metadata
    assert metadata["changed_companies"].data == ["MRVL"]
    listed = lakehouse.read("bronze.edgar_changed_companies")
    assert set(listed.get_column("accession_number")) == new and set(listed.get_column("ticker")) == {"MRVL"}

    sensor = defs.resolve_sensor_def("edgar_refresh_changed")
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        requests = sensor.evaluate_tick(context).run_requests
    [request] = requests
    assert request.partition_key_range == dg.PartitionKeyRange("MRVL", "MRVL") and request.tags[REFRESHED] == "MRVL"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "bronze/edgar_filings",
        "bronze/edgar_company_facts",
    }

    # the refresh run: the per-company API for MRVL alone (the job a sensor's run request targets)
    refresh = launch(
        defs,
        instance,
        Launch("bronze_edgar_companies", partition_key=request.partition_key_range.start),
        launched_by="test",
    )
    assert refresh.ok
    filings = lakehouse.read("bronze.edgar_filings")
    assert new <= set(filings.filter(pl.col("ticker") == "MRVL").get_column("accession_number"))
    status = lakehouse.read("bronze.ingest_status").filter(pl.col("run_id") == refresh.run_id)
    assert set(status.get_column("ticker")) == {"MRVL"}
    # MRVL's facts from the API equal those the bulk load wrote from the same recording: nothing rewritten
    assert lakehouse.current_snapshot_id("bronze.edgar_company_facts") == facts_snapshot

    # the next day nothing new: the detection lists nobody and the sensor launches nothing
    assert launch(defs, instance, Launch("edgar_daily_refresh"), launched_by="test").ok
    event = instance.get_latest_materialization_event(edgar_changed_companies.key)
    assert event.asset_materialization.metadata["changed_companies"].data == []
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        assert not sensor.evaluate_tick(context).run_requests
