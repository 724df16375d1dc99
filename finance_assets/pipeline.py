"""The demo graph in stages, materialised in order into the configured Dagster instance.

`make demo` runs this; each stage is what a data engineer would launch from the UI (a backfill over the
company partitions, which runs up to ``COMPANIES_PER_RUN`` companies per run), so the runs show up in
`make dev` afterwards.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta

import dagster as dg

from finance_assets.core.partitions import range_tags
from finance_assets.core.settings import Settings

EDGAR_COMPANY_ASSETS = ("bronze/edgar_filings", "bronze/edgar_company_facts")


def _run(
    instance: dg.DagsterInstance,
    selection: Sequence[str],
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    run_config: dict | None = None,
    label: str | None = None,
    log: Callable[[str], None],
) -> list[str]:
    from finance_assets.definitions import defs

    label = (label or ", ".join(selection)) + (f" [{partition_key}]" if partition_key else "")
    tags = {"lakehouse/launched_by": "demo"}
    if partition_range:  # one run over a range of partitions, as a single-run backfill does
        label += f" [{partition_range[0]}..{partition_range[1]}]"
        tags |= range_tags(*partition_range)
    started = time.monotonic()
    result = dg.materialize(
        list(defs.assets or []),
        selection=list(selection),
        partition_key=partition_key,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        tags=tags,
        run_config=run_config,
    )
    failures = [f"{label}: step {e.step_key} failed" for e in result.get_step_failure_events()]
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failures.append(f"{label}: check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    rows = {
        m.asset_key.to_user_string(): m.materialization.metadata.get("dagster/row_count")
        for m in result.get_asset_materialization_events()
    }
    counts = ", ".join(f"{k.split('/')[-1]}={getattr(v, 'value', v)}" for k, v in rows.items())
    if len(rows) > 4:
        counts = f"{len(rows)} tables, {sum(getattr(v, 'value', 0) or 0 for v in rows.values()):,} rows"
    status = "ok" if not failures else "FAILED"
    log(f"  {status:<6} {label:<70} {time.monotonic() - started:6.1f}s  {counts}")
    return failures


def run_companies(
    instance: dg.DagsterInstance,
    selection: Sequence[str],
    tickers: Sequence[str],
    *,
    label: str | None = None,
    log: Callable[[str], None],
) -> list[str]:
    """``selection`` for every company of ``tickers``, as a backfill runs it: ranges of companies per run."""
    from finance_assets.core.partitions import company_runs

    failures: list[str] = []
    runs = company_runs(instance, tickers)
    unregistered = sorted(set(tickers) - set(instance.get_dynamic_partitions("companies")))
    if unregistered:
        failures.append(f"{', '.join(unregistered)}: not a company partition (not in SEC's ticker map?)")
        log(f"  FAILED {failures[-1]}")
    for first, last in runs:
        if first == last:
            failures += _run(instance, selection, partition_key=first, label=label, log=log)
        else:
            failures += _run(instance, selection, partition_range=(first, last), label=label, log=log)
    return failures


def price_range(settings: Settings) -> tuple[str, str]:
    """First and last weekday partition to load: up to yesterday live, up to the recording's end in replay."""
    from finance_assets.core.partitions import prices_partitions
    from finance_assets.core.settings import MARKET_BENCHMARK
    from finance_assets.market.assets import MarketDataResource

    last = date.today() - timedelta(days=1)
    if settings.replay:
        bars = MarketDataResource().source().fetch(MARKET_BENCHMARK, settings.prices_start, last)
        last = bars.get_column("date").max() or last  # type: ignore[assignment]
    keys = prices_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(settings.prices_start.isoformat(), prices_partitions.get_last_partition_key() or "")
    )
    in_range = [k for k in keys if k <= last.isoformat()]
    return in_range[0], in_range[-1]


