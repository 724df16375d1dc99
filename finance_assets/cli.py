"""Command line for the lakehouse: set up an instance, run the demo or any job's partitions, print what landed.

python -m finance_assets.cli init          # LAKEHOUSE_HOME, Dagster instance, Iceberg namespaces
python -m finance_assets.cli prepare       # the build step: dbt parse (dbt_project/target/manifest.json)
python -m finance_assets.cli demo          # materialise the graph for UNIVERSE, then summarise
python -m finance_assets.cli materialize --select bronze/edgar_company_facts --partition-range AAPL...MSFT
python -m finance_assets.cli materialize --select bronze/edgar_company_facts --failed   # re-run failed companies
python -m finance_assets.cli summary       # rows and snapshot of every Iceberg table
python -m finance_assets.cli recover       # list runs whose process died and the pool slots they hold; clean them
python -m finance_assets.cli maintain      # the lakehouse_maintenance job: expire snapshots, remove orphan files
python -m finance_assets.cli config-docs   # write docs/configuration.md from the settings model (--check)

The settings are read here, once; a configuration mistake is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from finance_assets.core.entry import ignore_known_warnings, stop_on_sigterm
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
# A run whose process died is marked failed (by the code server that started it, within a second) and
# the pool slots of every finished run are freed 30 s after it ended, checked every 30 s by the daemon of
# `make dev`: a dead run holds its sec_edgar slot for about a minute at most. In-process launches (the
# demo, `cli materialize`) clean up before they launch; `cli recover` does it by hand.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
  free_slots_after_run_end_seconds: 30
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
    print(f"\n{'table':<40}{'rows':>12}  snapshot", flush=True)
    for name, count, snapshot_id in rows:
        print(f"{name:<40}{count:>12,}  {snapshot_id}")
    uri = urlsplit(settings.iceberg_catalog_uri)
    shown = uri._replace(netloc=uri.hostname or "").geturl() if uri.password else uri.geturl()  # no password
    print(f"\ncatalog 'lakehouse': {shown}")
    return rows


# Tables whose companies say how far each company got, per layer (missing tables count as empty). A table
# keyed by CIK alone (silver.financial_facts) counts through :data:`TICKERS_OF_CIKS`.
LAYER_TABLES: dict[str, tuple[str, ...]] = {
    "Bronze": ("bronze.prices_daily", "bronze.edgar_company_facts", "bronze.edgar_filings"),
    "Silver": ("silver.prices_daily", "silver.financial_facts"),
    "Gold": ("gold.labels", "gold.income_statement", "gold.financial_ratios"),
    "features": ("gold.price_features", "gold.fundamental_features", "gold.ratio_features"),
    "predictions": ("ml.predictions",),
}
TICKERS_OF_CIKS = "silver.companies"


def layer_tickers(settings: Settings) -> dict[str, set[str]]:
    """The tickers with rows in each layer's tables (:data:`LAYER_TABLES`), read with pyiceberg (one column)."""
    from pyiceberg.table import Table

    from finance_assets.core.iceberg import IcebergLakehouse

    lakehouse = IcebergLakehouse.from_settings(settings)

    def distinct(table: Table, field: str) -> set:
        return set(table.scan(selected_fields=(field,)).to_arrow().column(field).unique().to_pylist())

    tickers_of: dict[str, set[str]] = {}
    if lakehouse.table_exists(TICKERS_OF_CIKS):
        for row in lakehouse.load(TICKERS_OF_CIKS).scan(selected_fields=("cik", "ticker")).to_arrow().to_pylist():
            tickers_of.setdefault(row["cik"], set()).add(row["ticker"])
    found: dict[str, set[str]] = {}
    for layer, tables in LAYER_TABLES.items():
        tickers: set[str] = set()
        for name in tables:
            if not lakehouse.table_exists(name):
                continue
            table = lakehouse.load(name)
            columns = table.schema().column_names
            if "ticker" in columns:
                tickers |= {t for t in distinct(table, "ticker") if t}
            elif "cik" in columns:
                tickers |= {t for cik in distinct(table, "cik") for t in tickers_of.get(cik, ()) if t}
        found[layer] = tickers
    return found


