"""The demo: which named jobs to launch for UNIVERSE, in which order, and the report.

Each stage is what a data engineer would launch from the UI, through :mod:`finance_assets.launch`: the
company jobs over UNIVERSE in backfill-sized ranges, the prices over their date range, then ``transform``
(dbt), ``features`` and the ML jobs. The runs are recorded in the configured Dagster instance under their
job names, so ``make dev`` shows them afterwards. A failed run does not stop the next stage: dbt, features
and ML run on what landed.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta

import dagster as dg

from finance_assets.core.entry import ignore_known_warnings, stop_on_sigterm, stop_with_parent
from finance_assets.core.names import MARKET_BENCHMARK
from finance_assets.core.partitions import companies_partitions
from finance_assets.core.settings import Settings
from finance_assets.launch import keys_in_range, launch_all, plan

Log = Callable[[str], None]
DEMO = "demo"  # the lakehouse/launched_by tag of the demo's runs


def price_range(settings: Settings) -> tuple[str, str]:
    """First and last weekday partition to load: up to yesterday live, up to the recording's end in replay."""
    from finance_assets.core.partitions import prices_partitions
    from finance_assets.resources import resources_for

    last = date.today() - timedelta(days=1)
    if settings.replay:
        source = resources_for(settings, secrets="values")["market_data"].source()
        bars = source.fetch(MARKET_BENCHMARK, settings.prices_start, last)
        last = bars.get_column("date").max() or last  # type: ignore[assignment]
    keys = prices_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(settings.prices_start.isoformat(), prices_partitions.get_last_partition_key() or "")
    )
    in_range = [k for k in keys if k <= last.isoformat()]
    return in_range[0], in_range[-1]


def _prices_stage() -> list[str]:
    """The prices backfill, in its own process (see :func:`bronze_stage`): settings from its environment."""
    ignore_known_warnings()  # a fresh interpreter: set it up as the CLI set up the parent
    stop_with_parent()  # dies with the demo, even a SIGKILLed one
    stop_on_sigterm()  # ... and stops as cleanly as the demo does
    from finance_assets.definitions import build_definitions

    settings = Settings.from_env()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    keys = keys_in_range(defs, instance, "bronze_prices", *price_range(settings))
    runs = plan(defs, instance, "bronze_prices", partition_keys=keys)
    return launch_all(defs, instance, runs, launched_by=DEMO, log=print)


def company_stage(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    tickers: Sequence[str],
    *,
    label: str = "",
    log: Log,
) -> list[str]:
    """``job`` for every company of ``tickers``, as a backfill runs it: ranges of companies per run."""
    failures: list[str] = []
    registered = set(instance.get_dynamic_partitions(companies_partitions.name))
    unregistered = sorted(set(tickers) - registered)
    if unregistered:
        failures.append(f"{', '.join(unregistered)}: not a company partition (not in SEC's ticker map?)")
        log(f"  FAILED {failures[-1]}")
    known = [t for t in tickers if t in registered]
    if known:
        runs = plan(defs, instance, job, partition_keys=known, label=label)
        failures += launch_all(defs, instance, runs, launched_by=DEMO, log=log)
    return failures