def _prices_stage() -> list[str]:
    """The prices backfill, in its own process (see :func:`bronze_stage`)."""
    from finance_assets.core.settings import get_settings

    settings = get_settings()
    return _run(dg.DagsterInstance.get(), ["bronze/prices_daily"], partition_range=price_range(settings), log=print)


def bronze_stage(
    settings: Settings,
    instance: dg.DagsterInstance,
    log: Callable[[str], None],
    *,
    fmp_tickers: Sequence[str] | None = None,
) -> list[str]:
    """Every Bronze asset; the prices backfill runs alongside EDGAR and FMP, as Dagster would run them.

    ``fmp_tickers``: the companies to load from FMP (default: the universe).

    The sources are independent (different pools), and EDGAR mostly waits on SEC's rate limit, so a
    deployment's daemon runs these backfills concurrently; here the prices run gets a second process
    (Dagster captures a run's output per process, so two in-process runs cannot share one).
    """
    failures: list[str] = []
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads or open handles
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        log("bronze: market data (prices, in a second process), SEC EDGAR, FMP fundamentals")
        prices = pool.submit(_prices_stage)
        failures += _run(instance, ["bronze/sec_company_tickers"], partition_key=None, log=log)
        failures += run_companies(instance, EDGAR_COMPANY_ASSETS, settings.universe, log=log)
        from finance_assets.fmp.assets import FMP_ASSET_KEYS

        if settings.replay or settings.fmp_api_key:
            fmp = settings.universe if fmp_tickers is None else fmp_tickers
            failures += run_companies(instance, list(FMP_ASSET_KEYS), fmp, label="bronze/fmp_* (6 tables)", log=log)
        else:
            log("  skipped FMP: FMP_API_KEY is not set (export it to include FMP fundamentals; nothing else needs it)")
        try:
            failures += prices.result()
        except Exception as exc:  # the child died before it could report (e.g. killed, import error)
            failures.append(f"bronze/prices_daily: the prices process failed: {exc!r}")
            log(f"  FAILED {failures[-1]}")
    return failures


def holdings_stage(settings: Settings, instance: dg.DagsterInstance, log: Callable[[str], None]) -> list[str]:
    """13F filings of the reference managers (before dbt: the holdings models read their Bronze tables)."""
    from finance_assets.edgar.holdings_demo import discovery_runs, document_runs, skipped_documents

    log("bronze: institutional holdings (13F-HR cover pages and information tables)")
    failures: list[str] = []
    if not settings.replay:  # live: find every 13F-HR of the managers first
        for selection, options in discovery_runs(instance):
            failures += _run(instance, selection, log=log, **options)
    for selection, options in document_runs(instance):
        failures += _run(instance, selection, log=log, **options)
    for line in skipped_documents():
        log(line)
    return failures


def dbt_stage(instance: dg.DagsterInstance, log: Callable[[str], None]) -> list[str]:
    from finance_assets.transform.assets import dbt_selection

    log("silver + gold: dbt build (after every Bronze partition)")
    selection = dbt_selection()
    return _run(instance, selection, label=f"dbt build ({len(selection)} models)", log=log)


def materialize_all(settings: Settings, log: Callable[[str], None] = print) -> list[str]:
    from finance_assets.transform.project import prepare_manifest

    prepare_manifest(force=True)  # dbt parse before the graph loads: the dbt assets come from the manifest
    instance = dg.DagsterInstance.get()
    failures = bronze_stage(settings, instance, log)
    failures += holdings_stage(settings, instance, log)
    failures += dbt_stage(instance, log)
    log("features: feature tables, Feast registry, online store (after Gold)")
    from finance_assets.features.assets import feature_selection

    failures += _run(instance, feature_selection(), label="feature tables + feast registry + online", log=log)
    log("ml: training set, return model (Optuna + MLflow; `make mlflow-ui`), predictions, live performance")
    from finance_assets.ml.demo import demo_runs

    last_price_date = date.fromisoformat(price_range(settings)[1])
    for selection, options in demo_runs(settings, last_price_date):
        failures += _run(instance, selection, log=log, **options)
    return failures
