"""Feast's SQL registry on a real Postgres: what the registry stores holds no catalog secret.

(Moved from tests/test_feast_config.py, where its ``prod`` marker kept it out of both pytest runs.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finance_assets.core.settings import Settings
from finance_assets.features.resources import FeastResource
from finance_assets.resources import resources_for

PROD_ENV = {
    "LAKEHOUSE_PROFILE": "prod",
    "ICEBERG_CATALOG_URI": "postgresql+psycopg2://lake:s3cret@pg:5432/catalog",
    "ICEBERG_WAREHOUSE": "s3://lake/warehouse",
    "RAW_ARCHIVE_URI": "s3://lake/raw",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "very-secret-key",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "FEAST_REDIS": "127.0.0.1:6379,db=3",
}


def feast(settings: Settings) -> FeastResource:
    return resources_for(settings, secrets="values")["feast"]


@pytest.mark.prod
def test_prod_registry_on_postgres_holds_no_catalog_secrets(tmp_path: Path) -> None:
    """Apply to a SQL registry on Postgres (a fresh database), read it back, and search it for secrets."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no Postgres on 127.0.0.1:5432 ({exc})")
    admin.autocommit = True
    database = f"feast_registry_{os.getpid()}"
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {database}")
        cursor.execute(f"create database {database}")
    try:
        from finance_assets.features.store import definition_specs, load_definitions, registry_specs

        env = PROD_ENV | {
            "LAKEHOUSE_HOME": str(tmp_path),
            "FEAST_REGISTRY_URI": f"postgresql://postgres@127.0.0.1:5432/{database}",
        }
        settings = Settings.from_env(env)
        store = feast(settings).store()
        repo = load_definitions()
        store.apply([*repo.entities, *repo.data_sources, *repo.feature_views, *repo.feature_services])
        assert registry_specs(feast(settings).store()) == definition_specs(repo)  # another reader sees it all
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database)
        try:
            dump = b""
            with conn.cursor() as cursor:
                cursor.execute("select table_name from information_schema.tables where table_schema = 'public'")
                for (table,) in cursor.fetchall():
                    cursor.execute(f'select * from "{table}"')
                    dump += repr(cursor.fetchall()).encode()
        finally:
            conn.close()
        assert b"gold_price_features" in dump
        for secret in (b"s3cret", b"very-secret-key", b"AKIAEXAMPLE"):
            assert secret not in dump
    finally:
        with admin.cursor() as cursor:
            cursor.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (database,))
            cursor.execute(f"drop database if exists {database}")
        admin.close()
