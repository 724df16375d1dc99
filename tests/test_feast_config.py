"""Feast config selection, the lakehouse source and the feature tables' rules, without a lakehouse (fast)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from finance_assets.core.settings import Settings, SettingsError
from finance_assets.features import tables
from finance_assets.features.resources import FeastResource
from finance_assets.features.store import FEATURE_REPO, definitions_version
from finance_assets.resources import resources_for


def feast(settings: Settings) -> FeastResource:
    """The resource the code location composes for ``settings`` (values, not env vars: no Dagster run here)."""
    return resources_for(settings, secrets="values")["feast"]


PROD_ENV = {
    "LAKEHOUSE_PROFILE": "prod",
    "ICEBERG_CATALOG_URI": "postgresql+psycopg2://lake:s3cret@pg:5432/catalog",
    "ICEBERG_WAREHOUSE": "s3://lake/warehouse",
    "RAW_ARCHIVE_URI": "s3://lake/raw",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "very-secret-key",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "FEAST_REGISTRY_URI": "postgresql://feast:p%40ss@pg:5432/feast",
    "FEAST_REDIS": "127.0.0.1:6379,db=3",
}


def test_embedded_profile_keeps_registry_and_online_store_under_lakehouse_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "lh")})
    config = feast(settings).repo_config()
    assert feast(settings).config_file().name == "feature_store.yaml"
    assert config.registry.registry_type == "sql"
    assert config.registry.path == f"sqlite:///{tmp_path / 'lh'}/feast/registry.db"
    assert config.online_store.type == "sqlite"
    assert config.online_store.path == f"{tmp_path / 'lh'}/feast/online.db"
    assert config.offline_store.type == "duckdb"
    assert (tmp_path / "lh" / "feast").is_dir()  # SQLite needs the folder


def test_prod_profile_is_chosen_by_the_environment_alone() -> None:
    settings = Settings.from_env(PROD_ENV)
    config = feast(settings).repo_config()
    assert feast(settings).config_file().name == "feature_store.prod.yaml"
    assert config.registry.registry_type == "sql"
    # a bare postgresql:// would make feast load psycopg 3, which is not installed
    assert config.registry.path == "postgresql+psycopg2://feast:p%40ss@pg:5432/feast"
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "127.0.0.1:6379,db=3"
    assert config.project == feast(Settings.from_env({})).repo_config().project


def test_prod_profile_without_feast_endpoints_names_the_missing_variable() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "FEAST_REGISTRY_URI"}
    with pytest.raises(SettingsError, match="FEAST_REGISTRY_URI"):
        feast(Settings.from_env(env)).repo_config()


def test_the_feast_cli_sees_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """feast's own ${VAR} expansion of the YAML, with the wrapper's environment, gives the same config."""
    from feast.repo_config import load_repo_config

    settings = Settings.from_env(PROD_ENV)
    for name, value in feast(settings).cli_environment().items():
        monkeypatch.setenv(name, value)
    via_cli = load_repo_config(FEATURE_REPO, feast(settings).config_file())
    ours = feast(settings).repo_config()
    assert via_cli.registry.path == ours.registry.path
    assert via_cli.online_store.connection_string == ours.online_store.connection_string


def test_lakehouse_source_keeps_no_catalog_secrets_in_the_registry() -> None:
    from feast.data_source import DataSource

    from finance_assets.features.sources import LakehouseIcebergSource

    source = LakehouseIcebergSource(table="gold.price_features", timestamp_field="trade_date", owner="x@y.z")
    proto = source.to_proto()
    options = json.loads(proto.custom_options.configuration)
    assert options["catalog_properties"] == {} and options["namespace"] == "gold"
    for secret in ("s3cret", "very-secret-key", "AKIAEXAMPLE", "sqlite:", "warehouse/"):
        assert secret not in proto.SerializeToString().decode("utf8", "replace")
    back = DataSource.from_proto(proto)  # what a registry reader gets: our class again
    assert isinstance(back, LakehouseIcebergSource)
    assert back == source and back.table_name == "gold.price_features"


def test_definitions_version_tracks_feature_repo() -> None:
    assert definitions_version() == definitions_version()
    assert len(definitions_version()) == 16


# ---- feature table rules -------------------------------------------------------------------------------------
def _period(ticker: str, period_type: str, end: str, filed: str, **values: float | None) -> dict:
    row = {"ticker": ticker, "period_type": period_type, "period_end": date.fromisoformat(end)}
    row["filed_at"] = date.fromisoformat(filed)
    row |= {c: values.get(c) for c in tables.COMPLETENESS_ITEMS}
    return row


def test_latest_known_period_rules() -> None:
    full = dict.fromkeys(tables.COMPLETENESS_ITEMS, 1.0)
    rows = pl.DataFrame(
        [
            # a 10-K: the FY row and the derived Q4 row, both complete -> the quarter (quarterly cadence)
            _period("A", "FY", "2023-09-30", "2023-11-01", **full),
            _period("A", "Q", "2023-09-30", "2023-11-01", **full),
            # a late filing of an older period: changes nothing
            _period("A", "Q", "2023-06-30", "2023-12-15", **full),
            _period("A", "Q", "2023-12-31", "2024-02-01", **full),
            # a 20-F: the complete FY row beats the balance-sheet-only Q4 row
            _period("T", "FY", "2023-12-31", "2024-04-18", **full),
            _period("T", "Q", "2023-12-31", "2024-04-18", total_assets=5.0),
        ]
    )
    chosen = tables.latest_known_period(rows).select("ticker", "period_type", "period_end", "filed_at").rows()
    assert chosen == [
        ("A", "Q", date(2023, 9, 30), date(2023, 11, 1)),
        ("A", "Q", date(2023, 12, 31), date(2024, 2, 1)),
        ("T", "FY", date(2023, 12, 31), date(2024, 4, 18)),
    ]


def test_filing_signal_counts_change_on_events_and_when_they_leave_the_window() -> None:
    day = date(2024, 1, 10)
    signals = pl.DataFrame(
        {
            "ticker": ["X", "X", "X"],
            "signal_type": ["restatement", "restatement", "amendment"],
            "signal_date": [day, day, day + timedelta(days=100)],
            "accession_number": ["a1", "a1", "a2"],
        }
    )
    out = tables.filing_signal_features(signals)
    rows = {r["as_of_date"]: r for r in out.iter_rows(named=True)}
    assert sorted(rows) == [day, day + timedelta(days=100), day + timedelta(days=365), day + timedelta(days=465)]
    assert (rows[day]["restatements_365d"], rows[day]["restatement_filings_365d"]) == (2, 1)
    assert rows[day + timedelta(days=100)]["amendments_365d"] == 1
    left = rows[day + timedelta(days=365)]  # the restatements leave the trailing year, the totals stay
    assert (left["restatements_365d"], left["amendments_365d"], left["restatements_total"]) == (0, 1, 2)
    last = rows[day + timedelta(days=465)]
    assert (last["amendments_365d"], last["amendments_total"]) == (0, 1)
    assert out.get_column("event_timestamp").dtype == pl.Datetime("us", "UTC")
