"""bronze/prices_daily through Dagster in replay mode: one run per month range, values as recorded (issue 13.5).

Expected values are read from the recorded files; a ticker whose file is missing or malformed fails alone.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings
from finance_assets.resources import resources_for

PRICES = "bronze/prices_daily"


def _materialize_range(start: str, end: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import defs

    return dg.materialize(
        list(defs.assets or []),
        selection=[PRICES],
        instance=instance,
        resources=resources_for(Settings.from_env()),
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        raise_on_error=False,
    )


def _recorded_row(replay_dir: Path, stem: str, day: str) -> list[str]:
    lines = (replay_dir / "prices/yahoo_daily_2003_2023" / f"{stem}.csv").read_text().splitlines()
    [line] = [row for row in lines if row.startswith(f'"{day}"')]
    return line.replace('"', "").split(",")


@pytest.fixture
def prices_env(lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNIVERSE", "AAPL,MSFT,TSM")
    return lakehouse_env


def test_multi_year_range_is_one_run_with_the_recorded_values(prices_env: Path, replay_dir: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize_range("2021-01-01", "2023-10-01", instance)
    assert result.success
    assert len(instance.get_runs()) == 1  # one run (single-run backfill), one fetch per ticker
    # one materialization per monthly partition: 34 months, not ~700 weekday partitions
    assert len(result.get_asset_materialization_events()) == 34

    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    assert set(prices.get_column("ticker").unique().to_list()) == {"AAPL", "MSFT", "^GSPC"}
    assert prices.get_column("date").min() == date(2021, 1, 4)  # the first session of January 2021
    assert prices.get_column("date").max() == date(2023, 10, 27)

    _, open_, high, low, close, volume, adjusted = _recorded_row(replay_dir, "AAPL", "2023-10-27")
    aapl = prices.filter((pl.col("ticker") == "AAPL") & (pl.col("date") == date(2023, 10, 27))).row(0, named=True)
    assert (aapl["open"], aapl["high"], aapl["low"], aapl["close"]) == tuple(map(float, (open_, high, low, close)))
    assert aapl["adj_close"] == float(adjusted) and aapl["volume"] == float(volume)
    gspc_close = float(_recorded_row(replay_dir, "GSPC", "2023-10-27")[4])
    assert (
        prices.filter((pl.col("ticker") == "^GSPC") & (pl.col("date") == date(2023, 10, 27))).item(0, "close")
        == gspc_close
    )

    # which file served each ticker: the clean Yahoo set is first in the precedence (market/replay.py)
    served = dict(prices.select("ticker", "source_file").unique().iter_rows())
    assert served == {
        "AAPL": "prices/yahoo_daily_2003_2023/AAPL.csv",
        "MSFT": "prices/yahoo_daily_2003_2023/MSFT.csv",
        "^GSPC": "prices/yahoo_daily_2003_2023/GSPC.csv",
    }

    # TSM has no recorded prices: reported by a WARN check naming it, not an error for the others
    [mat] = [m for m in result.get_asset_materialization_events()][:1]
    metadata = mat.materialization.metadata
    assert "TSM" in metadata["tickers_unknown_to_source"].value
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    assert checks["unique_ticker_date"] and checks["ohlc_consistent"] and checks["volume_non_negative"]
    loaded = evaluations["every_ticker_loaded"]
    assert not loaded.passed and loaded.severity == dg.AssetCheckSeverity.WARN
    assert loaded.metadata["tickers_not_found"].value == "TSM"


def test_rematerializing_a_range_replaces_it(prices_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize_range("2023-01-01", "2023-06-01", instance).success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    before = lake.read("bronze.prices_daily").height
    assert _materialize_range("2023-03-01", "2023-03-01", instance).success
    assert lake.read("bronze.prices_daily").height == before
    assert _materialize_range("2023-01-01", "2023-06-01", instance).success
    after = lake.read("bronze.prices_daily")
    assert after.height == before
    assert after.select("ticker", "date").n_unique() == after.height


def test_a_range_the_recording_does_not_cover_is_an_empty_reported_partition(prices_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize_range("2025-03-01", "2025-03-01", instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 0
    assert metadata["tickers_with_rows"].value == 0


def _replay_with(tmp_path: Path, replay_dir: Path, prices: dict[str, list[Path]]) -> Path:
    """A replay folder with SEC's recorded ticker map and only the given price files, per price folder."""
    root = tmp_path / "replay"
    root.mkdir()
    (root / "edgar").mkdir()
    for name in ("company_tickers.json", "company_tickers_exchange.json"):  # UNIVERSE resolves against them
        shutil.copy(replay_dir / "edgar" / name, root / "edgar" / name)
    for folder, files in prices.items():
        (root / "prices" / folder).mkdir(parents=True)
        for path in files:
            shutil.copy(path, root / "prices" / folder / path.name)
    return root


