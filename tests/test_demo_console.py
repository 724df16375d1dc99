"""The demo's console (issue 19.1): one line per stage on the terminal, every run line in the full log."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from finance_assets.launch import Launch, Outcome
from finance_assets.pipeline import Reporter


def test_each_stage_is_one_console_line_and_each_run_a_log_line() -> None:
    screen, log = io.StringIO(), []
    reporter = Reporter(log=log.append, console=Console(file=screen, width=120, color_system=None))
    with reporter.live():
        with reporter.stage("bronze: EDGAR filings + XBRL facts (2 companies)", 2) as done:
            done(Outcome(Launch("bronze_edgar_companies", partition_range=("AAPL", "MSFT")), "r1", 1.5))
            done(Outcome(Launch("bronze_edgar_companies", partition_key="SNOW"), "r2", 0.5, failures=["SNOW: 404"]))
        with reporter.stage("bronze: FMP fundamentals (1 company)", 1) as done:
            gap = "FMP [EXPE]: step fmp failed for EXPE"  # every company status not_found: a data gap
            done(Outcome(Launch("bronze_fmp_companies", partition_key="EXPE"), "r4", 0.2, failures=[gap], gaps=[gap]))
        with reporter.stage("silver + gold: dbt build", 1) as done:
            done(Outcome(Launch("transform"), "r3", 2.0, warnings=["check gold/x:y (tickers_missing: LPA)"]))
    lines = screen.getvalue().strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("✗ bronze: EDGAR filings") and "2 runs, 1 failed" in lines[0]
    assert lines[1].startswith("~ bronze: FMP fundamentals") and "1 run, 1 with data gaps" in lines[1]
    assert lines[2].startswith("✓ silver + gold: dbt build") and "1 run" in lines[2]
    assert [o.run_id for o in reporter.outcomes] == ["r1", "r2", "r4", "r3"]
    assert reporter.outcomes[2].errors == [] and reporter.outcomes[1].errors == ["SNOW: 404"]
    assert any("FAILED" in line and "[SNOW]" in line for line in log)  # the run lines go to the log


def test_full_log_takes_the_process_and_child_output_and_keeps_the_terminal(tmp_path: Path) -> None:
    script = f"""
import subprocess, sys, warnings
from pathlib import Path
from finance_assets.cli import full_log
with full_log(Path({str(tmp_path / "demo.log")!r})) as terminal:
    print("dagster event log line")
    warnings.warn("a dependency warning")
    subprocess.run([sys.executable, "-c", "print('dbt output')"], check=True)
    terminal.write("stage line\\n")
print("after")
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stage line\nafter\n" and result.stderr == ""
    logged = (tmp_path / "demo.log").read_text()
    assert "dagster event log line" in logged and "a dependency warning" in logged and "dbt output" in logged


def test_a_company_the_source_lacks_is_a_data_gap_of_its_run_not_an_error(
    lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # replay: EXPE's submissions are recorded, its companyfacts are not (a 404, status not_found)
    monkeypatch.setenv("UNIVERSE", "EXPE")
    import dagster as dg

    from finance_assets.cli import init
    from finance_assets.core.settings import Settings
    from finance_assets.definitions import build_definitions
    from finance_assets.launch import launch, plan

    settings = Settings.from_env()
    init(settings)
    defs, instance = build_definitions(settings), dg.DagsterInstance.get()
    [tickers] = plan(defs, instance, "bronze_reference")
    assert launch(defs, instance, tickers, launched_by="test").ok
    [run] = plan(defs, instance, "bronze_edgar_companies", partition_keys=["EXPE"])
    outcome = launch(defs, instance, run, launched_by="test")
    assert not outcome.ok  # Dagster shows EXPE's partition failed: re-run failed retries it
    assert outcome.gaps == outcome.failures and outcome.errors == []
    assert any("for EXPE" in gap for gap in outcome.gaps)


def test_data_gaps_count_repeats_once_and_say_how_many_more_the_log_holds() -> None:
    from finance_assets.cli import gap_lines

    universe = "3 sp500 ticker(s) are not in SEC's current ticker map (delisted or renamed): CBS, STI, VIAB"
    pages = "check bronze/edgar_filings:submissions_pages_complete"
    gaps = [universe, pages, pages, pages, *(f"check bronze/x:check_{i}" for i in range(10))]
    shown = gap_lines(gaps, limit=8)
    assert shown[0] == universe  # the universe's own gaps come first and are never cut off
    assert shown[1] == f"{pages} (x3)"
    assert len(shown) == 8 and shown[-1] == "... and 5 more in the log"  # 12 distinct gaps, 7 shown
    assert gap_lines(["x" * 300], width=220) == ["x" * 217 + "..."]


def test_a_company_counts_in_silver_through_its_facts_table_keyed_by_cik_alone(lakehouse_env: Path) -> None:
    """silver.financial_facts has no ticker column: a company with SEC facts and no prices (TSM in the demo)
    still landed in Silver, and the per-layer table must say so."""
    import polars as pl

    from finance_assets.cli import layer_tickers
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings

    settings = Settings()
    lakehouse = IcebergLakehouse.from_settings(settings)
    lakehouse.ensure_namespaces()
    lakehouse.write("silver.companies", pl.DataFrame({"ticker": ["TSM", "AAPL"], "cik": ["0001046179", "0000320193"]}))
    lakehouse.write("silver.financial_facts", pl.DataFrame({"cik": ["0001046179"], "value": [1.0]}))
    lakehouse.write("silver.prices_daily", pl.DataFrame({"ticker": ["AAPL", "SPY"], "close": [1.0, 2.0]}))

    landed = layer_tickers(settings)

    assert landed["Silver"] == {"TSM", "AAPL", "SPY"}
    assert landed["Gold"] == set()  # no Gold table yet: nothing counted
