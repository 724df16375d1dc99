"""13F Bronze through Dagster in replay mode: the recorded filings load, their checks hold, altered copies fail.

Expected values come from the recorded documents (edgar/13f/) and submissions index (CIK0001067983.json).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from finance_assets.core.archive import LocalBlobStore, PayloadArchive
from finance_assets.core.http import SourceClient
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.partitions import range_tags
from finance_assets.core.settings import Settings
from finance_assets.edgar.holdings_assets import (
    COVER_PAGES_KEY,
    HOLDINGS_KEY,
    load_filing,
    register_filings,
    register_managers,
)
from finance_assets.edgar.holdings_demo import filing_keys
from finance_assets.edgar.holdings_reference import REFERENCE_13F_FILINGS

LTS, ACORN, METLIFE = (f.key for f in REFERENCE_13F_FILINGS)
DOCUMENTS = [COVER_PAGES_KEY.to_user_string(), HOLDINGS_KEY.to_user_string()]
BERKSHIRE = "0001067983"


def _materialize(
    instance: dg.DagsterInstance, selection: list[str], keys: list[str] | None = None
) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env())
    tags = range_tags(keys[0], keys[-1]) if keys and len(keys) > 1 else {}
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        partition_key=keys[0] if keys and len(keys) == 1 else None,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        tags=tags,
    )


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    [found] = [c for c in result.get_asset_check_evaluations() if c.check_name == name]
    return found


def _meta(check: dg.AssetCheckEvaluation, key: str) -> str:
    value = check.metadata[key]
    return str(getattr(value, "value", value))


def _read(table: str) -> pl.DataFrame:
    return IcebergLakehouse.from_settings(Settings.from_env()).read(table)


@pytest.fixture
def instance(lakehouse_env: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def test_recorded_filings_load_and_match_their_cover_pages(instance: dg.DagsterInstance) -> None:
    assert filing_keys(instance) == [LTS, ACORN, METLIFE]  # the recorded filings, registered in one range
    result = _materialize(instance, DOCUMENTS, [LTS, ACORN, METLIFE])
    assert result.success
    covers = _read("bronze.edgar_13f_cover_pages").sort("filing_key")
    assert covers.select("filing_key", "information_table_status", "holdings_loaded", "table_value_total").rows() == [
        # 0001140361-23-013281: MetLife's information table is not recorded; the cover page still lands
        ("0001099219/0001140361-23-013281", "missing", None, 11_019_796),
        ("0001894188/0001894188-23-000007", "loaded", 14, 454_926_000),
        ("0001994827/0001951757-25-000093", "loaded", 77, 194_611_845),
    ]
    holdings = _read("bronze.edgar_13f_holdings")
    assert holdings.group_by("filing_key").agg(pl.len(), pl.col("value_reported").sum()).sort("filing_key").rows() == [
        (LTS, 14, 454_926_000),
        (ACORN, 77, 194_611_845),
    ]
    totals = _check(result, "holdings_match_cover_page")
    assert totals.passed and totals.severity == dg.AssetCheckSeverity.ERROR
    assert "METLIFE INC (CIK 0001099219), period 2021-12-31" in _meta(totals, "not_verifiable")
    loaded = _check(result, "information_table_loaded")
    assert not loaded.passed and loaded.severity == dg.AssetCheckSeverity.WARN
    assert "index.json answered 404" in _meta(loaded, "missing_information_tables")
    assert all(c.passed for c in result.get_asset_check_evaluations() if c.check_name != "information_table_loaded")
    # every document fetched is in the raw archive index, with the real EDGAR URL
    urls = set(_read("bronze.raw_payloads").get_column("url").to_list())
    assert "https://www.sec.gov/Archives/edgar/data/1994827/000195175725000093/F_13F_AcornCreek_Q42024.xml" in urls


def test_rematerialising_a_filing_replaces_its_rows(instance: dg.DagsterInstance) -> None:
    register_filings(instance, [LTS])
    for _ in range(2):
        assert _materialize(instance, DOCUMENTS, [LTS]).success
    assert _read("bronze.edgar_13f_holdings").height == 14
    assert _read("bronze.edgar_13f_cover_pages").height == 1


def _altered_replay(root: Path, replay_dir: Path, document: str, old: bytes, new: bytes) -> Path:
    """A replay folder whose one 13F document differs from the recording (copies, the original is read-only)."""
    shutil.copytree(replay_dir / "edgar" / "13f", root / "edgar" / "13f")
    path = root / "edgar" / "13f" / document
    content = path.read_bytes()
    assert content.count(old) == 1
    path.write_bytes(content.replace(old, new))
    return root


def test_an_altered_value_fails_the_check_naming_manager_and_period(
    instance: dg.DagsterInstance, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Acorn Creek's APPLE INC entry is 4652092 in the filing; one dollar more breaks tableValueTotal
    document = "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__F_13F_AcornCreek_Q42024.xml"
    root = _altered_replay(tmp_path / "replay", replay_dir, document, b">4652092<", b">4652093<")
    monkeypatch.setenv("REPLAY_DIR", str(root))
    register_filings(instance, [ACORN])
    result = _materialize(instance, DOCUMENTS, [ACORN])
    check = _check(result, "holdings_match_cover_page")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _meta(check, "failing_filings") == (
        "ACORN CREEK CAPITAL LLC (CIK 0001994827), period 2024-12-31, accession 0001951757-25-000093: "
        "information table 77 entries summing to 194,611,846 vs cover page tableEntryTotal 77 and "
        "tableValueTotal 194,611,845"
    )


def test_a_missing_entry_fails_the_check_on_the_count(
    instance: dg.DagsterInstance, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LTS One's last entry (VISA INC, 90,000 sh, 20,701,000) removed: 13 entries, 434,225,000
    document = "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__index.xml"
    content = (replay_dir / "edgar" / "13f" / document).read_bytes()
    start = content.rindex(b"<ns1:infoTable>")
    end = content.rindex(b"</ns1:infoTable>") + len(b"</ns1:infoTable>")
    assert b"VISA INC" in content[start:end]
    root = _altered_replay(tmp_path / "replay", replay_dir, document, content[start:end], b"")
    monkeypatch.setenv("REPLAY_DIR", str(root))
    register_filings(instance, [LTS])
    check = _check(_materialize(instance, DOCUMENTS, [LTS]), "holdings_match_cover_page")
    assert not check.passed
    assert "LTS One Management LP (CIK 0001894188), period 2023-09-30" in _meta(check, "failing_filings")
    assert "13 entries summing to 434,225,000 vs cover page tableEntryTotal 14" in _meta(check, "failing_filings")


def test_an_unknown_filing_fails_alone_and_names_itself(instance: dg.DagsterInstance) -> None:
    bogus = "0001894188/0001894188-23-000099"
    register_filings(instance, [bogus])
    result = _materialize(instance, DOCUMENTS, [bogus])
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert f"no 13F cover page for filing {bogus}" in message and "answered 404" in message
    lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
    assert not lakehouse.table_exists("bronze.edgar_13f_cover_pages")  # nothing was written


def test_discovery_registers_a_managers_13f_filings_from_its_submissions_index(instance: dg.DagsterInstance) -> None:
    # edgar/submissions/CIK0001067983.json (Berkshire Hathaway): 45 13F filings in filings.recent; its
    # older page CIK0001067983-submissions-001.json is not recorded
    register_managers(instance, [BERKSHIRE])
    result = _materialize(instance, ["bronze/edgar_13f_filings"], [BERKSHIRE])
    assert result.success
    filings = _read("bronze.edgar_13f_filings")
    assert filings.height == 45
    row = filings.filter(pl.col("accession_number") == "0000950123-23-002585").row(0, named=True)
    assert (str(row["filing_date"]), str(row["report_date"]), row["form"]) == ("2023-02-14", "2022-12-31", "13F-HR")
    registered = set(instance.get_dynamic_partitions("thirteenf_filings"))
    assert f"{BERKSHIRE}/0000950123-23-002585" in registered and len(registered) == 45
    pages = _check(result, "submissions_pages_complete")
    assert not pages.passed and pages.severity == dg.AssetCheckSeverity.WARN


def test_a_malformed_manager_partition_is_refused(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions("thirteenf_managers", ["1067983"])
    result = _materialize(instance, ["bronze/edgar_13f_filings"], ["1067983"])
    assert not result.success
    assert "is not a 10-digit CIK" in result.get_step_failure_events()[0].event_specific_data.error.message


def test_a_shadowed_information_table_is_read_from_the_full_submission(replay_dir: Path, tmp_path: Path) -> None:
    """Live EDGAR answers .../000189418823000007/index.xml with its folder listing (the filer named its
    information table index.xml); the loader then reads the document from the full submission text."""
    folder = replay_dir / "edgar" / "13f"
    cover = (folder / "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__primary_doc.xml").read_bytes()
    table = (folder / "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__index.xml").read_bytes()
    base = "/Archives/edgar/data/1894188/000189418823000007"
    submission = (
        b"<SEC-DOCUMENT>\n<DOCUMENT>\n<TYPE>13F-HR\n<SEQUENCE>1\n<FILENAME>primary_doc.xml\n<TEXT>\n<XML>\n"
        + cover
        + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n<DOCUMENT>\n<TYPE>INFORMATION TABLE\n<SEQUENCE>2\n<FILENAME>index.xml\n"
        b"<TEXT>\n<XML>\n" + table + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"
    )
    answers = {
        f"{base}/primary_doc.xml": cover,
        f"{base}/index.xml": b'<?xml version="1.0"?><directory><name>/Archives/edgar/data</name></directory>',
        f"{base}/0001894188-23-000007.txt": submission,
    }

    def edgar(request: httpx.Request) -> httpx.Response:  # the internet, as EDGAR answers these URLs
        body = answers.get(request.url.path)
        return httpx.Response(200, content=body) if body is not None else httpx.Response(404)

    archive = PayloadArchive(LocalBlobStore(tmp_path / "raw"))
    with SourceClient(source="sec", user_agent="test t@example.com", transport=httpx.MockTransport(edgar)) as client:
        loaded = load_filing(client, archive, LTS)
    assert loaded.holdings.num_rows == 14
    assert loaded.cover["information_table_status"] == "loaded"
    assert loaded.cover["information_table_url"].endswith("/0001894188-23-000007.txt")
    assert "folder listing" in loaded.cover["information_table_detail"]
    assert loaded.cover["holdings_value_reported"] == loaded.cover["table_value_total"] == 454_926_000


def test_the_sensor_requests_only_filings_never_loaded(instance: dg.DagsterInstance) -> None:
    from finance_assets.edgar.holdings_schedules import manager_requests, new_filing_requests

    assert [type(r) for r in new_filing_requests(instance)] == [dg.SkipReason]
    register_filings(instance, [LTS])
    assert _materialize(instance, DOCUMENTS, [LTS]).success
    register_filings(instance, [ACORN, METLIFE])
    [request] = new_filing_requests(instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags == range_tags(ACORN, METLIFE) and request.run_key == f"13f-filings-{ACORN}..{METLIFE}"
    assert [type(r) for r in manager_requests(instance, "2025-02-15")] == [dg.SkipReason]
    register_managers(instance, [BERKSHIRE])
    [daily] = manager_requests(instance, "2025-02-15")
    assert isinstance(daily, dg.RunRequest) and daily.partition_key == BERKSHIRE


def test_a_truncated_filing_fails_alone_in_a_multi_filing_run_and_reruns_alone(
    instance: dg.DagsterInstance, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run over the three recorded filings with Acorn Creek's information table cut off mid-transfer:
    LTS One and MetLife land, Acorn Creek fails its own partition (status row, failing check naming it);
    once the document is whole again, re-running that partition alone lands it and leaves the others' files."""
    from finance_assets.core.companies import COMPANIES_CHECK
    from finance_assets.core.names import INGEST_STATUS_TABLE
    from finance_assets.edgar.holdings_assets import thirteenf_filings_partitions

    document = "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__F_13F_AcornCreek_Q42024.xml"
    recorded = (replay_dir / "edgar" / "13f" / document).read_bytes()
    root = tmp_path / "replay"
    shutil.copytree(replay_dir / "edgar" / "13f", root / "edgar" / "13f")
    (root / "edgar" / "13f" / document).write_bytes(recorded[: len(recorded) // 2])
    monkeypatch.setenv("REPLAY_DIR", str(root))
    keys = filing_keys(instance)
    assert keys == [LTS, ACORN, METLIFE]

    result = _materialize(instance, DOCUMENTS, keys)
    assert not result.success
    for asset in (COVER_PAGES_KEY, HOLDINGS_KEY):  # Dagster shows exactly the bad filing as failed
        status = instance.get_status_by_partition(asset, keys, thirteenf_filings_partitions) or {}
        assert {k: v.value for k, v in status.items()} == {
            LTS: "MATERIALIZED",
            ACORN: "FAILED",
            METLIFE: "MATERIALIZED",
        }, asset
    covers = _read("bronze.edgar_13f_cover_pages")
    assert sorted(covers.get_column("filing_key").to_list()) == [METLIFE, LTS]
    holdings = _read("bronze.edgar_13f_holdings")
    # LTS One's recorded information table: 14 entries summing to its tableValueTotal 454,926,000
    assert holdings.group_by("filing_key").agg(pl.len(), pl.col("value_reported").sum()).rows() == [
        (LTS, 14, 454_926_000)
    ]
    loaded = _check(result, COMPANIES_CHECK)
    assert not loaded.passed and _meta(loaded, "failed") == ACORN
    [row] = _read(INGEST_STATUS_TABLE).filter(pl.col("ticker") == ACORN).rows(named=True)
    assert (row["cik"], row["status"], row["endpoint"]) == ("0001994827", "malformed", "13f_documents")
    assert row["error"].startswith(f"{ACORN} (CIK 0001994827) 13f_documents: malformed payload")
    assert "F_13F_AcornCreek_Q42024.xml" in row["error"]
    [failure] = result.get_step_failure_events()
    assert f"{ACORN} (CIK 0001994827)" in failure.event_specific_data.error.message

    lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
    lts_files = {r["file_path"] for r in lakehouse.load("bronze.edgar_13f_holdings").inspect.files().to_pylist()}
    (root / "edgar" / "13f" / document).write_bytes(recorded)
    assert _materialize(instance, DOCUMENTS, [ACORN]).success
    holdings = _read("bronze.edgar_13f_holdings")
    assert sorted(holdings.group_by("filing_key").agg(pl.len(), pl.col("value_reported").sum()).rows()) == [
        (LTS, 14, 454_926_000),
        (ACORN, 77, 194_611_845),  # Acorn Creek's cover page: tableEntryTotal 77, tableValueTotal 194,611,845
    ]
    after = {r["file_path"] for r in lakehouse.load("bronze.edgar_13f_holdings").inspect.files().to_pylist()}
    assert lts_files <= after  # LTS One's data files were not rewritten
