"""Command line for the lakehouse: set up an instance, run the demo or any job's partitions, print what landed.

python -m finance_assets.cli init          # LAKEHOUSE_HOME, Dagster instance, Iceberg namespaces
python -m finance_assets.cli prepare       # the build step: dbt parse (dbt_project/target/manifest.json)
python -m finance_assets.cli demo          # materialise the graph for UNIVERSE, then summarise
python -m finance_assets.cli materialize --select bronze/edgar_company_facts --partition-range AAPL...MSFT
python -m finance_assets.cli summary       # rows and snapshot of every Iceberg table
python -m finance_assets.cli config-docs   # write docs/configuration.md from the settings model (--check)

The settings are read here, once; a configuration mistake is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from finance_assets.core.entry import ignore_known_warnings
from finance_assets.core.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]
CONFIG_DOCS = REPO / "docs" / "configuration.md"
DAGSTER_YAML_LOCAL = """\
# Written by `python -m finance_assets.cli init`: the embedded (local) Dagster instance.
telemetry:
  enabled: false
nux:  # the UI's "Join the community" dialog (newsletter sign-up, links out): not for an offline lakehouse
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
DAGSTER_YAML_PROD = REPO / "deploy" / "dagster.yaml"


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
        settings.require("dagster_postgres_url")
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
    uri = urlsplit(settings.iceberg_catalog_uri)
    shown = uri._replace(netloc=uri.hostname or "").geturl() if uri.password else uri.geturl()  # no password
    print(f"\ncatalog 'lakehouse': {shown}")
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


def materialize(
    settings: Settings,
    select: str,
    *,
    job: str | None = None,
    partition: str | None = None,
    partition_range: str | None = None,
) -> int:
    """Launch the named job holding ``select`` over a partition or range, split as a backfill would split it.

    ``dagster asset materialize --partition-range`` refuses assets with a multi-run backfill policy (every
    company asset); this is the same launch path as the demo: one run per range of up to 100 companies.
    """
    import dagster as dg

    from finance_assets.definitions import build_definitions
    from finance_assets.launch import job_for, keys_in_range, launch_all, plan

    init(settings)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    keys = [dg.AssetKey.from_user_string(k.strip()) for k in select.split(",") if k.strip()]
    job = job or job_for(defs, keys)
    partition_keys = None
    if partition_range:
        first, sep, last = partition_range.partition("...")
        if not sep:
            raise ValueError(f"--partition-range {partition_range!r} is not FIRST...LAST (three dots).")
        partition_keys = keys_in_range(defs, instance, job, first, last)
    elif partition:
        partition_keys = [partition]
    runs = plan(defs, instance, job, selection=keys, partition_keys=partition_keys)
    print(f"job {job}: {len(runs)} run(s)")
    failures = launch_all(defs, instance, runs, launched_by="cli", log=print)
    for failure in failures:
        print(f"  FAILED {failure}")
    return 1 if failures else 0


def config_docs(*, check: bool) -> int:
    from finance_assets.core.settings_docs import render

    text = render()
    if check:
        if not CONFIG_DOCS.is_file() or CONFIG_DOCS.read_text() != text:
            print(f"{CONFIG_DOCS} is stale: run `python -m finance_assets.cli config-docs`", file=sys.stderr)
            return 1
        return 0
    CONFIG_DOCS.parent.mkdir(parents=True, exist_ok=True)
    CONFIG_DOCS.write_text(text)
    print(f"wrote {CONFIG_DOCS}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ignore_known_warnings()  # this process's set-up: the entry point's, not an import's
    parser = argparse.ArgumentParser(prog="finance_assets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("init", "prepare", "demo", "summary"):
        commands.add_parser(name)
    run = commands.add_parser("materialize", help="launch a job's partitions as a backfill would")
    run.add_argument("--select", required=True, help="asset keys, comma-separated (bronze/edgar_company_facts,...)")
    run.add_argument("--job", help="the named job to launch (default: the smallest one holding the selection)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--partition", help="one partition key (a ticker, a date)")
    where.add_argument("--partition-range", help="FIRST...LAST, inclusive, in the partition set's order")
    docs = commands.add_parser("config-docs", help="write docs/configuration.md from the settings model")
    docs.add_argument("--check", action="store_true", help="exit 1 if the committed page is stale")
    args = parser.parse_args(argv)

    if args.command == "config-docs":
        return config_docs(check=args.check)
    if args.command == "prepare":
        from finance_assets.transform.project import prepare_manifest

        print(f"prepared {prepare_manifest(force=True)}")
        return 0
    try:
        settings = Settings.from_env()
        if args.command == "init":
            init(settings)
            print(f"initialised {settings.home}")
            return 0
        if args.command == "summary":
            summary(settings)
            return 0
        if args.command == "materialize":
            return materialize(
                settings, args.select, job=args.job, partition=args.partition, partition_range=args.partition_range
            )
        return demo(settings)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # LaunchError and bad ranges: what to give instead
        if args.command != "materialize":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
