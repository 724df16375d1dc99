"""A backfill over many companies runs them as ranges: one Dagster run, one Iceberg commit per range.

What each company gets must be what its own run would write (counted from the recorded payloads, not
from our code), Dagster must record every company partition as materialised, and one company the
source cannot serve must fail only its own partition, naming it, while the others of the range land.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import dagster as dg
import orjson
import pytest

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.partitions import COMPANIES_PER_RUN, company_runs, range_tags
from finance_assets.core.settings import Settings
from finance_assets.resources import resources_for

TICKERS = "bronze/sec_company_tickers"
FACTS = "bronze/edgar_company_facts"
FILINGS = "bronze/edgar_filings"
RECORDED_CIKS = {"AAPL": 320193, "NVDA": 1045810, "TSM": 1046179}


def _materialize(selection: list[str], first: str | None = None, last: str | None = None) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import defs

    tags = {}
    if first and last:
        tags = range_tags(first, last)
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        partition_key=first if first and not last else None,
        instance=dg.DagsterInstance.get(),
        resources=resources_for(Settings.from_env()),
        raise_on_error=False,
        tags=tags,
    )


def _recorded_fact_count(cik: int) -> int:
    path = Path(os.environ["REPLAY_DIR"]) / f"edgar/companyfacts/CIK{cik:010d}.json.gz"
    doc = orjson.loads(gzip.decompress(path.read_bytes()))
    return sum(len(f) for c in doc["facts"].values() for body in c.values() for f in body["units"].values())


@pytest.fixture
def universe(lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("UNIVERSE", "AAPL,GOOGL,NVDA,TSM")  # GOOGL: in SEC's map, its payloads not recorded
    from finance_assets.cli import init

    init(Settings.from_env())
    assert _materialize([TICKERS]).success
    return Settings.from_env().universe.split(",")


def test_a_range_of_companies_is_one_run_and_writes_each_company_as_reported(universe: list[str]) -> None:
    result = _materialize([FILINGS, FACTS], "NVDA", "TSM")
    assert result.success
    facts = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.edgar_company_facts")
    counts = dict(facts.group_by("ticker").len().iter_rows())
    assert counts == {t: _recorded_fact_count(RECORDED_CIKS[t]) for t in ("NVDA", "TSM")}
    # Dagster knows each company partition of both assets as materialised, by this one run
    instance = dg.DagsterInstance.get()
    for key in (FACTS, FILINGS):
        materialized = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
        assert materialized == {"NVDA", "TSM"}, key
    checks = {
        e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.path[-1] == "edgar_company_facts"
    }
    assert checks["non_empty"].passed and checks["non_empty"].metadata["empty_partitions"].value == "none"
    # the archive index names the company each payload belongs to
    index = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.raw_payloads")
    per_company = index.filter(index.get_column("asset_key").is_in([FACTS, FILINGS]))
    assert set(per_company.get_column("partition_key").to_list()) == {"NVDA", "TSM"}


def test_rematerializing_one_company_of_a_range_replaces_only_its_rows(universe: list[str]) -> None:
    assert _materialize([FACTS], "NVDA", "TSM").success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    before = lake.read("bronze.edgar_company_facts")
    before = before.sort(before.columns, nulls_last=True)
    assert _materialize([FACTS], "TSM").success
    after = lake.read("bronze.edgar_company_facts")
    assert after.sort(after.columns, nulls_last=True).equals(before)


def test_a_company_the_source_lacks_fails_only_its_partition_and_the_others_of_the_range_land(
    universe: list[str],
) -> None:
    result = _materialize([FACTS], "AAPL", "NVDA")  # AAPL, GOOGL (404), NVDA
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = str(failure.event_specific_data.error.message)
    assert "GOOGL" in message and "404" in message and "The other 2 companies of this run were written" in message
    assert "AAPL (CIK" not in message and "NVDA (CIK" not in message  # only the company at fault is blamed
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    facts = lake.read("bronze.edgar_company_facts")
    assert dict(facts.group_by("ticker").len().iter_rows()) == {
        t: _recorded_fact_count(RECORDED_CIKS[t]) for t in ("AAPL", "NVDA")
    }
    instance = dg.DagsterInstance.get()
    assert instance.get_materialized_partitions(dg.AssetKey.from_user_string(FACTS)) == {"AAPL", "NVDA"}


def test_company_runs_are_contiguous_ranges_of_registered_companies_at_most_per_run_long() -> None:
    instance = dg.DagsterInstance.ephemeral()
    keys = [f"C{i:04d}" for i in range(2 * COMPANIES_PER_RUN + 10)]
    instance.add_dynamic_partitions("companies", keys)
    wanted = [k for i, k in enumerate(keys) if i != 5] + ["NOT_REGISTERED"]
    runs = company_runs(instance, wanted)
    assert runs[0] == ("C0000", "C0004")
    covered: list[str] = []
    for first, last in runs:
        span = keys[keys.index(first) : keys.index(last) + 1]
        assert len(span) <= COMPANIES_PER_RUN
        covered += span
    assert covered == [k for k in keys if k != "C0005"]
    assert company_runs(instance, ["C0003", "C0001"]) == [("C0001", "C0001"), ("C0003", "C0003")]
