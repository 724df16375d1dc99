"""The demo: which named jobs to launch for UNIVERSE, in which order, and the report.

Each stage is what a data engineer would launch from the UI, through :mod:`finance_assets.launch`: the
company jobs in backfill-sized ranges, the prices over their month range, then ``transform`` (dbt),
``features`` and the ML jobs. The runs are recorded in the configured Dagster instance under their job
names, so ``make dev`` shows them afterwards. A failed run does not stop the next stage: dbt, features
and ML run on what landed.

Which companies each source covers (:func:`coverage`): every UNIVERSE member loads prices; SEC EDGAR and
FMP load the members they can serve. Live that is every member with a CIK (EDGAR) and every member
(FMP); in replay only the members with a recorded payload, so the ~480 price-only S&P 500 tickers of the
default universe do not become ~480 replayed 404s. A member without SEC data still gets its prices,
price features and predictions, with fundamentals null.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from finance_assets.core import names
from finance_assets.core.entry import ignore_known_warnings, stop_on_sigterm, stop_with_parent
from finance_assets.core.names import MARKET_BENCHMARK
from finance_assets.core.partitions import companies_partitions
from finance_assets.core.settings import Settings
from finance_assets.launch import Launch, Outcome, keys_in_range, launch, plan

Log = Callable[[str], None]
DEMO = "demo"  # the lakehouse/launched_by tag of the demo's runs


class Reporter:
    """Where the stages report: a plain ``log`` callable, plus stage progress when a console is attached.

    Without a console (benchmarks, tests) every run is one line through ``log``. With one
    (:mod:`finance_assets.cli` demo), the terminal gets one line per stage and a progress bar while a stage
    runs; the run lines go to ``log`` (the full log file).
    """

    def __init__(self, log: Log = print, console: Any | None = None) -> None:
        self.log = log
        self.console = console
        self.outcomes: list[Outcome] = []
        self.notes: list[str] = []  # data gaps: shown, never a failure
        self._progress: Any | None = None

    def __call__(self, line: str) -> None:
        self.log(line)

    @contextmanager
    def stage(self, title: str, total: int | None) -> Iterator[Callable[[Outcome], None]]:
        """One stage: yields ``done(outcome)`` to call per finished run; prints the stage's line at the end."""
        started, outcomes = time.monotonic(), []
        self.log(title)
        task = None
        if self._progress is not None:
            task = self._progress.add_task(title, total=total)

        def done(outcome: Outcome) -> None:
            outcomes.append(outcome)
            self.outcomes.append(outcome)
            self.log(outcome.line())
            if task is not None:
                self._progress.advance(task)

        try:
            yield done
        finally:
            if task is not None:
                self._progress.remove_task(task)
            if self.console is not None:
                failed = sum(1 for o in outcomes if o.errors)
                gaps = sum(1 for o in outcomes if o.gaps and not o.errors)
                mark = "[red]✗[/red]" if failed else "[yellow]~[/yellow]" if gaps else "[green]✓[/green]"
                runs = f"{len(outcomes)} run{'s' if len(outcomes) != 1 else ''}" + (
                    f", {failed} failed" if failed else f", {gaps} with data gaps" if gaps else ""
                )
                seconds = max(time.monotonic() - started, sum(o.seconds for o in outcomes))  # prices ran meanwhile
                self.console.print(f"{mark} {title:<62} {runs:>16} {seconds:7.1f}s", highlight=False)

    @contextmanager
    def live(self) -> Iterator[None]:
        """Progress bars on the console while the stages run (nothing without a console)."""
        if self.console is None:
            yield
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as progress:
            self._progress = progress
            try:
                yield
            finally:
                self._progress = None


def _reporter(log: Log | Reporter) -> Reporter:
    return log if isinstance(log, Reporter) else Reporter(log)


def run_stage(
    defs: dg.Definitions, instance: dg.DagsterInstance, title: str, runs: Sequence[Launch], log: Log | Reporter
) -> list[str]:
    """``runs`` in order as one stage (a failed run does not stop the next); their failures."""
    reporter, failures = _reporter(log), []
    with reporter.stage(title, len(runs)) as done:
        for request in runs:
            outcome = launch(defs, instance, request, launched_by=DEMO)
            done(outcome)
            failures += outcome.failures
    return failures


@dataclass(frozen=True)
class Coverage:
    """Which members each source loads (see the module docstring)."""

    prices: list[str]
    edgar: list[str]
    fmp: list[str]
    price_only: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def coverage(settings: Settings) -> Coverage:
    """UNIVERSE resolved against SEC's map (an unknown ticker raises UniverseError here, before any run)."""
    from finance_assets.edgar.universe import fmp_covered, sec_covered
    from finance_assets.resources import resources_for

    universe, warnings = resources_for(settings, secrets="values")["universe"].resolve()
    replay = Path(settings.replay_dir) if settings.replay_dir else None
    edgar = sec_covered(universe, replay)
    return Coverage(
        prices=universe.tickers,
        edgar=edgar,
        fmp=fmp_covered(universe.companies, replay),
        price_only=[t for t in universe.tickers if t not in set(edgar)],
        warnings=warnings,
    )