def bronze_stage(
    settings: Settings,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    log: Log,
    *,
    fmp_tickers: Sequence[str] | None = None,
) -> list[str]:
    """Every Bronze job; the prices backfill runs alongside EDGAR and FMP, as Dagster would run them.

    ``fmp_tickers``: the companies to load from FMP (default: the universe).

    The sources are independent (different pools), and EDGAR mostly waits on SEC's rate limit, so a
    deployment's daemon runs these backfills concurrently; here the prices run gets a second process
    (Dagster captures a run's output per process, so two in-process runs cannot share one).
    """
    from finance_assets.resources import resources_for

    failures: list[str] = []
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads or open handles
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        log("bronze: market data (prices, in a second process), SEC EDGAR, FMP fundamentals")
        prices = pool.submit(_prices_stage)
        failures += launch_all(defs, instance, plan(defs, instance, "bronze_reference"), launched_by=DEMO, log=log)
        failures += company_stage(defs, instance, "bronze_edgar_companies", settings.universe, log=log)
        if resources_for(settings, secrets="values")["fmp"].available:
            tickers = settings.universe if fmp_tickers is None else fmp_tickers
            label = "bronze/fmp_* (6 tables)"
            failures += company_stage(defs, instance, "bronze_fmp_companies", tickers, label=label, log=log)
        else:
            log("  skipped FMP: FMP_API_KEY is not set (export it to include FMP fundamentals; nothing else needs it)")
        try:
            failures += prices.result()
        except Exception as exc:  # the child died before it could report (e.g. killed, import error)
            failures.append(f"bronze/prices_daily: the prices process failed: {exc!r}")
            log(f"  FAILED {failures[-1]}")
    return failures


def holdings_stage(settings: Settings, defs: dg.Definitions, instance: dg.DagsterInstance, log: Log) -> list[str]:
    """13F filings of the reference managers (before dbt: the holdings models read their Bronze tables)."""
    from finance_assets.edgar.holdings_demo import (
        FILINGS_JOB,
        MANAGERS_JOB,
        filing_keys,
        manager_keys,
        skipped_documents,
    )

    log("bronze: institutional holdings (13F-HR cover pages and information tables)")
    failures: list[str] = []
    if not settings.replay:  # live: find every 13F-HR of the managers first
        runs = plan(defs, instance, MANAGERS_JOB, partition_keys=manager_keys(instance))
        failures += launch_all(defs, instance, runs, launched_by=DEMO, log=log)
    runs = plan(defs, instance, FILINGS_JOB, partition_keys=filing_keys(instance), label="bronze/edgar_13f_* (13F)")
    failures += launch_all(defs, instance, runs, launched_by=DEMO, log=log)
    for line in skipped_documents():
        log(line)
    return failures


def dbt_stage(defs: dg.Definitions, instance: dg.DagsterInstance, log: Log) -> list[str]:
    """The ``transform`` job: one ``dbt build`` of Silver and Gold over whatever Bronze holds."""
    from finance_assets.transform.assets import dbt_selection

    log("silver + gold: dbt build (after every Bronze partition)")
    runs = plan(defs, instance, "transform", label=f"dbt build ({len(dbt_selection())} models)")
    return launch_all(defs, instance, runs, launched_by=DEMO, log=log)


def materialize_all(settings: Settings, log: Log = print) -> list[str]:
    """The whole graph for ``settings``' UNIVERSE, stage by stage; the failures of every stage."""
    from finance_assets.definitions import build_definitions
    from finance_assets.ml.demo import demo_runs
    from finance_assets.transform.project import prepare_manifest

    prepare_manifest(force=True)  # dbt parse before the graph loads: the dbt assets come from the manifest
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()

    def stage(job: str, label: str = "", **options: object) -> list[str]:
        keys = None
        if first_last := options.pop("partition_range", None):
            keys = keys_in_range(defs, instance, job, *first_last)  # type: ignore[misc]
        runs = plan(defs, instance, job, partition_keys=keys, label=label, **options)  # type: ignore[arg-type]
        return launch_all(defs, instance, runs, launched_by=DEMO, log=log)

    failures = bronze_stage(settings, defs, instance, log)
    failures += holdings_stage(settings, defs, instance, log)
    failures += dbt_stage(defs, instance, log)
    log("features: feature tables, Feast registry, online store (after Gold)")
    failures += stage("features", "feature tables + feast registry + online")
    log("ml: training set, return model (Optuna + MLflow; `make mlflow-ui`), predictions, live performance")
    last_price_date = date.fromisoformat(price_range(settings)[1])
    for job, options in demo_runs(settings, last_price_date):
        failures += stage(job, **options)
    return failures
