"""The prod profile's settings: parsed and checked without any server (these run in the fast suite)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from finance_assets.core.settings import Settings, SettingsError
from finance_assets.resources import resources_for

REPO = Path(__file__).resolve().parents[2]

PROD = {
    "LAKEHOUSE_PROFILE": "prod",
    "ICEBERG_CATALOG_URI": "postgresql+psycopg2://lake:pw@db:5432/lakehouse_catalog",
    "ICEBERG_WAREHOUSE": "s3://lakehouse/warehouse",
    "RAW_ARCHIVE_URI": "s3://lakehouse/raw",
    "S3_ENDPOINT_URL": "http://minio:9000",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "SECRET-SENTINEL-7",
    "AWS_REGION": "eu-west-1",
}


def test_catalog_properties_carry_s3_endpoint_credentials_and_path_style() -> None:
    props = Settings.from_env(PROD).catalog_properties()
    assert props == {
        "uri": PROD["ICEBERG_CATALOG_URI"],
        "warehouse": PROD["ICEBERG_WAREHOUSE"],
        "s3.endpoint": "http://minio:9000",
        "s3.access-key-id": "AKIDEXAMPLE",
        "s3.secret-access-key": "SECRET-SENTINEL-7",
        "s3.region": "eu-west-1",
        "s3.force-virtual-addressing": "false",
        "s3.path-style-access": "true",
    }


def test_aws_endpoint_keeps_virtual_hosted_addressing() -> None:
    settings = Settings.from_env({**PROD, "S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com"})
    assert not settings.s3_path_style
    assert "s3.force-virtual-addressing" not in settings.catalog_properties()
    assert not Settings.from_env({**PROD, "S3_ENDPOINT_URL": ""}).s3_path_style  # AWS default endpoint


def test_prod_needs_the_raw_archive_on_s3_and_the_catalog_on_postgres() -> None:
    with pytest.raises(SettingsError, match="needs RAW_ARCHIVE_URI"):
        Settings.from_env({**PROD, "RAW_ARCHIVE_URI": ""})
    with pytest.raises(SettingsError, match=r"ICEBERG_CATALOG_URI is sqlite://\.\.\. with LAKEHOUSE_PROFILE=prod"):
        Settings.from_env({**PROD, "ICEBERG_CATALOG_URI": "sqlite:////tmp/catalog.db"})
    with pytest.raises(SettingsError, match="ICEBERG_WAREHOUSE is file://"):
        Settings.from_env({**PROD, "ICEBERG_WAREHOUSE": "file:///data/warehouse"})
    with pytest.raises(SettingsError, match="RAW_ARCHIVE_URI is a value without a scheme"):
        Settings.from_env({**PROD, "RAW_ARCHIVE_URI": "/data/raw"})


def test_service_urls_are_validated_without_echoing_secrets() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**PROD, "OPTUNA_STORAGE": "redis://:hunter2@cache:6379/0"})
    assert "OPTUNA_STORAGE" in str(error.value) and "hunter2" not in str(error.value)
    with pytest.raises(SettingsError, match="MLFLOW_ARTIFACTS_DESTINATION"):
        Settings.from_env({**PROD, "MLFLOW_ARTIFACTS_DESTINATION": "gs://bucket/mlflow"})
    with pytest.raises(SettingsError, match="S3_ENDPOINT_URL"):
        Settings.from_env({**PROD, "S3_ENDPOINT_URL": "minio:9000"})
    settings = Settings.from_env(
        {
            **PROD,
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "MLFLOW_BACKEND_STORE_URI": "postgresql://lake:pw@db:5432/mlflow",
            "MLFLOW_ARTIFACTS_DESTINATION": "s3://lakehouse/mlflow",
            "FEAST_REGISTRY_URI": "postgresql+psycopg2://lake:pw@db:5432/feast",
            "FEAST_REDIS": "redis:6379,db=3,password=pw",
            "OPTUNA_STORAGE": "postgresql+psycopg2://lake:pw@db:5432/optuna",
        }
    )
    assert settings.require("mlflow_tracking_uri") == "http://mlflow:5000"
    assert settings.require("feast_redis") == "redis:6379,db=3,password=pw"
    assert settings.require("optuna_storage").endswith("/optuna")
    for secret in ("SECRET-SENTINEL-7", ":pw@"):
        assert secret not in repr(settings)


@pytest.mark.parametrize("value", ["redis://redis:6379/0", "redis", "redis:port", "redis:6379;db=1"])
def test_feast_redis_must_be_feasts_connection_string(value: str) -> None:
    with pytest.raises(SettingsError, match="FEAST_REDIS is not a Feast Redis connection string"):
        Settings.from_env({"FEAST_REDIS": value})


def test_missing_service_settings_name_the_variable() -> None:
    settings = Settings.from_env(PROD)
    for field, variable in (
        ("dagster_postgres_url", "DAGSTER_POSTGRES_URL"),
        ("mlflow_tracking_uri", "MLFLOW_TRACKING_URI"),
        ("feast_registry_uri", "FEAST_REGISTRY_URI"),
        ("feast_redis", "FEAST_REDIS"),
        ("optuna_storage", "OPTUNA_STORAGE"),
    ):
        with pytest.raises(SettingsError, match=f"{variable} is not set"):
            settings.require(field)


def test_missing_service_settings_fail_only_the_resource_that_uses_them() -> None:
    """prod without MLflow/Optuna/Feast endpoints composes; each resource fails where used, naming its variable."""
    resources = resources_for(Settings.from_env(PROD), secrets="values")
    with pytest.raises(dg.Failure, match="MLFLOW_TRACKING_URI is not set"):
        resources["mlflow"].store()
    with pytest.raises(dg.Failure, match="OPTUNA_STORAGE is not set"):
        resources["optuna"].storage_url()
    with pytest.raises(SettingsError, match="FEAST_REGISTRY_URI is not set"):
        resources["feast"].config_variables()


def test_dagster_postgres_from_the_helm_charts_dagster_pg_variables() -> None:
    parts = {
        "DAGSTER_PG_HOST": "db",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "p@ss:w/rd",
        "DAGSTER_PG_DB": "dagster",
    }
    assert Settings.from_env(parts).dagster_postgres_url == "postgresql://dagster:p%40ss%3Aw%2Frd@db:5432/dagster"
    url = "postgresql://u@elsewhere:5433/d"
    assert Settings.from_env({**parts, "DAGSTER_POSTGRES_URL": url}).dagster_postgres_url == url  # URL wins
    # the chart injects DAGSTER_PG_PASSWORD alone into every pod: not an error, just not a URL
    assert Settings.from_env({"DAGSTER_PG_PASSWORD": "x"}).dagster_postgres_url is None
    with pytest.raises(SettingsError, match="DAGSTER_PG_USERNAME"):
        Settings.from_env({"DAGSTER_PG_HOST": "db", "DAGSTER_PG_DB": "dagster"})


def test_init_writes_the_deploy_template_for_prod_and_the_embedded_one_for_local() -> None:
    from finance_assets.cli import DAGSTER_YAML_LOCAL, dagster_yaml

    assert dagster_yaml(Settings.from_env(PROD)) == (REPO / "deploy" / "dagster.yaml").read_text()
    assert dagster_yaml(Settings.from_env({})) == DAGSTER_YAML_LOCAL


def test_env_example_is_a_valid_prod_configuration() -> None:
    """.env.example, as shipped, parses: a copy-paste deployment fails on credentials, not on syntax."""
    values: dict[str, str] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value.strip().strip('"')
    values.pop("REPLAY_DIR", None)
    settings = Settings.from_env(values)
    assert settings.profile == "prod" and settings.s3_path_style
    assert settings.require("dagster_postgres_url") and settings.require("feast_redis") == "redis:6379,db=0"
