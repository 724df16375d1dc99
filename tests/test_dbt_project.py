"""The dbt project as a project (documented, tested, one reader per source) and as Dagster assets."""

from __future__ import annotations

import json

import dagster as dg
import pyarrow as pa
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import REPO_ROOT, GoldLakehouse, fresh_manifest

from finance_assets.transform.assets import STORE_SOURCE
from finance_assets.transform.dbt_plugin import drop_placeholder_row

DBT_DIR = REPO_ROOT / "dbt_project"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(fresh_manifest().read_text())


def test_every_model_and_column_is_documented(manifest: dict) -> None:
    models = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    assert len(models) > 20
    undocumented = [m["name"] for m in models if not m.get("description", "").strip()]
    assert not undocumented
    for model in models:
        assert model["columns"], f"{model['name']} documents no columns"
        blank = [c for c, spec in model["columns"].items() if not spec.get("description", "").strip()]
        assert not blank, f"{model['name']}: undocumented columns {blank}"


@pytest.mark.slow
def test_every_stored_table_column_is_documented(manifest: dict, gold_lakehouse: GoldLakehouse) -> None:
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings

    lakehouse = IcebergLakehouse.from_settings(Settings.from_env(gold_lakehouse.env))
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for namespace in ("silver", "gold"):
        for _, name in lakehouse.catalog.list_tables(namespace):
            columns = {f.name for f in lakehouse.load(f"{namespace}.{name}").schema().fields}
            documented = set(models[name]["columns"])
            assert columns <= documented, f"{namespace}.{name}: {sorted(columns - documented)}"


def test_every_key_is_tested(manifest: dict) -> None:
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    tested = {dep for t in tests for dep in t["depends_on"]["nodes"]}
    stored = [
        n["unique_id"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] in ("silver", "gold", "intermediate")
    ]
    assert [m for m in stored if m not in tested] == []
    key_tests = {t["test_metadata"]["name"] for t in tests if t.get("test_metadata")}
    assert {"unique", "not_null", "unique_combination", "relationships", "accepted_values"} <= key_tests


def test_each_source_is_read_by_exactly_one_staging_model(manifest: dict) -> None:
    """Bronze sources; not ``lakehouse_store``: the stored models read back (macros/ref.sql) by their children."""
    for source_id, source in manifest["sources"].items():
        if source["source_name"] == STORE_SOURCE:
            continue
        readers = manifest["child_map"][source_id]
        assert len(readers) <= 1, f"{source_id} is loaded by {readers}"
        assert all(manifest["nodes"][r]["schema"] == "staging" for r in readers)


def test_profile_and_project_switches(manifest: dict) -> None:
    profiles = (DBT_DIR / "profiles.yml").read_text()
    project = (DBT_DIR / "dbt_project.yml").read_text()
    assert "send_anonymous_usage_stats: false" in project
    assert "finance_assets.transform.dbt_plugin" in profiles
    # no catalog endpoint in the profile: the plugin reads the one settings object
    assert "sqlite" not in profiles and "s3://" not in profiles and "postgres" not in profiles
    assert not (DBT_DIR / "packages.yml").exists()


def test_empty_model_stores_no_placeholder_row() -> None:
    placeholder = pa.table({"a": pa.array([None], pa.int64()), "b": pa.array([None], pa.string())})
    assert drop_placeholder_row(placeholder).num_rows == 0
    real = pa.table({"a": pa.array([None], pa.int64()), "b": pa.array(["x"], pa.string())})
    assert drop_placeholder_row(real).num_rows == 1


def test_dagster_graph_runs_bronze_to_silver_to_gold() -> None:
    from finance_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    facts = graph.get(dg.AssetKey(["silver", "financial_facts"]))
    assert facts.group_name == "silver" and "iceberg" in facts.kinds
    staging = graph.get(dg.AssetKey(["staging", "stg_edgar__company_facts"]))
    assert dg.AssetKey(["bronze", "edgar_company_facts"]) in staging.parent_keys
    assert (
        dg.AssetKey(["bronze", "prices_daily"]) in graph.get(dg.AssetKey(["staging", "stg_prices__daily"])).parent_keys
    )
    income = graph.get(dg.AssetKey(["gold", "income_statement"]))
    assert income.group_name == "gold"
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == income.key}
    assert any(name.startswith("unique_combination") for name in checks)


@pytest.mark.slow
def test_build_through_dagster_records_the_iceberg_snapshots(gold_lakehouse: GoldLakehouse) -> None:
    result = gold_lakehouse.runs["dbt"]
    assert result.success
    counts = gold_lakehouse.row_counts()
    materialized = {
        m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()
    }
    stored = {k: v for k, v in materialized.items() if k.split("/")[0] in ("silver", "gold")}
    assert len(stored) == len(counts) >= 14
    for key, metadata in stored.items():
        table = key.replace("/", ".")
        assert metadata["dagster/row_count"].value == counts[table]
        assert metadata["iceberg/written_by_this_run"].value is True
        assert int(metadata["iceberg/snapshot_id"].value) > 0
        assert metadata["dagster/column_schema"].schema.columns
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]
    assert not failed


@pytest.mark.slow
def test_rerunning_the_build_leaves_row_counts_unchanged(gold_lakehouse: GoldLakehouse) -> None:
    before = gold_lakehouse.row_counts()
    again = gold_lakehouse.run_dbt()
    assert again.success
    assert gold_lakehouse.row_counts() == before


def test_an_optional_source_loads_empty_until_its_table_exists(lakehouse_env) -> None:
    """bronze.edgar_filings only enriches the statements: before any filing index landed it is an empty table
    of the schema its asset writes, through the real catalog; once the table exists it is read as usual; a
    source that does not opt in still fails on a missing table."""
    import yaml
    from dbt.adapters.duckdb.utils import SourceConfig
    from pyiceberg.exceptions import NoSuchTableError

    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings
    from finance_assets.edgar.parse import FILINGS_SCHEMA
    from finance_assets.transform.dbt_plugin import Plugin

    sources = yaml.safe_load((DBT_DIR / "models" / "staging" / "_bronze__sources.yml").read_text())
    (filings,) = [t for t in sources["sources"][0]["tables"] if t["name"] == "edgar_filings"]
    meta = filings["meta"]
    config = SourceConfig(
        name="edgar_filings", identifier="edgar_filings", schema="bronze", database=None, meta=meta, tags=[]
    )
    plugin = Plugin.__new__(Plugin)  # the plugin without dbt's profile plumbing, on the test's lakehouse
    plugin._lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
    plugin._catalog = plugin._lakehouse.catalog
    plugin._pins, plugin._pins_invocation = {}, ""

    empty = plugin.load(config).read_all()
    assert empty.num_rows == 0
    assert empty.schema.names == FILINGS_SCHEMA.names
    assert str(empty.schema.field("filing_date").type) == "date32[day]"
    assert str(empty.schema.field("is_xbrl").type) == "bool"

    row = pa.table({"cik": ["0000320193"], "accession_number": ["0000320193-23-000106"], "form": ["10-K"]})
    plugin._lakehouse.write("bronze.edgar_filings", row)
    plugin._pins = {}  # a new dbt invocation reads the table's current snapshot
    assert plugin.load(config).read_all().to_pylist() == row.to_pylist()

    required = SourceConfig(name="x", identifier="x", schema="bronze", database=None, meta={}, tags=[])
    with pytest.raises(NoSuchTableError):
        plugin.load(required)
