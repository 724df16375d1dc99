"""bronze/prices_daily through Dagster in replay mode: one run per range, values as recorded."""

from __future__ import annotations

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
    result = _materialize_range("2021-01-04", "2023-10-27", instance)
    assert result.success
    assert len(instance.get_runs()) == 1  # one run (single-run backfill), one fetch per ticker

    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    assert set(prices.get_column("ticker").unique().to_list()) == {"AAPL", "MSFT", "^GSPC"}
    assert prices.get_column("date").min() >= date(2021, 1, 4)
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

    # TSM has no recorded prices: reported, not an error for the others
    [mat] = [m for m in result.get_asset_materialization_events()][:1]
    metadata = mat.materialization.metadata
    assert "TSM" in metadata["tickers_unknown_to_source"].value
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["unique_ticker_date"] and checks["ohlc_consistent"] and checks["volume_non_negative"]


def test_rematerializing_a_range_replaces_it(prices_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize_range("2023-01-02", "2023-06-30", instance).success
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    before = lake.read("bronze.prices_daily").height
    assert _materialize_range("2023-03-01", "2023-03-31", instance).success
    assert lake.read("bronze.prices_daily").height == before
    assert _materialize_range("2023-01-02", "2023-06-30", instance).success
    after = lake.read("bronze.prices_daily")
    assert after.height == before
    assert after.select("ticker", "date").n_unique() == after.height


def test_a_range_the_recording_does_not_cover_is_an_empty_reported_partition(prices_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize_range("2025-03-03", "2025-03-07", instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 0
    assert "AAPL" in metadata["tickers_without_data"].value


def test_web_export_layout_feeds_the_same_asset(prices_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICES_REPLAY_LAYOUT", "yahoo_web_export")
    monkeypatch.setenv("UNIVERSE", "AAPL")
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize_range("2023-10-23", "2023-10-27", instance).success
    prices = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.prices_daily")
    aapl = prices.filter(pl.col("ticker") == "AAPL").sort("date")
    assert aapl.height == 5
    # same close as the clean recording on an overlapping date (the export rounds to cents)
    assert aapl.filter(pl.col("date") == date(2023, 10, 27)).item(0, "close") == pytest.approx(168.22, abs=0.005)
