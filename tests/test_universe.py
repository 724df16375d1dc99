"""UNIVERSE resolution (finance_assets/edgar/universe.py) against SEC's recorded ticker map (issue 13.4).

Expected values come from the recorded files, read here independently: the ticker map
(``replay/edgar/company_tickers*.json``), the companyfacts folder and the S&P 500 price folder (the replay
README lists the companies and the 482 tickers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finance_assets.core.settings import DEFAULT_UNIVERSE, Settings, SettingsError
from finance_assets.edgar.universe import (
    SP500_FILE,
    TickerMap,
    UniverseError,
    fmp_covered,
    primary_tickers,
    resolve,
    sec_covered,
    sp500_tickers,
)


@pytest.fixture(scope="module")
def sec_map(replay_dir: Path) -> TickerMap:
    edgar = replay_dir / "edgar"
    return primary_tickers(
        json.loads((edgar / "company_tickers_exchange.json").read_text()),
        json.loads((edgar / "company_tickers.json").read_text()),
    )


def test_tickers_and_ciks_resolve_to_sec_tickers_in_the_order_given(sec_map: TickerMap) -> None:
    universe, warnings = resolve(" aapl, 789019, brk.b,AAPL ", sec_map)
    # company_tickers.json: 789019 is MICROSOFT CORP (MSFT); SEC writes share classes with a dash
    assert universe.tickers == ["AAPL", "MSFT", "BRK-B"]
    assert [m.cik for m in universe.members] == ["0000320193", "0000789019", "0001067983"]
    assert warnings == []


def test_a_file_lists_one_ticker_or_cik_per_line_with_comments(sec_map: TickerMap, tmp_path: Path) -> None:
    listing = tmp_path / "mine.txt"
    listing.write_text("# my universe\nNVDA  # chips\n\n0000320193\nmsft\n")
    universe, _ = resolve(f"{listing},KO", sec_map)
    assert universe.tickers == ["NVDA", "AAPL", "MSFT", "KO"]
    assert universe.members[0].origin == str(listing)


def test_a_missing_universe_file_is_named(sec_map: TickerMap, tmp_path: Path) -> None:
    with pytest.raises(UniverseError, match=r"names the file .*nope\.txt, which does not exist"):
        resolve(str(tmp_path / "nope.txt"), sec_map)


def test_unknown_tickers_fail_before_anything_runs_naming_each_with_close_matches(sec_map: TickerMap) -> None:
    with pytest.raises(UniverseError) as info:
        resolve("AAPL,APPL,MSTF,0000000001", sec_map)
    message = str(info.value)
    assert "3 ticker(s)/CIK(s)" in message
    assert "'APPL' (did you mean AAPL" in message and "'MSTF' (did you mean MSFT" in message
    assert "CIK 0000000001 (no ticker)" in message and "UNIVERSE_SKIP_UNKNOWN=true" in message


def test_skip_unknown_skips_them_with_a_warning(sec_map: TickerMap) -> None:
    universe, warnings = resolve("AAPL,APPL", sec_map, skip_unknown=True)
    assert universe.tickers == ["AAPL"] and universe.skipped == ("APPL",)
    assert len(warnings) == 1 and "skipped 1 unknown UNIVERSE item(s)" in warnings[0] and "APPL" in warnings[0]


def test_sp500_is_the_recorded_price_folder_with_unmapped_tickers_kept_as_price_only(
    sec_map: TickerMap, replay_dir: Path
) -> None:
    folder = replay_dir / "prices" / "yahoo_sp500_2015_2020"
    recorded = sorted(p.name.removesuffix(".csv.gz") for p in folder.glob("*.csv.gz"))
    assert len(recorded) == 482 and sp500_tickers() == recorded  # the shipped list is the recorded one
    assert SP500_FILE.is_relative_to(Path(__file__).resolve().parents[1] / "finance_assets")  # package data

    universe, warnings = resolve("sp500", sec_map)
    assert len(universe.tickers) == 482
    # FB (renamed META in 2022) and CELG (acquired 2019) are not in SEC's 2026 map: prices only, reported
    assert {"FB", "CELG"} <= set(universe.unmapped) and universe.cik("FB") is None
    assert universe.cik("AAPL") == "0000320193" and "AAPL" in universe.companies
    assert len(universe.companies) + len(universe.unmapped) == 482
    assert any("not in SEC's current ticker map" in w and "FB" in w for w in warnings)


def test_recorded_is_every_company_with_recorded_companyfacts(sec_map: TickerMap, replay_dir: Path) -> None:
    universe, _ = resolve("recorded", sec_map, replay_dir=replay_dir)
    # the replay README: AAPL, NVDA, MRVL, SNOW, PLTR, TSM, LPA (full) and MSFT (trimmed)
    assert set(universe.tickers) == {"AAPL", "MSFT", "NVDA", "TSM", "MRVL", "SNOW", "PLTR", "LPA"}
    with pytest.raises(UniverseError, match="needs REPLAY_DIR"):
        resolve("recorded", sec_map, replay_dir=None)


def test_the_default_universe_is_recorded_plus_sp500_and_sec_jobs_cover_only_recorded_sec_data(
    sec_map: TickerMap, replay_dir: Path
) -> None:
    assert DEFAULT_UNIVERSE == "recorded,sp500" and Settings.from_env({}).universe == DEFAULT_UNIVERSE
    universe, _ = resolve(DEFAULT_UNIVERSE, sec_map, replay_dir=replay_dir)
    assert len(universe.tickers) == 482 + 5  # AAPL, MSFT, NVDA are in both lists
    # replay: companies with a recorded companyfacts or submissions payload (EXPE: submissions only)
    assert set(sec_covered(universe, replay_dir)) == {
        "AAPL",
        "MSFT",
        "NVDA",
        "TSM",
        "MRVL",
        "SNOW",
        "PLTR",
        "LPA",
        "EXPE",
    }
    assert fmp_covered(universe.companies, replay_dir) == ["AAPL"]  # FMP statements recorded for AAPL (and ZNGA)
    # live: every member SEC knows
    assert sec_covered(universe, None) == universe.companies


def test_an_empty_universe_setting_is_rejected() -> None:
    with pytest.raises(SettingsError, match="UNIVERSE=.* is empty"):
        Settings.from_env({"UNIVERSE": " , "})


def test_the_demo_stops_before_any_run_on_an_unknown_ticker_naming_it(tmp_path: Path, replay_dir: Path) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "UNIVERSE", "DAGSTER_HOME"))}
    env |= {"LAKEHOUSE_HOME": str(home), "REPLAY_DIR": str(replay_dir), "UNIVERSE": "AAPL,MSTF"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-m", "finance_assets.cli", "demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'MSTF' (did you mean MSFT" in result.stderr
    assert not (home / "dagster" / "history").exists()  # no run was recorded
    assert not (home / "warehouse" / "bronze").exists()  # nothing written
