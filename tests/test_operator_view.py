"""What the Dagster UI shows an operator, asserted over the code location (``build_definitions``).

Every asset has a team owner; every Iceberg table has a column schema with a description for each column;
every schedule runs in one time zone; an asset key's prefix is its group (the layer).
"""

from __future__ import annotations

from functools import cache

import dagster as dg
import pytest

from finance_assets.core.automation import TIMEZONE
from finance_assets.core.settings import Settings


@cache
def _defs() -> dg.Definitions:
    from finance_assets.definitions import build_definitions

    return build_definitions(Settings.from_env({}))


def _nodes() -> list[dg.AssetSpec]:
    graph = _defs().resolve_asset_graph()
    return [node.to_asset_spec() for node in graph.asset_nodes]


def _tables() -> list[dg.AssetSpec]:
    return [spec for spec in _nodes() if "iceberg" in spec.kinds]


def test_every_asset_has_a_team_owner() -> None:
    missing = [spec.key.to_user_string() for spec in _nodes() if not any(o.startswith("team:") for o in spec.owners)]
    assert not missing


def test_owners_follow_the_layer() -> None:
    owners = {spec.key.to_user_string(): spec.owners for spec in _nodes()}
    assert owners["bronze/edgar_company_facts"] == ["team:data-engineering"]
    assert owners["gold/income_statement"] == ["team:data-engineering"]
    assert owners["ml/predictions"] == ["team:quant-research"]
    assert owners["gold/fundamental_features"] == ["team:quant-research"]  # the feature layer's table


def test_every_asset_key_prefix_is_its_group() -> None:
    wrong = [(s.key.to_user_string(), s.group_name) for s in _nodes() if s.key.path[0] != s.group_name]
    assert not wrong


def test_every_schedule_runs_in_the_one_time_zone() -> None:
    zones = {schedule.name: schedule.execution_timezone for schedule in _defs().schedules or []}
    assert zones and set(zones.values()) == {TIMEZONE}, zones


@pytest.mark.parametrize("key", sorted(s.key.to_user_string() for s in _tables()))
def test_every_table_describes_every_column(key: str) -> None:
    spec = next(s for s in _tables() if s.key.to_user_string() == key)
    value = spec.metadata.get("dagster/column_schema")
    assert value is not None, f"{key} has no column schema"
    schema = getattr(value, "schema", value)
    assert schema.columns, key
    undescribed = [c.name for c in schema.columns if not (c.description or "").strip()]
    assert not undescribed, f"{key}: {undescribed}"


def test_bronze_column_schema_matches_the_arrow_schema_it_writes() -> None:
    from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA

    spec = next(s for s in _tables() if s.key.to_user_string() == "bronze/edgar_company_facts")
    value = spec.metadata["dagster/column_schema"]
    schema = getattr(value, "schema", value)
    assert [c.name for c in schema.columns] == COMPANY_FACTS_SCHEMA.names
    fy = next(c for c in schema.columns if c.name == "fy")
    assert "FILING" in fy.description  # fy/fp belong to the filing, not the period (pitfall 1)


def test_a_schema_without_a_sentence_for_a_column_is_an_error() -> None:
    import pyarrow as pa

    from finance_assets.core.columns import described_schema

    schema = pa.schema([("cik", pa.string()), ("value", pa.float64())])
    with pytest.raises(ValueError, match=r"bronze.x: columns without a description \['value'\]"):
        described_schema(schema, {"cik": "the CIK"}, table="bronze.x")


def test_mlflow_run_links_are_absolute_urls_of_the_mlflow_ui() -> None:
    from finance_assets.ml.tracking import run_link
    from finance_assets.resources import resources_for

    local = resources_for(Settings.from_env({}))["mlflow"]
    assert local.ui_url == "http://127.0.0.1:5000"  # `make mlflow-ui` over the embedded store
    server = resources_for(Settings.from_env({"MLFLOW_TRACKING_URI": "https://mlflow.example.test"}), secrets="values")
    assert server["mlflow"].ui_url == "https://mlflow.example.test"  # the tracking server serves the UI
    assert run_link(local.ui_url, "3", "abc123") == "http://127.0.0.1:5000/#/experiments/3/runs/abc123"


def test_filing_signal_features_declares_the_columns_it_builds() -> None:
    from datetime import date

    import polars as pl

    from finance_assets.features import tables
    from finance_assets.features.columns import FILING_SIGNAL_FEATURES_SCHEMA

    signals = pl.DataFrame(
        {
            "ticker": ["X"],
            "signal_type": ["amendment"],
            "signal_date": [date(2024, 1, 10)],
            "accession_number": ["a1"],
        }
    )
    built = tables.filing_signal_features(signals).schema
    assert built == pl.DataFrame(FILING_SIGNAL_FEATURES_SCHEMA.empty_table()).schema  # names, order and types


def test_feature_columns_reuse_the_feature_catalog_sentences() -> None:
    from finance_assets.features.catalog import FINANCIAL_RATIOS

    spec = next(s for s in _tables() if s.key.to_user_string() == "gold/ratio_features")
    value = spec.metadata["dagster/column_schema"]
    docs = {c.name: c.description for c in getattr(value, "schema", value).columns}
    assert docs["earnings_yield"] == next(f.description for f in FINANCIAL_RATIOS if f.name == "earnings_yield")


def test_replaced_rows_read_as_sql_not_as_an_expression_repr() -> None:
    from datetime import datetime

    import pyarrow as pa

    from finance_assets.core.io_manager import partition_filter, readable_filter

    month = dg.TimeWindow(datetime(2024, 1, 1), datetime(2024, 2, 1))
    assert readable_filter(partition_filter("trade_date", pa.date32(), window=month)) == (
        "trade_date >= '2024-01-01' AND trade_date < '2024-02-01'"
    )
    assert readable_filter(partition_filter("ticker", pa.string(), keys=["MSFT", "AAPL"])) == (
        "ticker IN ('AAPL', 'MSFT')"
    )
    assert readable_filter(partition_filter("ticker", pa.string(), keys=["AAPL"])) == "ticker = 'AAPL'"
