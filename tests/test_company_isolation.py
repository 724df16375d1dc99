"""One company never blocks another, and a bad payload never replaces a company's loaded rows.

Everything runs through real Dagster runs (``dg.materialize`` on the code location's assets, the instance
on disk) against a temporary replay folder holding copies of the recorded SEC payloads, some of them
broken on purpose. Expected row counts are counted from the recorded companyfacts payloads themselves.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import polars as pl
import pytest

from finance_assets.core.companies import COMPANIES_CHECK
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import INGEST_STATUS_TABLE
from finance_assets.core.partitions import companies_partitions, range_tags
from finance_assets.core.resources import IngestPolicyResource
from finance_assets.core.settings import Settings
from finance_assets.edgar.parse import PayloadError, parse_company_facts
from finance_assets.resources import resources_for

TICKERS = "bronze/sec_company_tickers"
FACTS = "bronze/edgar_company_facts"
FACTS_KEY = dg.AssetKey.from_user_string(FACTS)
CIKS = {"AAPL": "0000320193", "NVDA": "0001045810", "TSM": "0001046179"}


def _doc(replay: Path, cik: str) -> dict[str, Any]:
    return orjson.loads(gzip.decompress((replay / f"edgar/companyfacts/CIK{cik}.json.gz").read_bytes()))


def _fact_count(doc: dict[str, Any]) -> int:
    return sum(len(f) for c in doc["facts"].values() for body in c.values() for f in body["units"].values())


def _put(root: Path, cik: str, body: bytes) -> None:
    target = root / f"edgar/companyfacts/CIK{cik}.json"
    for old in (target, target.with_suffix(".json.gz")):
        old.unlink(missing_ok=True)
    target.write_bytes(body)


def _restore(root: Path, recorded: Path, cik: str) -> None:
    _put(root, cik, gzip.decompress((recorded / f"edgar/companyfacts/CIK{cik}.json.gz").read_bytes()))


@pytest.fixture
def replay(lakehouse_env: Path, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A replay root with copies (the transport refuses symlinks out of its root) of what these tests need."""
    root = tmp_path / "replay"
    (root / "edgar/companyfacts").mkdir(parents=True)
    for name in ("company_tickers.json", "company_tickers_exchange.json"):
        shutil.copy(replay_dir / "edgar" / name, root / "edgar" / name)
    for cik in CIKS.values():
        shutil.copy(replay_dir / f"edgar/companyfacts/CIK{cik}.json.gz", root / "edgar/companyfacts")
    monkeypatch.setenv("REPLAY_DIR", str(root))
    return root


def _materialize(
    selection: list[str], first: str | None = None, last: str | None = None, **overrides: Any
) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import defs

    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        partition_key=first if first and not last else None,
        instance=dg.DagsterInstance.get(),
        resources={**resources_for(Settings.from_env()), **overrides},
        raise_on_error=False,
        tags=range_tags(first, last) if first and last else {},
    )


def _register(monkeypatch: pytest.MonkeyPatch, universe: str) -> None:
    monkeypatch.setenv("UNIVERSE", universe)
    from finance_assets.cli import init

    init(Settings.from_env())
    assert _materialize([TICKERS]).success


def _partition_status(keys: list[str]) -> dict[str, str]:
    instance = dg.DagsterInstance.get()
    status = instance.get_status_by_partition(FACTS_KEY, keys, companies_partitions)
    return {k: v.value for k, v in (status or {}).items()}


def _latest_status(lake: IcebergLakehouse) -> dict[str, dict[str, Any]]:
    rows = lake.read(INGEST_STATUS_TABLE).filter(pl.col("asset_key") == FACTS).sort("attempted_at")
    return {r["ticker"]: r for r in rows.iter_rows(named=True)}


def _aapl_files(lake: IcebergLakehouse) -> set[str]:
    files = lake.load("bronze.edgar_company_facts").inspect.files()
    frame = pl.from_arrow(files)
    assert isinstance(frame, pl.DataFrame)
    return {r["file_path"] for r in frame.iter_rows(named=True) if (r["partition"] or {}).get("ticker") == "AAPL"}


