"""Session fixtures for the Silver/Gold tests: Bronze + the dbt build materialised ONCE through Dagster.

Import the fixtures into a test module with ``from gold_fixtures import *  # noqa: F403``
(tests/conftest.py belongs to another suite, so these live here).

``gold_lakehouse``: a fresh embedded lakehouse in a temp LAKEHOUSE_HOME, replaying ../shared/replay for
UNIVERSE = AAPL, MSFT, NVDA, TSM, MRVL + SNOW (SNOW's submissions are not recorded, so its
edgar_filings partition fails; its facts land and its fiscal calendar comes from its annual periods),
FMP for AAPL, daily prices from PRICES_START (2022-06-01, to keep the run short), the recorded 13F
filings, then ``dbt build``
through the Dagster dbt asset (an in-memory Dagster instance: the event log is not what is tested).
Expected values in the tests come from the recorded payloads, never from these tables.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REPLAY = (REPO_ROOT.parent / "shared" / "replay").resolve()
GOLD_UNIVERSE = ("AAPL", "MSFT", "NVDA", "TSM", "MRVL", "SNOW")
PRICES_START = "2022-06-01"
ENV_NAMES = (
    "LAKEHOUSE_PROFILE",
    "LAKEHOUSE_HOME",
    "REPLAY_DIR",
    "UNIVERSE",
    "SEC_USER_AGENT",
    "FMP_API_KEY",
    "DAGSTER_HOME",
    "PRICES_START",
)

_MANIFEST_PREPARED: list[bool] = []
# A fixture imported into several test modules is instantiated once per module: the builds are cached
# here so the whole session materialises each lakehouse once.
_BUILT: dict[str, GoldLakehouse] = {}


def fresh_manifest() -> Path:
    """``dbt parse`` once per test session (the checkout's models, never a stale manifest)."""
    from finance_assets.transform.project import prepare_manifest

    path = prepare_manifest(force=not _MANIFEST_PREPARED)
    _MANIFEST_PREPARED.append(True)
    return path


__all__ = [
    "GoldLakehouse",
    "fresh_manifest",
    "gold_lakehouse",
    "raw_company_facts",
    "session_env",
    "snapshot_lakehouse",
]


@dataclass
class GoldLakehouse:
    home: Path
    env: dict[str, str]
    defs: dg.Definitions
    instance: dg.DagsterInstance
    dbt_selection: list[str] = field(default_factory=list)
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def run_dbt(self) -> dg.ExecuteInProcessResult:
        """One more ``dbt build`` of the same selection through Dagster, in this lakehouse's environment."""
        with contextmanager(session_env)(self.env):
            return _materialize(self.defs, self.instance, self.dbt_selection)

    def read(self, table: str) -> pl.DataFrame:
        from finance_assets.core.iceberg import IcebergLakehouse
        from finance_assets.core.settings import Settings

        return IcebergLakehouse.from_settings(Settings.from_env(self.env)).read(table)

    def sql(self, query: str, **tables: str) -> pl.DataFrame:
        """Run DuckDB SQL over Iceberg tables registered under the given names."""
        con = duckdb.connect()
        for name, table in tables.items():
            con.register(name, self.read(table).to_arrow())
        return con.sql(query).pl()

    def row_counts(self) -> dict[str, int]:
        from finance_assets.core.iceberg import IcebergLakehouse
        from finance_assets.core.settings import Settings

        lakehouse = IcebergLakehouse.from_settings(Settings.from_env(self.env))
        counts = {}
        for namespace in ("silver", "gold"):
            for identifier in lakehouse.catalog.list_tables(namespace):
                name = ".".join(identifier)
                snapshot = lakehouse.load(name).current_snapshot()
                counts[name] = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
        return counts


def session_env(values: dict[str, str]) -> Iterator[None]:
    """Set the lakehouse variables to ``values`` (others unset) until the generator is closed."""
    from finance_assets.core.settings import environment

    with environment(values, unset=ENV_NAMES):
        yield


def _materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[str],
    *,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        partition_key=partition_key,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        tags=tags or {},
    )


