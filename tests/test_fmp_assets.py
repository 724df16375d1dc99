"""FMP Bronze through Dagster: replay into a temporary LAKEHOUSE_HOME, key hygiene, live without a key."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from finance_assets.core.companies import COMPANIES_CHECK
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import INGEST_STATUS_TABLE, RAW_PAYLOADS_TABLE
from finance_assets.core.replay import ReplayTransport
from finance_assets.core.settings import Settings
from finance_assets.edgar.replay_routes import EDGAR_ROUTES
from finance_assets.fmp.assets import FMP_ASSET_KEYS, fmp_balance_sheet
from finance_assets.fmp.parse import TABLES
from finance_assets.fmp.resources import FmpResource
from finance_assets.resources import resources_for

# each company step also commits its rows of bronze.ingest_status: two Iceberg commits per step
pytestmark = pytest.mark.timeout(120)

SENTINEL = "fmpkey-SENTINEL-4c1d9e2b"
BALANCE = "bronze/fmp_balance_sheet"
FMP_HOST = "financialmodelingprep.com"


def _resources() -> dict[str, object]:
    return resources_for(Settings.from_env())


def _materialize(
    instance: dg.DagsterInstance, ticker: str, selection: list[str] | None = None, assets: list | None = None
) -> dg.ExecuteInProcessResult:
    from finance_assets.fmp import assets as fmp_assets

    return dg.materialize(
        assets or dg.load_assets_from_modules([fmp_assets]),
        selection=selection or list(FMP_ASSET_KEYS),
        partition_key=ticker,
        instance=instance,
        resources=_resources(),
        raise_on_error=False,
    )


@pytest.fixture
def fmp_env(lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replay mode with a sentinel FMP key in a fresh LAKEHOUSE_HOME."""
    monkeypatch.setenv("FMP_API_KEY", SENTINEL)
    monkeypatch.setenv("FMP_REQUESTS_PER_MINUTE", "60000")  # replay: no reason to pace the tests
    monkeypatch.setenv("HTTP_MAX_RETRIES", "0")
    from finance_assets.cli import init

    init(Settings.from_env())
    return lakehouse_env


@pytest.fixture
def fmp_instance(fmp_env: Path) -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance (fast) with the company partitions registered."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("companies", ["AAPL", "MSFT"])
        yield instance


@pytest.fixture
def disk_instance(fmp_env: Path) -> Iterator[dg.DagsterInstance]:
    """The instance in DAGSTER_HOME (under LAKEHOUSE_HOME): its event log lands on disk, where it can be scanned."""
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("companies", ["AAPL", "MSFT"])
        yield instance


def _lake() -> IcebergLakehouse:
    return IcebergLakehouse.from_settings(Settings.from_env())


def _counts(ticker: str) -> dict[str, int]:
    lake = _lake()
    return {s.table: lake.read(f"bronze.{s.table}").filter(pl.col("ticker") == ticker).height for s in TABLES}


def test_definitions_register_the_fmp_assets_and_resource() -> None:
    from finance_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(FMP_ASSET_KEYS) <= keys
    assert isinstance((defs.resources or {}).get("fmp"), FmpResource)
    key = dg.AssetKey.from_user_string(BALANCE)
    spec = defs.resolve_assets_def(key)
    assert spec.group_names_by_key[key] == "bronze"
    check_names = {c.name for c in spec.check_specs}
    assert {
        "unique_ticker_date_period",
        "non_empty",
        "period_valid",
        "date_not_in_future",
        "balance_sheet_identity",
        "fmp_fields_mapped",
    } <= check_names