def price_range(settings: Settings) -> tuple[str, str]:
    """First and last monthly partition to load: PRICES_START to yesterday live, to the recording's end in replay."""
    return settings.prices_start.replace(day=1).isoformat(), _last_price_date(settings).replace(day=1).isoformat()


def _prices_stage() -> list[Outcome]:
    """The prices backfill, in its own process (see :func:`bronze_stage`): settings from its environment."""
    ignore_known_warnings()  # a fresh interpreter: set it up as the CLI set up the parent
    stop_with_parent()  # dies with the demo, even a SIGKILLed one
    stop_on_sigterm()  # ... and stops as cleanly as the demo does
    from finance_assets.definitions import build_definitions

    settings = Settings.from_env()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    first, last = price_range(settings)
    keys = keys_in_range(defs, instance, "bronze_prices", first, last)
    outcomes = [
        launch(defs, instance, r, launched_by=DEMO) for r in plan(defs, instance, "bronze_prices", partition_keys=keys)
    ]
    for outcome in outcomes:
        print(outcome.line(), flush=True)  # the full log (this process's output goes where the parent's does)
    return outcomes


def company_stage(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    tickers: Sequence[str],
    *,
    label: str = "",
    log: Log | Reporter,
) -> list[str]:
    """``job`` for every company of ``tickers``, as a backfill runs it: ranges of companies per run."""
    reporter = _reporter(log)
    failures: list[str] = []
    registered = set(instance.get_dynamic_partitions(companies_partitions.name))
    unregistered = sorted(set(tickers) - registered)
    if unregistered:
        failures.append(f"{', '.join(unregistered)}: not a company partition (not in SEC's ticker map?)")
        reporter(f"  FAILED {failures[-1]}")
    known = [t for t in tickers if t in registered]
    if known:
        runs = plan(defs, instance, job, partition_keys=known, label=label)
        title = f"bronze: {label or job} ({len(known)} compan{'y' if len(known) == 1 else 'ies'})"
        failures += run_stage(defs, instance, title, runs, reporter)
    return failures


def bronze_stage(
    settings: Settings,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    log: Log | Reporter,
    *,
    fmp_tickers: Sequence[str] | None = None,
) -> list[str]:
    """Every Bronze job; the prices backfill runs alongside EDGAR and FMP, as Dagster would run them.

    ``fmp_tickers``: the companies to load from FMP (default: those :func:`coverage` gives FMP).

    The sources are independent (different pools), and EDGAR mostly waits on SEC's rate limit, so a
    deployment's daemon runs these backfills concurrently; here the prices run gets a second process
    (Dagster captures a run's output per process, so two in-process runs cannot share one).
    """
    from finance_assets.resources import resources_for

    reporter = _reporter(log)
    covered = coverage(settings)
    failures: list[str] = []
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads or open handles
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        reporter("bronze: market data (prices, in a second process), SEC EDGAR, FMP fundamentals")
        started = time.monotonic()
        prices = pool.submit(_prices_stage)
        failures += run_stage(
            defs, instance, "bronze: SEC ticker map", plan(defs, instance, "bronze_reference"), reporter
        )
        failures += company_stage(
            defs, instance, "bronze_edgar_companies", covered.edgar, label="EDGAR filings + XBRL facts", log=reporter
        )
        if resources_for(settings, secrets="values")["fmp"].available:
            tickers = covered.fmp if fmp_tickers is None else fmp_tickers
            failures += company_stage(
                defs, instance, "bronze_fmp_companies", tickers, label="FMP fundamentals (6 tables)", log=reporter
            )
        else:
            reporter.notes.append("FMP skipped: FMP_API_KEY is not set (export it to include FMP fundamentals)")
            reporter(f"  skipped {reporter.notes[-1]}")
        first, last = price_range(settings)
        title = f"bronze: prices ({len(covered.prices) + 1} tickers, months {first[:7]}..{last[:7]})"
        with reporter.stage(title, 1) as done:
            try:
                outcomes = prices.result()
                for outcome in outcomes:
                    done(outcome)
                    failures += outcome.failures
            except Exception as exc:  # the child died before it could report (e.g. killed, import error)
                failures.append(f"bronze/prices_daily: the prices process failed: {exc!r}")
                reporter(f"  FAILED {failures[-1]}")
        reporter(f"  bronze done in {time.monotonic() - started:.1f}s")
    return failures