def build_lakehouse(home: Path, replay_dir: Path, universe: tuple[str, ...], *, with_markets: bool) -> GoldLakehouse:
    """Bronze for ``universe`` then ``dbt build`` through Dagster; the caller has set the environment."""
    fresh_manifest()
    from finance_assets.core.settings import Settings
    from finance_assets.definitions import build_definitions
    from finance_assets.transform.assets import dbt_selection

    defs = build_definitions(Settings.from_env())  # this lakehouse's resources (the caller set the environment)

    instance = dg.DagsterInstance.ephemeral()
    built = GoldLakehouse(home=home, env=dict(os.environ), defs=defs, instance=instance)
    started = time.monotonic()
    _materialize(defs, instance, ["bronze/sec_company_tickers"])
    for ticker in universe:
        # SNOW's submissions are not recorded: its edgar_filings step fails, its facts still land
        _materialize(defs, instance, ["bronze/edgar_filings", "bronze/edgar_company_facts"], partition_key=ticker)
    built.seconds["bronze_edgar"] = time.monotonic() - started
    selection = dbt_selection()
    if with_markets:
        from finance_assets.fmp.assets import FMP_ASSET_KEYS
        from finance_assets.pipeline import price_range

        started = time.monotonic()
        _materialize(defs, instance, list(FMP_ASSET_KEYS), partition_key="AAPL")
        first, last = price_range(Settings.from_env())
        built.runs["prices"] = _materialize(
            defs,
            instance,
            ["bronze/prices_daily"],
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        built.seconds["bronze_markets"] = time.monotonic() - started
        from finance_assets.core.partitions import range_tags
        from finance_assets.edgar.holdings_assets import COVER_PAGES_KEY, HOLDINGS_KEY
        from finance_assets.edgar.holdings_demo import filing_keys

        keys = filing_keys(instance)  # the recorded 13F filings
        built.runs["13f"] = _materialize(
            defs,
            instance,
            [COVER_PAGES_KEY.to_user_string(), HOLDINGS_KEY.to_user_string()],
            tags=range_tags(keys[0], keys[-1]),
        )
    else:
        # statements only: the models that need prices/FMP are left out of the dbt selection
        selection = _statement_selection(defs)
    started = time.monotonic()
    built.dbt_selection = selection
    built.runs["dbt"] = _materialize(defs, instance, selection)
    built.seconds["dbt"] = time.monotonic() - started
    return built


def _statement_selection(defs: dg.Definitions) -> list[str]:
    graph = defs.resolve_asset_graph()
    targets = [dg.AssetKey(["gold", "statement_lines"]), dg.AssetKey(["gold", "filing_signals"])]
    keys: set[dg.AssetKey] = set()
    stack = list(targets)
    while stack:
        key = stack.pop()
        if key in keys or key.path[0] == "bronze":
            continue
        keys.add(key)
        stack.extend(graph.get(key).parent_keys)
    # the wide statements read statement_lines only
    keys |= {dg.AssetKey(["gold", name]) for name in ("income_statement", "balance_sheet", "cash_flow")}
    return [key.to_user_string() for key in keys]


@pytest.fixture(scope="session")
def gold_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoldLakehouse]:
    if not (REPLAY / "edgar").is_dir():
        pytest.fail(f"recorded source data not found at {REPLAY}")
    if "gold" not in _BUILT:
        home = tmp_path_factory.mktemp("gold") / "lakehouse"
        env = {
            "LAKEHOUSE_HOME": str(home),
            "REPLAY_DIR": str(REPLAY),
            "DAGSTER_HOME": str(home / "dagster"),
            "UNIVERSE": ",".join(GOLD_UNIVERSE),
            "PRICES_START": PRICES_START,
        }
        with contextmanager(session_env)(env):
            _BUILT["gold"] = build_lakehouse(home, REPLAY, GOLD_UNIVERSE, with_markets=True)
    built = _BUILT["gold"]
    with contextmanager(session_env)(built.env):
        yield built


def overlay_replay(root: Path, snapshot: str) -> Path:
    """A replay folder serving ``edgar/snapshots/<snapshot>/`` over the current EDGAR recordings.

    Files are copied (4 MB): the replay transport serves nothing that resolves outside its root.
    """
    edgar = REPLAY / "edgar"
    shutil.copytree(edgar, root / "edgar", ignore=shutil.ignore_patterns("snapshots"))
    snapshot_dir = edgar / "snapshots" / snapshot
    for source in snapshot_dir.rglob("*"):
        if source.is_file():
            target = root / "edgar" / source.relative_to(snapshot_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return root


@pytest.fixture(scope="session")
def snapshot_lakehouse(
    tmp_path_factory: pytest.TempPathFactory, gold_lakehouse: GoldLakehouse
) -> Iterator[GoldLakehouse]:
    """AAPL as of the 2024-11 companyfacts snapshot (statements only), beside the current-payload build."""
    if "snapshot" not in _BUILT:
        base = tmp_path_factory.mktemp("snapshot-2024-11")
        replay = overlay_replay(base / "replay", "2024-11")
        home = base / "lakehouse"
        env = {
            "LAKEHOUSE_HOME": str(home),
            "REPLAY_DIR": str(replay),
            "DAGSTER_HOME": str(home / "dagster"),
            "UNIVERSE": "AAPL",
        }
        with contextmanager(session_env)(env):
            _BUILT["snapshot"] = build_lakehouse(home, replay, ("AAPL",), with_markets=False)
    built = _BUILT["snapshot"]
    with contextmanager(session_env)(built.env):
        yield built


def raw_company_facts(cik: str, replay: Path = REPLAY) -> dict[str, Any]:
    """The recorded companyfacts payload (the filings' own numbers, for expected values)."""
    folder = replay / "edgar" / "companyfacts"
    plain = folder / f"CIK{cik}.json"
    if plain.exists():
        return json.loads(plain.read_text())
    with gzip.open(folder / f"CIK{cik}.json.gz") as handle:
        return json.load(handle)