def test_aapl_fy2022_total_assets_lands_in_bronze_balance_sheet(
    fmp_instance: dg.DagsterInstance, replay_dir: Path
) -> None:
    recorded = json.loads((replay_dir / "fmp/balance-sheet-statement/AAPL__v3__annual_limit12.json").read_text())
    fy2022 = next(r for r in recorded if r["calendarYear"] == "2022" and r["period"] == "FY")
    assert fy2022["totalAssets"] == 352_755_000_000

    result = _materialize(fmp_instance, "AAPL")
    assert result.success

    table = _lake().read("bronze.fmp_balance_sheet")
    row = table.filter((pl.col("ticker") == "AAPL") & (pl.col("period") == "FY") & (pl.col("fiscal_year") == 2022))
    assert row.height == 1
    assert row.get_column("total_assets").to_list() == [float(fy2022["totalAssets"])]
    assert row.get_column("date").to_list() == [date(2022, 9, 24)]
    assert row.get_column("api").to_list() == ["v3"]
    # stable's newer year is merged in, and every table of the company landed
    assert table.filter(pl.col("fiscal_year") == 2024).get_column("api").to_list() == ["stable"]
    assert _counts("AAPL") == {
        "fmp_profile": 1,
        "fmp_income_statement": 6,
        "fmp_balance_sheet": 13,
        "fmp_cash_flow": 11,
        "fmp_key_metrics": 1,
        "fmp_ratios": 1,
    }
    failed = [
        (c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations() if not c.passed
    ]
    assert failed == []
    metadata = {
        m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()
    }
    assert metadata[BALANCE]["rows_by_api"].value == "stable=1, v3=12"
    assert metadata[BALANCE]["fmp_coverage"].value == "annual"
    assert metadata["bronze/fmp_cash_flow"]["fmp_coverage"].value == "annual + quarterly"


def test_a_company_fmp_does_not_cover_succeeds_empty_with_a_warning(fmp_instance: dg.DagsterInstance) -> None:
    result = _materialize(fmp_instance, "MSFT")
    assert result.success
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert metadata["rows"].value == 0
        assert metadata["fmp_coverage"].value.startswith("none: FMP returned no")
    red = {
        (c.asset_key.to_user_string(), c.check_name, c.severity)
        for c in result.get_asset_check_evaluations()
        if not c.passed
    }
    assert red == {(key, "non_empty", dg.AssetCheckSeverity.WARN) for key in FMP_ASSET_KEYS}
    # the tables exist with their full schema, so readers of the partition get a typed, empty frame
    empty = _lake().read("bronze.fmp_balance_sheet")
    assert empty.is_empty() and "total_assets" in empty.columns


def test_rematerialising_a_partition_keeps_row_counts(fmp_instance: dg.DagsterInstance) -> None:
    assert _materialize(fmp_instance, "AAPL").success
    before = _counts("AAPL")
    snapshots = len(_lake().load("bronze.fmp_balance_sheet").snapshots())

    assert _materialize(fmp_instance, "AAPL").success
    assert _counts("AAPL") == before
    assert len(_lake().load("bronze.fmp_balance_sheet").snapshots()) > snapshots


def _texts_from_files(root: Path) -> Iterator[tuple[Path, bytes]]:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            yield path, data


def test_the_api_key_never_appears_in_logs_events_metadata_archive_or_errors(
    disk_instance: dg.DagsterInstance,
    lakehouse_env: Path,
    replay_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Positive control: the key really goes out (as FMP's `apikey` parameter), so redaction is what hides it.
    sent: list[str] = []
    serve = ReplayTransport.handle_request

    def spy(self: ReplayTransport, request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return serve(self, request)

    monkeypatch.setattr(ReplayTransport, "handle_request", spy)
    caplog.set_level(logging.DEBUG)

    results = [_materialize(disk_instance, "AAPL"), _materialize(disk_instance, "MSFT")]
    assert all(r.success for r in results)

    # A failing step too: a corrupt recording makes the shared client raise with the request URL in hand.
    broken = tmp_path / "broken_replay"
    (broken / "edgar").mkdir(parents=True)
    (broken / "fmp/balance-sheet-statement").mkdir(parents=True)
    (broken / "fmp/balance-sheet-statement/AAPL__stable__annual_limit1.json").write_text("<html>502 Bad Gateway")
    monkeypatch.setenv("REPLAY_DIR", str(broken))
    failed = _materialize(disk_instance, "AAPL", selection=[BALANCE], assets=[fmp_balance_sheet])
    monkeypatch.setenv("REPLAY_DIR", str(replay_dir))
    assert not failed.success
    failure_text = "\n".join(e.step_failure_data.error.to_string() for e in failed.get_step_failure_events())
    assert "malformed payload" in failure_text and "apikey=***" in failure_text
    results.append(failed)

    assert sent and all(f"apikey={SENTINEL}" in url for url in sent)

    haystacks: dict[str, str] = {}
    # 1. every log record (incl. httpx's "HTTP Request:" line and our DEBUG lines) and the console output
    haystacks["log records"] = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any("apikey=***" in r.getMessage() for r in caplog.records)
    captured = capfd.readouterr()
    haystacks["stdout"], haystacks["stderr"] = captured.out, captured.err
    # 2. every Dagster event, from the result and from the instance's event log (serialised in full)
    haystacks["result events"] = "\n".join(dg.serialize_value(e) for r in results for e in r.all_events)
    haystacks["instance event log"] = "\n".join(
        dg.serialize_value(entry) for r in results for entry in disk_instance.all_logs(r.run_id)
    )
    # 3. materialisation and check metadata values
    haystacks["metadata"] = "\n".join(
        f"{k}={v.value!r}"
        for r in results
        for m in r.get_asset_materialization_events()
        for k, v in m.materialization.metadata.items()
    ) + "\n".join(str(c.metadata) for r in results for c in r.get_asset_check_evaluations())
    assert "apikey=***" in haystacks["metadata"]
    # 4. the archived-payload index rows, and every table FMP wrote
    lake = _lake()
    index = lake.read(RAW_PAYLOADS_TABLE).filter(pl.col("source") == "fmp")
    assert index.height >= 10 and index.get_column("url").str.contains("apikey=***", literal=True).all()
    haystacks["raw_payloads"] = str(index.rows())
    for spec in TABLES:
        haystacks[spec.table] = str(lake.read(f"bronze.{spec.table}").rows())
    # 5. exception text
    haystacks["step failures"] = failure_text
    # 6. and, for good measure, every file under LAKEHOUSE_HOME: Dagster's sqlite event log, the HTTP
    #    cache, the raw archive (gunzipped), Iceberg metadata
    files = list(_texts_from_files(lakehouse_env))
    assert any(p.suffix == ".db" for p, _ in files)

    leaks = [name for name, text in haystacks.items() if SENTINEL in text]
    leaks += [str(p) for p, data in files if SENTINEL.encode() in data]
    assert leaks == []


def test_live_without_a_key_fails_only_the_fmp_steps_before_any_request(
    lakehouse_env: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLAY_DIR")
    monkeypatch.delenv("FMP_API_KEY", raising=False)
    monkeypatch.setenv("SEC_USER_AGENT", "Lakehouse Tests tests@example.com")
    monkeypatch.setenv("UNIVERSE", "AAPL")
    assert not Settings.from_env().replay

    # The "network": SEC answers from the recordings; anything else would be an error. Every request is noted.
    hosts: list[str] = []
    sec = ReplayTransport(replay_dir, EDGAR_ROUTES)

    def network(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host.endswith("sec.gov"):
            return sec.handle_request(request)
        raise httpx.ConnectError(f"test network: {request.url.host} is not reachable")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", network)
    from finance_assets.cli import init
    from finance_assets.definitions import defs

    init(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        tickers = dg.materialize(
            list(defs.assets or []),
            selection=["bronze/sec_company_tickers"],
            instance=instance,
            resources=resources_for(Settings.from_env()),
            raise_on_error=False,
        )
        assert tickers.success
        # EDGAR and FMP in ONE run: only the FMP steps may fail
        mixed = dg.materialize(
            list(defs.assets or []),
            selection=["bronze/edgar_filings", BALANCE, "bronze/fmp_profile"],
            partition_key="AAPL",
            instance=instance,
            resources=resources_for(Settings.from_env()),
            raise_on_error=False,
        )
    failures = {e.step_key: e.step_failure_data.error.to_string() for e in mixed.get_step_failure_events()}
    assert set(failures) == {"bronze__fmp_balance_sheet", "bronze__fmp_profile"}
    assert all("FMP_API_KEY is not set" in text for text in failures.values())
    succeeded = {e.asset_key.to_user_string() for e in mixed.get_asset_materialization_events()}
    assert succeeded == {"bronze/edgar_filings"}
    assert hosts and FMP_HOST not in hosts and all(h.endswith("sec.gov") for h in hosts)


def test_a_statement_in_an_unexpected_currency_is_rejected_naming_company_and_currency(
    fmp_instance: dg.DagsterInstance, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AAPL's recorded balance sheets report in USD; the copy says "USX" (no ISO 4217 code) in every row
    copy = tmp_path / "replay"
    shutil.copytree(replay_dir / "fmp", copy / "fmp")
    (copy / "edgar").mkdir()
    for path in (copy / "fmp/balance-sheet-statement").glob("AAPL__*.json"):
        path.write_text(path.read_text().replace('"USD"', '"USX"'))
    monkeypatch.setenv("REPLAY_DIR", str(copy))
    result = _materialize(fmp_instance, "AAPL", selection=[BALANCE], assets=[fmp_balance_sheet])
    assert not result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == COMPANIES_CHECK]
    assert not check.passed and check.metadata["failed"].value == "AAPL"
    status = _lake().read(INGEST_STATUS_TABLE).row(0, named=True)
    assert status["status"] == "rejected" and status["endpoint"] == "balance-sheet-statement"
    assert "unexpected reported_currency 'USX'" in status["error"]
    assert status["error"].startswith("AAPL (CIK 0000320193) balance-sheet-statement:")  # CIK from FMP's rows
    assert not _lake().table_exists("bronze.fmp_balance_sheet") or _counts("AAPL")["fmp_balance_sheet"] == 0


def test_a_payload_that_is_no_list_of_records_fails_only_its_company_as_malformed(
    fmp_instance: dg.DagsterInstance, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "replay"
    shutil.copytree(replay_dir / "fmp", copy / "fmp")
    (copy / "edgar").mkdir()
    for path in (copy / "fmp/balance-sheet-statement").glob("AAPL__*.json"):
        path.write_text("[1, 2, 3]")
    monkeypatch.setenv("REPLAY_DIR", str(copy))
    result = _materialize(fmp_instance, "AAPL", selection=[BALANCE], assets=[fmp_balance_sheet])
    assert not result.success
    status = _lake().read(INGEST_STATUS_TABLE).row(0, named=True)
    assert status["status"] == "malformed" and status["endpoint"] == "balance-sheet-statement"
    assert "item [0] is int, not an object" in status["error"]  # where the payload stops being records
    assert "malformed payload" in status["error"] and "apikey=***" in status["error"]