@contextmanager
def full_log(path: Path) -> Iterator[TextIO]:
    """Send this process's stdout/stderr (and its children's: dbt, the prices process) to ``path``.

    Yields a text stream on the original terminal for the console. Done at the file-descriptor level
    because Dagster's event log, dbt's output and library warnings write to fds 1/2 from several places.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    saved = os.dup(1), os.dup(2)
    with path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


GAP_LINES = 8  # the console's share of data-gap lines (the demo prints at most ~60 lines on success)
GAP_WIDTH = 220


def gap_lines(gaps: list[str], limit: int = GAP_LINES, width: int = GAP_WIDTH) -> list[str]:
    """The data gaps as the console shows them: repeats counted once (``(x3)``), in order (universe
    first, then the companies that failed, then the warnings), cut to ``width`` characters and to ``limit``
    lines, the last one saying how many more the log holds."""
    counted: dict[str, int] = {}
    for gap in gaps:
        counted[gap] = counted.get(gap, 0) + 1
    lines = [gap if n == 1 else f"{gap} (x{n})" for gap, n in counted.items()]
    lines = [line if len(line) <= width else line[: width - 3] + "..." for line in lines]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more in the log"]
    return lines


def demo(settings: Settings) -> int:
    """The whole graph for UNIVERSE: one line per stage, then the summary; details in the log file.

    Exit 0 when every run succeeded, even if some companies have data gaps (they are listed); 1 when a run
    failed (a step or a blocking check), naming it and the log file.
    """
    from dagster import DagsterInstance
    from rich.console import Console
    from rich.table import Table

    from finance_assets.edgar.universe import UniverseError
    from finance_assets.ml.demo import closing_lines
    from finance_assets.pipeline import Reporter, coverage, materialize_all

    init(settings)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = settings.home / "logs" / f"demo-{stamp}.log"
    out = Console(highlight=False, soft_wrap=True)
    mode = f"replay from {settings.replay_dir}" if settings.replay else "live sources"
    out.print(f"lakehouse demo: profile={settings.profile} home={settings.home} ({mode})")
    started = time.monotonic()
    try:  # before anything runs: an unknown ticker stops the demo here, naming it
        covered = coverage(settings)
    except UniverseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with full_log(log_path) as terminal:
        width = out.width if out.is_terminal else 100  # a pipe gets 100 columns, not rich's 80
        console = Console(file=terminal, highlight=False, force_terminal=out.is_terminal, width=width, soft_wrap=True)
        console.print(
            f"universe {settings.universe}: {len(covered.prices)} tickers; SEC data for {len(covered.edgar)}, "
            f"FMP for {len(covered.fmp)}, prices only for {len(covered.price_only)}"
        )
        for warning in covered.warnings:
            print(f"universe: {warning}")  # the full list goes to the log
        console.print(f"full log: {log_path}")
        reporter = Reporter(log=lambda line: print(line, flush=True), console=console)
        try:
            failures = materialize_all(settings, log=reporter)
        except Exception as exc:  # a crash outside any run (set-up, planning): name it and the log
            import traceback

            traceback.print_exc()
            console.print(f"[red]error:[/red] the demo stopped: {type(exc).__name__}: {exc}. Details: {log_path}")
            return 1
        rows = summary(settings)  # also printed to the log
        landed = layer_tickers(settings)

        universe = set(covered.prices)
        table = Table(title="companies landed per layer", title_justify="left", box=None, pad_edge=False)
        for column in ("layer", "companies", "of"):
            table.add_column(column, justify="right" if column != "layer" else "left")
        for layer, tickers in landed.items():
            table.add_row(layer, str(len(tickers & universe)), str(len(universe)))
        console.print(table)

        gaps = [*covered.warnings, *(g for o in reporter.outcomes for g in o.gaps)]
        gaps += [w for o in reporter.outcomes for w in o.warnings] + reporter.notes
        if gaps:
            print("data gaps:\n" + "\n".join(f"  - {gap}" for gap in gaps))  # the log keeps every one, in full
            shown = gap_lines(gaps, GAP_LINES)
            console.print(f"data gaps ({len(gaps)}; not failures, details in the log):")
            for gap in shown:
                console.print(f"  - {gap}")
        for line in closing_lines(DagsterInstance.get()):  # the model's hold-out IC and backtest vs placebo
            console.print(line)
        counts = [(name, count) for name, count, _ in rows]
        console.print(f"rows per table ({len(counts)} tables; `python -m finance_assets.cli summary` for snapshots):")
        cells = [f"{name:<31}{count:>10,}" for name, count in counts]
        for i in range(0, len(cells), 2):
            console.print("  " + "  ".join(cells[i : i + 2]))
        console.print(
            "open: [bold]make dev[/bold] (Dagster, http://127.0.0.1:3000) | [bold]make mlflow-ui[/bold] "
            "(http://127.0.0.1:5000) | [bold]make serve-features[/bold] (Feast, http://127.0.0.1:6566)"
        )
        elapsed = time.monotonic() - started
        known_gaps = {g for o in reporter.outcomes for g in o.gaps}
        failures = [f for f in failures if f not in known_gaps]  # a company's missing data is not an error
        if failures:
            console.print(
                f"[red]FAILED[/red] {len(failures)} run step(s)/check(s) in {elapsed:.0f}s (log: {log_path}):"
            )
            for failure in failures[:10]:
                console.print(f"  - {failure}")
            return 1
        console.print(f"[green]done[/green] in {elapsed:.0f}s; full log: {log_path}")
        return 0


def materialize(
    settings: Settings,
    select: str,
    *,
    job: str | None = None,
    partition: str | None = None,
    partition_range: str | None = None,
    failed: bool = False,
    full_refresh: bool = False,
    companies: str | None = None,
) -> int:
    """Launch the named job holding ``select`` over a partition or range, split as a backfill would split it.

    ``dagster asset materialize --partition-range`` refuses assets with a multi-run backfill policy (every
    company asset); this is the same launch path as the demo: one run per range of up to 100 companies.
    ``full_refresh`` / ``companies`` (comma-separated tickers) configure a dbt build (docs/transform.md).
    """
    import dagster as dg

    from finance_assets.definitions import build_definitions
    from finance_assets.launch import failed_partitions, job_for, keys_in_range, launch_all, plan

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
    elif failed:
        partition_keys = failed_partitions(defs, instance, keys)
        if not partition_keys:
            print(f"no failed partitions of {select}: nothing to re-run")
            return 0
        print(f"re-running the failed partitions: {', '.join(partition_keys)}")
    run_config = None
    if full_refresh or companies is not None:
        config: dict[str, object] = {"full_refresh": full_refresh}
        if companies is not None:
            config["companies"] = [c.strip() for c in companies.split(",") if c.strip()]
        run_config = {"ops": {"lakehouse_dbt": {"config": config}}}
    runs = plan(defs, instance, job, selection=keys, partition_keys=partition_keys, run_config=run_config)
    print(f"job {job}: {len(runs)} run(s)")
    failures = launch_all(defs, instance, runs, launched_by="cli", log=print)
    for failure in failures:
        print(f"  FAILED {failure}")
    return 1 if failures else 0


def recover_runs(settings: Settings, *, stop_orphans: bool, dry_run: bool) -> int:
    """List runs in progress or holding pool slots; fail the dead ones and free their slots."""
    import dagster as dg

    from finance_assets.maintenance.recovery import recover

    init(settings)
    instance = dg.DagsterInstance.get()
    result = recover(instance, stop_orphans=stop_orphans, dry_run=dry_run, log=print)
    if not result.states:
        print("no run in progress, no pool slot taken")
    for state in result.states:
        verdict = "dead" if state.dead else "orphaned workers" if state.orphaned_workers else "alive"
        if not state.judged:
            verdict = "unknown"
        print(f"  {verdict:<16} {state.line()}")
    if dry_run:
        print("dry run: nothing changed")
    elif not (result.failed or result.freed or result.stopped):
        print("nothing to clean")
    return 0


def maintain_tables(settings: Settings, *, tables: list[str] | None, orphan_min_age_hours: float | None) -> int:
    """Launch the lakehouse_maintenance job in this process (recorded in the instance like any run)."""
    import dagster as dg

    from finance_assets.definitions import build_definitions
    from finance_assets.launch import Launch, launch_all
    from finance_assets.maintenance.jobs import JOB_NAME, MaintenanceConfig, run_config

    init(settings)
    config = MaintenanceConfig.from_settings(settings)
    if tables:
        config = config.model_copy(update={"tables": tables})
    if orphan_min_age_hours is not None:
        config = config.model_copy(update={"orphan_min_age_hours": orphan_min_age_hours})
    request = Launch(JOB_NAME, run_config=run_config(config), label=JOB_NAME)
    defs = build_definitions(settings)
    failures = launch_all(defs, dg.DagsterInstance.get(), [request], launched_by="cli", log=print)
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
    where.add_argument(
        "--failed", action="store_true", help="exactly the partitions Dagster shows as failed for the selection"
    )
    run.add_argument("--full-refresh", action="store_true", help="dbt: rebuild every selected model over all companies")
    run.add_argument("--companies", help="dbt: rebuild the company models for these tickers (comma-separated) only")
    rec = commands.add_parser("recover", help="list runs whose process died and their pool slots; clean them")
    rec.add_argument("--dry-run", action="store_true", help="only list what would be cleaned")
    rec.add_argument(
        "--stop-orphans", action="store_true", help="also SIGTERM step workers whose launching process died"
    )
    keep = commands.add_parser("maintain", help="run the lakehouse_maintenance job (snapshots, orphans, compaction)")
    keep.add_argument("--table", action="append", dest="tables", help="only this table (repeatable)")
    keep.add_argument("--orphan-min-age-hours", type=float, help="override ICEBERG_ORPHAN_MIN_AGE_HOURS")
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
        if args.command == "recover":
            return recover_runs(settings, stop_orphans=args.stop_orphans, dry_run=args.dry_run)
        if args.command == "maintain":
            return maintain_tables(settings, tables=args.tables, orphan_min_age_hours=args.orphan_min_age_hours)
        stop_on_sigterm()  # demo and materialize: a long-running launch stops cleanly on SIGTERM
        if args.command == "materialize":
            return materialize(
                settings,
                args.select,
                job=args.job,
                partition=args.partition,
                partition_range=args.partition_range,
                failed=args.failed,
                full_refresh=args.full_refresh,
                companies=args.companies,
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