def holdings_stage(
    settings: Settings, defs: dg.Definitions, instance: dg.DagsterInstance, log: Log | Reporter
) -> list[str]:
    """13F filings of the reference managers (before dbt: the holdings models read their Bronze tables)."""
    from finance_assets.edgar.holdings_demo import (
        FILINGS_JOB,
        MANAGERS_JOB,
        filing_keys,
        manager_keys,
        skipped_documents,
    )

    reporter = _reporter(log)
    runs: list[Launch] = []
    if not settings.replay:  # live: find every 13F-HR of the managers first
        failures = run_stage(
            defs,
            instance,
            "bronze: 13F managers",
            plan(defs, instance, MANAGERS_JOB, partition_keys=manager_keys(instance)),
            reporter,
        )
    else:
        failures = []
    runs = plan(defs, instance, FILINGS_JOB, partition_keys=filing_keys(instance), label="bronze/edgar_13f_* (13F)")
    failures += run_stage(defs, instance, "bronze: institutional holdings (13F-HR)", runs, reporter)
    for line in skipped_documents():
        reporter(line)
    return failures


def dbt_stage(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    log: Log | Reporter,
    *,
    companies: Sequence[str] | None = None,
    company_models_only: bool = False,
    full_refresh: bool = False,
) -> list[str]:
    """The ``transform`` job: ``dbt build`` of Silver and Gold over whatever Bronze holds.

    The company models rebuild the companies whose Bronze changed since their last build (docs/transform.md);
    ``companies`` names them instead, ``full_refresh`` rebuilds everything. ``company_models_only`` selects
    the company models alone (no prices, FMP or 13F models): an incremental refresh after a company load.
    """
    from finance_assets.transform.assets import company_model_keys, dbt_selection

    selection = company_model_keys() if company_models_only else None
    count = len(selection) if selection else len(dbt_selection())
    config: dict[str, object] = {"full_refresh": full_refresh}
    if companies is not None:
        config["companies"] = list(companies)
    runs = plan(
        defs,
        instance,
        "transform",
        selection=selection,
        run_config={"ops": {"lakehouse_dbt": {"config": config}}},
        label=f"dbt build ({count} models)",
    )
    return run_stage(defs, instance, f"silver + gold: dbt build ({count} models)", runs, log)


def materialize_all(settings: Settings, log: Log | Reporter = print) -> list[str]:
    """The whole graph for ``settings``' UNIVERSE, stage by stage; the failures of every stage."""
    from finance_assets.definitions import build_definitions
    from finance_assets.ml.demo import demo_runs
    from finance_assets.transform.project import prepare_manifest

    reporter = _reporter(log)
    prepare_manifest(force=True)  # dbt parse before the graph loads: the dbt assets come from the manifest
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()

    def stage(title: str, job: str, label: str = "", **options: object) -> list[str]:
        keys = None
        if first_last := options.pop("partition_range", None):
            keys = keys_in_range(defs, instance, job, *first_last)  # type: ignore[misc]
        runs = plan(defs, instance, job, partition_keys=keys, label=label, **options)  # type: ignore[arg-type]
        return run_stage(defs, instance, title, runs, reporter)

    with reporter.live():
        failures = bronze_stage(settings, defs, instance, reporter)
        failures += holdings_stage(settings, defs, instance, reporter)
        failures += dbt_stage(defs, instance, reporter)
        failures += stage("features: feature tables, Feast registry, online store", "features", "features")
        for job, options in demo_runs(*_price_dates(settings)):
            label = str(options.get("label", job))
            failures += stage(f"ml: {label}", job, **options)
    return failures


def _price_dates(settings: Settings) -> tuple[date, date]:
    """(the cross-section's end, the last price of any ticker) in ``bronze.prices_daily``: the ML stage's window."""
    from finance_assets.ml.demo import cross_section_end
    from finance_assets.resources import resources_for

    lakehouse = resources_for(settings, secrets="values")["lakehouse"].lakehouse()
    prices = lakehouse.read(names.table_name(names.PRICES_DAILY), columns=("ticker", "date"))
    return cross_section_end(prices), prices["date"].max()  # type: ignore[return-value]


def _last_price_date(settings: Settings) -> date:
    """The last recorded session in replay (yesterday live): where the ML stage's out-of-sample year ends."""
    from finance_assets.resources import resources_for

    last = date.today() - timedelta(days=1)
    if settings.replay:
        bars = (
            resources_for(settings, secrets="values")["market_data"]
            .source()
            .fetch(MARKET_BENCHMARK, settings.prices_start, last)
        )
        last = bars.get_column("date").max() or last  # type: ignore[assignment]
    return last