def test_the_messy_web_export_feeds_the_same_asset(
    prices_env: Path, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = replay_dir / "prices/yahoo_web_export_2015_2026"
    root = _replay_with(tmp_path, replay_dir, {"yahoo_web_export_2015_2026": [web / "AAPL.csv", web / "GSPC.csv"]})
    monkeypatch.setenv("REPLAY_DIR", str(root))
    monkeypatch.setenv("UNIVERSE", "AAPL")
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize_range("2023-10-01", "2023-10-01", instance).success
    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    aapl = prices.filter(pl.col("ticker") == "AAPL").sort("date")
    assert aapl.height == 22  # the October 2023 sessions
    assert aapl.get_column("source_file").unique().to_list() == ["prices/yahoo_web_export_2015_2026/AAPL.csv"]
    # same close as the clean recording on an overlapping date (the export rounds to cents)
    assert aapl.filter(pl.col("date") == date(2023, 10, 27)).item(0, "close") == pytest.approx(168.22, abs=0.005)


def test_a_malformed_price_file_fails_its_ticker_alone(
    prices_env: Path, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = replay_dir / "prices/yahoo_daily_2003_2023"
    root = _replay_with(tmp_path, replay_dir, {"yahoo_daily_2003_2023": [clean / "MSFT.csv", clean / "GSPC.csv"]})
    lines = (clean / "AAPL.csv").read_text().splitlines(keepends=True)
    lines[99] = lines[99].replace(lines[99].split(",")[4], "NA", 1)  # line 100, the Close cell
    (root / "prices/yahoo_daily_2003_2023/AAPL.csv").write_text("".join(lines))
    monkeypatch.setenv("REPLAY_DIR", str(root))
    monkeypatch.setenv("UNIVERSE", "AAPL,MSFT")

    instance = dg.DagsterInstance.ephemeral()
    result = _materialize_range("2023-09-01", "2023-10-01", instance)
    assert result.success  # the run succeeds: MSFT and ^GSPC land
    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    assert set(prices.get_column("ticker").unique().to_list()) == {"MSFT", "^GSPC"}
    loaded = {e.check_name: e for e in result.get_asset_check_evaluations()}["every_ticker_loaded"]
    assert not loaded.passed
    assert loaded.metadata["tickers_malformed"].value == "AAPL"
    assert "AAPL.csv, line 100: AAPL.Close 'NA' is not a number" in loaded.metadata["reasons"].value
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["tickers_failed"].value == "AAPL (malformed)"


def test_a_recorded_inconsistent_bar_is_kept_and_named_without_failing_the_run(
    prices_env: Path, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prices/yahoo_sp500_2015_2020/DXC.csv.gz, 2018-06-01: High 83.40, Low 80.05, Open 80.83, Close 79.68 < Low
    sp500, clean = replay_dir / "prices/yahoo_sp500_2015_2020", replay_dir / "prices/yahoo_daily_2003_2023"
    root = _replay_with(
        tmp_path,
        replay_dir,
        {"yahoo_sp500_2015_2020": [sp500 / "DXC.csv.gz"], "yahoo_daily_2003_2023": [clean / "GSPC.csv"]},
    )
    monkeypatch.setenv("REPLAY_DIR", str(root))
    monkeypatch.setenv("UNIVERSE", "DXC")
    result = _materialize_range("2018-06-01", "2018-06-01", dg.DagsterInstance.ephemeral())
    assert result.success
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["ohlc_consistent"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["tickers_ohlc_inconsistent"].value == "DXC"
    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    bar = prices.filter((pl.col("ticker") == "DXC") & (pl.col("date") == date(2018, 6, 1))).row(0, named=True)
    assert (bar["low"], bar["close"]) == (80.05000305175781, 79.68000030517578)  # as recorded
