"""Incremental dbt builds: only the companies whose Bronze changed are rebuilt, and the result is a full build's.

Real parts throughout: Bronze through the Dagster assets from recorded SEC payloads, ``dbt build`` through the
Dagster dbt asset, Iceberg on an embedded catalog. Three companies (AAPL, MSFT, NVDA) are loaded with AAPL's
companyfacts as recorded in 2024-11; then AAPL's current payload (the filings since) is loaded, which is
AAPL's Bronze changing and nobody else's. The incremental build that follows must rewrite AAPL's rows only,
and leave every Silver and Gold table equal, row for row, to a full build of a fresh lakehouse loaded with
the current payloads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from gold_fixtures import REPLAY, REPO_ROOT, _materialize, _statement_selection, fresh_manifest, session_env

from finance_assets.core.iceberg import IcebergLakehouse

UNIVERSE = ("AAPL", "MSFT", "NVDA")
AAPL_CIK = "0000320193"
DBT_OP = "lakehouse_dbt"


def _replay_with_old_aapl(root: Path) -> Path:
    """The recordings, with AAPL's companyfacts as of 2024-11 (copies: the transport serves nothing outside)."""
    shutil.copytree(REPLAY / "edgar", root / "edgar", ignore=shutil.ignore_patterns("snapshots"))
    name = f"CIK{AAPL_CIK}.json.gz"
    (root / "edgar/companyfacts" / name.removesuffix(".gz")).unlink(missing_ok=True)
    shutil.copyfile(REPLAY / "edgar/snapshots/2024-11/companyfacts" / name, root / "edgar/companyfacts" / name)
    return root