def test_a_range_run_writes_the_good_companies_and_fails_exactly_the_bad_partitions(
    replay: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NVDA: companyfacts cut off mid-transfer; TSM: its New Taiwan dollar facts under "NTD", not ISO "TWD";
    # GOOGL: in SEC's ticker map, no companyfacts recorded (404).
    recorded_nvda = gzip.decompress((replay_dir / "edgar/companyfacts/CIK0001045810.json.gz").read_bytes())
    _put(replay, CIKS["NVDA"], recorded_nvda[:5000])
    tsm = _doc(replay_dir, CIKS["TSM"])
    for concept in tsm["facts"]["ifrs-full"].values():
        if "TWD" in concept["units"]:
            concept["units"]["NTD"] = concept["units"].pop("TWD")
    _put(replay, CIKS["TSM"], orjson.dumps(tsm))
    _register(monkeypatch, "AAPL,NVDA,TSM,GOOGL")

    result = _materialize([FACTS], "AAPL", "GOOGL")
    assert not result.success
    keys = ["AAPL", "NVDA", "TSM", "GOOGL"]
    assert _partition_status(keys) == {"AAPL": "MATERIALIZED", "NVDA": "FAILED", "TSM": "FAILED", "GOOGL": "FAILED"}

    lake = IcebergLakehouse.from_settings(Settings.from_env())
    facts = lake.read("bronze.edgar_company_facts")
    assert dict(facts.group_by("ticker").len().iter_rows()) == {"AAPL": _fact_count(_doc(replay_dir, CIKS["AAPL"]))}

    status = _latest_status(lake)
    assert status["AAPL"]["status"] == "ok" and status["AAPL"]["rows"] == _fact_count(_doc(replay_dir, CIKS["AAPL"]))
    assert status["NVDA"]["status"] == "malformed"
    assert "NVDA (CIK 0001045810) companyfacts: malformed payload" in status["NVDA"]["error"]
    assert "source unavailable" not in status["NVDA"]["error"].lower()
    assert status["TSM"]["status"] == "rejected" and "'NTD'" in status["TSM"]["error"]
    assert status["GOOGL"]["status"] == "not_found" and "404" in status["GOOGL"]["error"]
    assert all(status[t]["payload_sha256"] for t in ("AAPL", "TSM"))

    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == COMPANIES_CHECK]
    assert not check.passed
    assert check.metadata["failed"].value == "NVDA, TSM, GOOGL"
    [failure] = result.get_step_failure_events()
    message = str(failure.event_specific_data.error.message)
    assert "3 of 4 companies" in message and "TSM (CIK 0001046179)" in message

    # the input is fixed (GOOGL is still not served): re-running only the failed range lands NVDA and TSM
    aapl_before = facts.filter(pl.col("ticker") == "AAPL").sort(facts.columns, nulls_last=True)
    aapl_files = _aapl_files(lake)
    _restore(replay, replay_dir, CIKS["NVDA"])
    _restore(replay, replay_dir, CIKS["TSM"])
    assert _materialize([FACTS], "NVDA", "TSM").success
    assert _partition_status(keys) == {
        "AAPL": "MATERIALIZED",
        "NVDA": "MATERIALIZED",
        "TSM": "MATERIALIZED",
        "GOOGL": "FAILED",
    }
    after = lake.read("bronze.edgar_company_facts")
    counts = dict(after.group_by("ticker").len().iter_rows())
    assert counts == {t: _fact_count(_doc(replay_dir, c)) for t, c in CIKS.items()}
    assert after.filter(pl.col("ticker") == "AAPL").sort(after.columns, nulls_last=True).equals(aapl_before)
    assert _aapl_files(lake) == aapl_files  # AAPL's data files were not rewritten
    records = (
        dg.DagsterInstance.get()
        .fetch_materializations(dg.AssetRecordsFilter(asset_key=FACTS_KEY, asset_partitions=["AAPL"]), limit=5)
        .records
    )
    assert [r.run_id for r in records] == [result.run_id]  # AAPL was materialized once, by the first run


