"""Command line for the lakehouse: set up an instance, run the demo graph, print what landed.

python -m finance_assets.cli init      # LAKEHOUSE_HOME, Dagster instance, Iceberg namespaces
python -m finance_assets.cli demo      # materialise the graph for UNIVERSE, then summarise
python -m finance_assets.cli summary   # rows and snapshot of every Iceberg table
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from finance_assets.core.settings import Settings, SettingsError, get_settings

DAGSTER_YAML_LOCAL = """\
# Written by `python -m finance_assets.cli init`: the embedded (local) Dagster instance.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # Every source has a pool (sec_edgar, fmp, market_data): one step per source at a time, so the
    # per-process rate limit is also the deployment's (SEC allows 10 requests/s per user, not per run).
    default_limit: 1
"""
# The production instance (Postgres storage, queued runs, pools, S3 compute logs): one template, also
# what the Docker image copies into DAGSTER_HOME. Endpoints stay `env:` references resolved at load.
DAGSTER_YAML_PROD = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def dagster_yaml(settings: Settings) -> str:
    """The dagster.yaml of the settings' profile."""
    if settings.profile == "local":
        return DAGSTER_YAML_LOCAL
    if not DAGSTER_YAML_PROD.is_file():
        raise SettingsError(f"LAKEHOUSE_PROFILE=prod needs the instance template {DAGSTER_YAML_PROD} (deploy/).")
    return DAGSTER_YAML_PROD.read_text()


def prepare_environment(settings: Settings) -> None:
    """Process-wide switches so nothing phones home, and DAGSTER_HOME points into LAKEHOUSE_HOME."""
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    if settings.dagster_postgres_url:  # the prod dagster.yaml reads it; may come from DAGSTER_PG_*
        os.environ.setdefault("DAGSTER_POSTGRES_URL", settings.dagster_postgres_url)
    for name, value in {
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "POLARS_ICEBERG_PLANNER": "pyiceberg",
    }.items():
        os.environ.setdefault(name, value)


def init(settings: Settings) -> None:
    from finance_assets.core.iceberg import IcebergLakehouse

    if settings.profile == "prod":
        settings.require_dagster_postgres_url()
    prepare_environment(settings)
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    text = dagster_yaml(settings)
    if not config.exists():
        config.write_text(text)
    elif config.read_text() != text:
        print(f"kept {config}: it differs from the {settings.profile} template (delete it to rewrite)", file=sys.stderr)
    IcebergLakehouse.from_settings(settings).ensure_namespaces()


def summary(settings: Settings) -> list[tuple[str, int, int | None]]:
    from finance_assets.core.iceberg import IcebergLakehouse

    lakehouse = IcebergLakehouse.from_settings(settings)
    rows: list[tuple[str, int, int | None]] = []
    for (namespace,) in sorted(lakehouse.catalog.list_namespaces()):
        for identifier in sorted(lakehouse.catalog.list_tables(namespace)):
            name = ".".join(identifier)
            table = lakehouse.load(name)
            snapshot = table.current_snapshot()
            count = int(snapshot.summary["total-records"] or 0) if snapshot and snapshot.summary else 0
            rows.append((name, count, snapshot.snapshot_id if snapshot else None))
    print(f"\n{'table':<40}{'rows':>12}  snapshot")
    for name, count, snapshot_id in rows:
        print(f"{name:<40}{count:>12,}  {snapshot_id}")
    print(f"\ncatalog 'lakehouse': {settings.catalog_properties()['uri']}")
    return rows


def demo(settings: Settings) -> int:
    init(settings)
    from finance_assets.pipeline import materialize_all

    mode = f"replay from {settings.replay_dir}" if settings.replay else "live sources"
    print(f"lakehouse demo: profile={settings.profile} home={settings.home} ({mode})")
    print(f"universe: {', '.join(settings.universe)}")
    started = time.monotonic()
    failures = materialize_all(settings, log=print)
    summary(settings)
    print(f"\nfinished in {time.monotonic() - started:.1f}s with {len(failures)} failed step(s)")
    for failure in failures:
        print(f"  FAILED {failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finance_assets", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["init", "demo", "summary"])
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "init":
        try:
            init(settings)
        except SettingsError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        print(f"initialised {settings.home}")
        return 0
    if args.command == "summary":
        summary(settings)
        return 0
    return demo(settings)


if __name__ == "__main__":
    sys.exit(main())