class Lake:
    """A lakehouse in ``home`` whose Bronze is loaded from ``replay``, driven through Dagster."""

    def __init__(self, home: Path, replay: Path) -> None:
        self.home = home
        self.instance = dg.DagsterInstance.ephemeral()
        self.env = {
            "LAKEHOUSE_HOME": str(home),
            "REPLAY_DIR": str(replay),
            "DAGSTER_HOME": str(home / "dagster"),
            "UNIVERSE": ",".join(UNIVERSE),
        }

    @contextmanager
    def active(self) -> Iterator[dg.Definitions]:
        from finance_assets.core.settings import Settings
        from finance_assets.definitions import build_definitions

        with contextmanager(session_env)(self.env):
            yield build_definitions(Settings.from_env())

    def load_bronze(self) -> None:
        with self.active() as defs:
            assert _materialize(defs, self.instance, ["bronze/sec_company_tickers"]).success
            for ticker in UNIVERSE:
                run = _materialize(
                    defs, self.instance, ["bronze/edgar_filings", "bronze/edgar_company_facts"], partition_key=ticker
                )
                assert run.success, ticker

    def build(self, config: dict | None = None) -> dg.ExecuteInProcessResult:
        with self.active() as defs:
            result = dg.materialize(
                list(defs.assets or []),
                selection=_statement_selection(defs),
                instance=self.instance,
                resources=defs.resources,
                raise_on_error=False,
                run_config={"ops": {DBT_OP: {"config": config}}} if config else None,
            )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        return result

    def lakehouse(self) -> IcebergLakehouse:
        from finance_assets.core.settings import Settings

        with contextmanager(session_env)(self.env):
            return IcebergLakehouse.from_settings(Settings.from_env())

    def tables(self) -> dict[str, pl.DataFrame]:
        lake = self.lakehouse()
        return {
            ".".join(ident): lake.read(".".join(ident))
            for namespace in ("silver", "gold")
            for ident in lake.catalog.list_tables(namespace)
        }

    def files(self) -> dict[str, set[str]]:
        """Data files of every Silver/Gold table."""
        lake = self.lakehouse()
        found = {}
        for namespace in ("silver", "gold"):
            for ident in lake.catalog.list_tables(namespace):
                frame = pl.from_arrow(lake.load(".".join(ident)).inspect.files())
                assert isinstance(frame, pl.DataFrame)
                found[".".join(ident)] = set(frame.get_column("file_path").to_list()) if frame.height else set()
        return found


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in a stable order (list columns made comparable), for a row-for-row comparison."""
    columns = sorted(frame.columns)
    frame = frame.select(columns)
    keys = [c for c in columns if not isinstance(frame.schema[c], pl.List | pl.Struct | pl.Array)]
    return frame.sort(keys, nulls_last=True)


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.to_user_string()] = {k: v.value for k, v in materialization.metadata.items()}
    return found


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    fresh_manifest()
    base = tmp_path_factory.mktemp("incremental")
    old = _replay_with_old_aapl(base / "replay-2024-11")

    incremental = Lake(base / "incremental", old)
    incremental.load_bronze()
    first = incremental.build()
    files_before = incremental.files()
    tables_before = incremental.tables()
    bronze_before = incremental.lakehouse().current_snapshot_id("bronze.edgar_company_facts")

    incremental.env["REPLAY_DIR"] = str(REPLAY)  # AAPL's filings since 2024-11 arrive; MSFT, NVDA unchanged
    incremental.load_bronze()
    second = incremental.build()
    unchanged_run = incremental.build()

    full = Lake(base / "full", REPLAY)
    full.load_bronze()
    full.build()
    return {
        "incremental": incremental,
        "full": full,
        "first": first,
        "second": second,
        "unchanged_run": unchanged_run,
        "files_before": files_before,
        "tables_before": tables_before,
        "bronze_before": bronze_before,
    }


def test_the_first_build_is_full_and_a_build_after_one_companys_new_filing_rebuilds_that_company_only(
    lakes: dict,
) -> None:
    first = _materializations(lakes["first"])
    assert first["gold/statement_lines"]["lakehouse/build"] == "full"

    lake: Lake = lakes["incremental"]
    assert lake.lakehouse().current_snapshot_id("bronze.edgar_company_facts") != lakes["bronze_before"]
    second = _materializations(lakes["second"])
    stored = {k: m for k, m in second.items() if "iceberg/table" in m}
    assert stored, "the incremental build stored no model"
    for key, meta in stored.items():
        assert meta["lakehouse/build"] == "incremental", key
        assert meta["lakehouse/companies"] == "AAPL", key
        assert meta["lakehouse/companies_rebuilt"] == 1, key
        assert meta["lakehouse/build_reason"] == "Bronze snapshots since the last build", key


def test_only_the_changed_companys_rows_are_rewritten(lakes: dict) -> None:
    """Every file added by the incremental build holds AAPL's partition; every other company's file stays."""
    lake: Lake = lakes["incremental"]
    before, after = lakes["files_before"], lake.files()
    lakehouse = lake.lakehouse()
    rebuilt = [k for k, m in _materializations(lakes["second"]).items() if "iceberg/table" in m]
    for key in rebuilt:
        table_name = key.replace("/", ".")
        table = lakehouse.load(table_name)
        files = pl.from_arrow(table.inspect.files())
        assert isinstance(files, pl.DataFrame)
        [partition_field] = [f.name for f in table.spec().fields]
        aapl = AAPL_CIK if partition_field == "cik" else "AAPL"
        new = files.filter(~pl.col("file_path").is_in(list(before[table_name])))
        assert {p[partition_field] for p in new.get_column("partition").to_list()} <= {aapl}, table_name
        kept = before[table_name] & after[table_name]
        others = files.filter(pl.col("partition").struct.field(partition_field) != aapl)
        assert set(others.get_column("file_path").to_list()) <= kept, f"{table_name}: another company rewritten"
        assert not others.is_empty() or table_name == "silver.companies", table_name


def test_an_incremental_build_equals_a_full_build_row_for_row(lakes: dict) -> None:
    incremental = lakes["incremental"].tables()
    full = lakes["full"].tables()
    assert set(incremental) == set(full)
    # AAPL's new filings changed Gold (else the comparison would prove nothing) and only AAPL's rows
    before = lakes["tables_before"]["gold.statement_lines"]
    assert not _canonical(before).equals(_canonical(full["gold.statement_lines"]))
    others = pl.col("cik") != AAPL_CIK
    assert _canonical(before.filter(others)).equals(_canonical(full["gold.statement_lines"].filter(others)))
    for name, frame in full.items():
        assert frame.height > 0 or name.startswith("gold.edgar_fmp"), name
        left, right = _canonical(incremental[name]), _canonical(frame)
        assert left.columns == right.columns, name
        assert left.equals(right), f"{name}: {left.height} rows incremental vs {right.height} full"


def test_a_build_with_no_bronze_change_rebuilds_nothing(lakes: dict) -> None:
    rebuilt = [k for k, m in _materializations(lakes["unchanged_run"]).items() if "iceberg/table" in m]
    assert rebuilt == []
    lake: Lake = lakes["incremental"]
    logs = [entry.user_message for entry in lake.instance.all_logs(lakes["unchanged_run"].run_id)]
    assert any("dbt build: up_to_date (no company changed" in m for m in logs)


def test_stored_models_read_back_from_iceberg_are_the_source_list_and_the_var() -> None:
    """macros/ref.sql: every stored model another model refers to is in var lakehouse_store and the source."""
    manifest = json.loads(fresh_manifest().read_text())
    nodes = manifest["nodes"]
    referred = set()
    for node in nodes.values():
        if node["resource_type"] != "model":
            continue
        for parent in node["depends_on"]["nodes"]:
            schema = nodes.get(parent, {}).get("config", {}).get("schema")
            if parent.startswith("model.") and schema in ("silver", "gold"):
                referred.add(f"{schema}__{nodes[parent]['name']}")
    sources = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "lakehouse_store"}
    project = yaml.safe_load((REPO_ROOT / "dbt_project/dbt_project.yml").read_text())
    assert set(project["vars"]["lakehouse_store"]) == sources == referred


def test_company_models_downstream_of_rebuilt_prices_are_rebuilt_whole(lakehouse_env: Path) -> None:
    """The transform job selects everything: prices are rebuilt, so what reads them is rebuilt for every company."""
    from finance_assets.core.settings import Settings
    from finance_assets.transform.incremental import plan_build

    manifest = json.loads(fresh_manifest().read_text())
    nodes = manifest["nodes"]
    selected = {u for u, n in nodes.items() if n["resource_type"] in ("model", "seed")}
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    plan = plan_build(manifest, selected, lake, companies=["AAPL"])
    assert plan.mode == "incremental" and plan.incremental | plan.full == selected
    assert not plan.incremental & plan.full

    def names(ids: set[str]) -> set[str]:
        return {nodes[u]["name"] for u in ids}

    whole = {"prices_daily", "int_stock_splits", "financial_ratios", "company_sectors", "edgar_fmp_reconciliation"}
    assert whole <= names(plan.full)
    by_company = {"financial_facts", "filings", "companies", "statement_lines", "income_statement", "filing_signals"}
    assert by_company <= names(plan.incremental)
    assert "sec_form_types" in names(plan.incremental)  # the seeds the company models read are built with them

    only_company_models = {u for u in selected if nodes[u]["name"] in by_company | {"financial_ratios"}}
    assert names(plan_build(manifest, only_company_models, lake, companies=["AAPL"]).incremental) >= {
        "financial_ratios"
    }
    assert plan_build(manifest, selected, lake, full_refresh=True).full == selected