def test_an_unchanged_company_writes_no_snapshot_and_a_changed_one_rewrites_only_itself(
    replay: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-running over unchanged sources adds no Iceberg snapshot; a new filing rewrites its company alone."""
    _register(monkeypatch, "AAPL,NVDA")
    assert _materialize([FACTS], "AAPL", "NVDA").success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    snapshot = lake.current_snapshot_id("bronze.edgar_company_facts")
    aapl_files = _aapl_files(lake)

    again = _materialize([FACTS], "AAPL", "NVDA")
    assert again.success
    assert lake.current_snapshot_id("bronze.edgar_company_facts") == snapshot
    [output] = [m for m in again.get_asset_materialization_events() if m.asset_key == FACTS_KEY][:1]
    meta = output.materialization.metadata
    assert meta["companies_unchanged"].value == 2 and meta["companies_written"].value == 0
    assert meta["unchanged_companies"].value == "AAPL, NVDA"
    assert {r["ticker"]: r["status"] for r in _latest_status(lake).values()} == {"AAPL": "ok", "NVDA": "ok"}

    # NVDA files a new 10-Q: one more fact; AAPL's payload is the same bytes
    nvda = _doc(replay_dir, CIKS["NVDA"])
    shares = nvda["facts"]["dei"]["EntityCommonStockSharesOutstanding"]["units"]["shares"]
    shares.append(shares[-1] | {"accn": "0001045810-99-000001", "end": "2099-01-01", "filed": "2099-02-01"})
    _put(replay, CIKS["NVDA"], orjson.dumps(nvda))
    before = {s.snapshot_id for s in lake.load("bronze.edgar_company_facts").snapshots()}
    assert _materialize([FACTS], "AAPL", "NVDA").success
    table = lake.load("bronze.edgar_company_facts")
    written = [s for s in table.snapshots() if s.snapshot_id not in before]
    assert written and table.current_snapshot().snapshot_id == written[-1].snapshot_id
    assert {s.summary["dagster.partition-key"] for s in written if s.summary} == {"NVDA"}
    assert _aapl_files(lake) == aapl_files  # AAPL's data files were not rewritten
    counts = dict(lake.read("bronze.edgar_company_facts").group_by("ticker").len().iter_rows())
    assert counts == {"AAPL": _fact_count(_doc(replay_dir, CIKS["AAPL"])), "NVDA": _fact_count(nvda)}


def test_an_empty_payload_for_a_loaded_company_is_rejected_and_its_rows_stay(
    replay: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(monkeypatch, "AAPL")
    assert _materialize([FACTS], "AAPL").success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    snapshot = lake.current_snapshot_id("bronze.edgar_company_facts")
    loaded = _fact_count(_doc(replay_dir, CIKS["AAPL"]))

    empty = _doc(replay_dir, CIKS["AAPL"]) | {"facts": {}}
    _put(replay, CIKS["AAPL"], orjson.dumps(empty))
    result = _materialize([FACTS], "AAPL")
    assert not result.success
    assert lake.current_snapshot_id("bronze.edgar_company_facts") == snapshot
    assert lake.read("bronze.edgar_company_facts").height == loaded
    status = _latest_status(lake)["AAPL"]
    assert status["status"] == "rejected"
    assert f"the payload has no rows, {loaded} rows are loaded" in status["error"]
    assert status["error"].startswith("AAPL (CIK 0000320193) companyfacts:")
    assert _partition_status(["AAPL"]) == {"AAPL": "FAILED"}


def test_a_collapsing_row_count_is_rejected_unless_the_shrink_is_accepted(
    replay: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(monkeypatch, "AAPL")
    assert _materialize([FACTS], "AAPL").success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    doc = _doc(replay_dir, CIKS["AAPL"])
    dei_only = doc | {"facts": {"dei": doc["facts"]["dei"]}}
    _put(replay, CIKS["AAPL"], orjson.dumps(dei_only))

    result = _materialize([FACTS], "AAPL")
    assert not result.success
    status = _latest_status(lake)["AAPL"]
    assert status["status"] == "rejected" and "row count would fall from" in status["error"]
    assert lake.read("bronze.edgar_company_facts").height == _fact_count(doc)

    accepted = _materialize([FACTS], "AAPL", ingest=IngestPolicyResource(accept_shrink=True))
    assert accepted.success
    assert lake.read("bronze.edgar_company_facts").height == _fact_count(dei_only)


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        (lambda d: d["facts"].__setitem__("us-gaap", [1, 2]), "facts.us-gaap"),
        (lambda d: d["facts"]["dei"]["EntityCommonStockSharesOutstanding"]["units"].__setitem__("shares", 7), None),
        (
            lambda d: d["facts"]["dei"]["EntityCommonStockSharesOutstanding"]["units"]["shares"][0].__setitem__(
                "val", {"amount": 1}
            ),
            "facts.dei.EntityCommonStockSharesOutstanding.units.shares[0].val",
        ),
        (
            lambda d: d["facts"]["dei"]["EntityCommonStockSharesOutstanding"]["units"]["shares"][0].__setitem__(
                "accn", 12345
            ),
            "facts.dei.EntityCommonStockSharesOutstanding.units.shares[0].accn",
        ),
    ],
)
def test_a_wrongly_typed_companyfacts_field_is_a_payload_error_naming_the_field(
    replay_dir: Path, break_it: Any, field: str | None
) -> None:
    doc = _doc(replay_dir, CIKS["AAPL"])
    break_it(doc)
    with pytest.raises(PayloadError) as raised:
        parse_company_facts(doc, ticker="AAPL")
    expected = field or "facts.dei.EntityCommonStockSharesOutstanding.units.shares"
    assert raised.value.field == expected


def test_a_filing_index_with_a_missing_extra_page_lands_and_is_recorded_as_incomplete(
    lakehouse_env: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AAPL's recorded submissions index lists CIK0000320193-submissions-001.json (1,206 filings up to
    # 2015-03-11), which is not recorded: the recent filings land, the company is flagged, nothing fails.
    recent = orjson.loads((replay_dir / "edgar/submissions/CIK0000320193.json").read_bytes())["filings"]["recent"]
    _register(monkeypatch, "AAPL")
    result = _materialize(["bronze/edgar_filings"], "AAPL")
    assert result.success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    filings = lake.read("bronze.edgar_filings")
    assert filings.height == len(set(recent["accessionNumber"]))
    [status] = lake.read(INGEST_STATUS_TABLE).iter_rows(named=True)
    assert status["status"] == "incomplete_filing_index" and status["rows"] == filings.height
    assert "CIK0000320193-submissions-001.json" in status["error"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks[COMPANIES_CHECK].passed and not checks["submissions_pages_complete"].passed
