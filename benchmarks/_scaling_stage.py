"""One stage of the scaling benchmark, in a process of its own: ``python -m benchmarks._scaling_stage STAGE``.

``benchmarks/scaling.py`` measures each stage from outside (wall time, peak RSS of the process tree), so a
stage's figures are its own: no stage inherits the memory an earlier one left in the interpreter. Settings
come from the environment (``UNIVERSE``, ``LAKEHOUSE_HOME``, ``REPLAY_DIR``...), as ``make demo`` passes them.
The last line printed is ``RESULT <json>``: the stage's in-process seconds, failures and what it measured.

Stages, all through the demo's code path (:mod:`finance_assets.pipeline`, :mod:`finance_assets.launch`: named
jobs, company ranges as a backfill splits them, runs recorded in the instance):

* ``bronze``: the ticker map; EDGAR filings + XBRL facts of every company through the job ``edgar_bulk_load``
  (SEC's nightly archives: the initial load of a market; the per-company API would need 2 GETs per company at
  SEC's 10 requests/s, 34 minutes for 10,000 companies before any parsing); its company runs (100 companies
  each) spread over ``SCALING_BRONZE_PROCESSES`` worker processes (default 2, the machine's cores; the
  ``sec_edgar`` pool raised to as many slots), each
  replaced after ``SCALING_RUNS_PER_PROCESS`` runs, the way a run launcher gives every run a fresh process;
  the prices backfill in the same pool; FMP for the first company; the 13F filings.
* ``dbt``: the ``transform`` job (every dbt model).
* ``features``: the ``features`` job.
* ``incremental``: a day on which the companies of ``SCALING_CHANGED`` changed at the source: the per-company
  job ``bronze_edgar_companies`` for them (what the ``edgar_refresh_changed`` sensor launches), the
  ``transform`` job (its company models rebuild only the companies whose Bronze changed), the ``features``
  job. Rows written per table are read from the Iceberg snapshots the stage added.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import dagster as dg

from finance_assets.launch import Launch, Outcome

_WORKER: dict[str, Any] = {}
SEC_POOL = "sec_edgar"


def _setup() -> tuple[Any, dg.Definitions, dg.DagsterInstance]:
    from finance_assets.core.entry import ignore_known_warnings, stop_with_parent
    from finance_assets.core.settings import Settings
    from finance_assets.definitions import build_definitions

    ignore_known_warnings()
    stop_with_parent()
    settings = Settings.from_env()
    return settings, build_definitions(settings), dg.DagsterInstance.get()


def _worker_init() -> None:
    _WORKER["settings"], _WORKER["defs"], _WORKER["instance"] = _setup()


def _worker_launch(request: Launch) -> Outcome:
    from finance_assets.launch import launch
    from finance_assets.pipeline import DEMO

    outcome = launch(_WORKER["defs"], _WORKER["instance"], request, launched_by=DEMO)
    print(outcome.line(), flush=True)
    return outcome


def _snapshot_ids(settings: Any) -> dict[str, set[int]]:
    from finance_assets.resources import resources_for

    catalog = resources_for(settings, secrets="values")["lakehouse"].lakehouse().catalog
    tables: dict[str, set[int]] = {}
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            table = catalog.load_table(identifier)
            tables[".".join(identifier)] = {s.snapshot_id for s in table.snapshots()}
    return tables


def _rows_written(settings: Any, before: dict[str, set[int]]) -> dict[str, dict[str, int]]:
    """Per table, the records the snapshots added since ``before`` wrote and deleted (Iceberg summaries)."""
    from finance_assets.resources import resources_for

    catalog = resources_for(settings, secrets="values")["lakehouse"].lakehouse().catalog
    written: dict[str, dict[str, int]] = {}
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier)
            table = catalog.load_table(identifier)
            added = [s for s in table.snapshots() if s.snapshot_id not in before.get(name, set())]
            if not added:
                continue
            total = {"snapshots": len(added), "added_records": 0, "deleted_records": 0, "table_records": 0}
            for snapshot in added:
                summary = snapshot.summary.additional_properties if snapshot.summary else {}
                total["added_records"] += int(summary.get("added-records", 0))
                total["deleted_records"] += int(summary.get("deleted-records", 0))
            current = table.current_snapshot()
            if current is not None and current.summary is not None:
                total["table_records"] = int(current.summary.additional_properties.get("total-records", 0))
            written[name] = total
    return written


def bronze(settings: Any, defs: dg.Definitions, instance: dg.DagsterInstance, log: Any) -> dict[str, Any]:
    from finance_assets.edgar.schedules import BULK_LOAD_JOB
    from finance_assets.launch import keys_in_range, plan
    from finance_assets.pipeline import company_stage, holdings_stage, price_range, run_stage

    failures = run_stage(defs, instance, "bronze: SEC ticker map", plan(defs, instance, "bronze_reference"), log)
    tickers = settings.universe.split(",")
    processes = int(os.environ.get("SCALING_BRONZE_PROCESSES", "2"))
    runs_per_process = int(os.environ.get("SCALING_RUNS_PER_PROCESS", "10"))
    first, last = price_range(settings)
    prices = plan(
        defs, instance, "bronze_prices", partition_keys=keys_in_range(defs, instance, "bronze_prices", first, last)
    )
    edgar = plan(defs, instance, BULK_LOAD_JOB, partition_keys=tickers)
    # one sec_edgar slot per worker, as docs/operations.md scales a source out ("dagster instance concurrency set
    # sec_edgar N"): with the template's one slot the second worker's run waits for the first's steps (a bulk
    # step holds its slot for its whole parse and write, while the SEC budget still limits the requests)
    instance.event_log_storage.set_concurrency_slots(SEC_POOL, processes)
    spawn = multiprocessing.get_context("spawn")
    started = time.monotonic()
    with ProcessPoolExecutor(
        processes, mp_context=spawn, initializer=_worker_init, max_tasks_per_child=runs_per_process
    ) as pool:
        # the first archive run alone: it downloads both archives once; the others revalidate them (304)
        outcomes = [pool.submit(_worker_launch, edgar[0]).result()]
        outcomes += list(pool.map(_worker_launch, [*prices, *edgar[1:]]))
    bulk_s = time.monotonic() - started
    for outcome in outcomes:
        failures += outcome.failures
    # FMP is recorded for AAPL only (copied under the first synthetic ticker): the others would only 404
    failures += company_stage(defs, instance, "bronze_fmp_companies", tickers[:1], label="FMP", log=log)
    failures += holdings_stage(settings, defs, instance, log)
    return {
        "failures": failures,
        "edgar_runs": len(edgar),
        "price_runs": len(prices),
        "bronze_processes": processes,
        "runs_per_process": runs_per_process,
        "edgar_and_prices_s": bulk_s,
        "rows": {
            key: sum(int(o.rows.get(key) or 0) for o in outcomes)
            for key in ("bronze/edgar_filings", "bronze/edgar_company_facts")
        },
    }


def dbt(settings: Any, defs: dg.Definitions, instance: dg.DagsterInstance, log: Any) -> dict[str, Any]:
    from finance_assets.pipeline import dbt_stage

    return {"failures": dbt_stage(defs, instance, log)}


def features(settings: Any, defs: dg.Definitions, instance: dg.DagsterInstance, log: Any) -> dict[str, Any]:
    from finance_assets.launch import plan
    from finance_assets.pipeline import run_stage

    return {"failures": run_stage(defs, instance, "features", plan(defs, instance, "features"), log)}


def incremental(settings: Any, defs: dg.Definitions, instance: dg.DagsterInstance, log: Any) -> dict[str, Any]:
    from finance_assets.pipeline import company_stage

    changed = os.environ["SCALING_CHANGED"].split(",")
    before = _snapshot_ids(settings)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    failures = company_stage(defs, instance, "bronze_edgar_companies", changed, label="EDGAR (changed)", log=log)
    seconds["bronze_s"] = time.monotonic() - started
    started = time.monotonic()
    failures += dbt(settings, defs, instance, log)["failures"]
    seconds["dbt_s"] = time.monotonic() - started
    started = time.monotonic()
    failures += features(settings, defs, instance, log)["failures"]
    seconds["features_s"] = time.monotonic() - started
    return {
        "failures": failures,
        "changed_companies": changed,
        **seconds,
        "rows_written": _rows_written(settings, before),
    }


def _dbt_slowest(n: int = 12) -> list[tuple[str, float]]:
    from finance_assets.transform.project import DBT_PROJECT_DIR

    results = (DBT_PROJECT_DIR / "target").glob("*/run_results.json")
    latest = max(results, key=lambda p: p.stat().st_mtime, default=None)
    if latest is None:
        return []
    nodes = json.loads(latest.read_text())["results"]
    return sorted(((r["unique_id"], round(r["execution_time"], 1)) for r in nodes), key=lambda x: -x[1])[:n]


STAGES = {"bronze": bronze, "dbt": dbt, "features": features, "incremental": incremental}


def main(stage: str) -> None:
    t0 = time.monotonic()
    settings, defs, instance = _setup()
    startup = time.monotonic() - t0
    profile_dir = os.environ.get("SCALING_PROFILE_DIR")
    profiler = None
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    measured = STAGES[stage](settings, defs, instance, lambda line: print(line, flush=True))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.path.join(profile_dir, f"{stage}.prof"))
    if stage in ("dbt", "incremental"):
        measured["dbt_slowest_nodes"] = _dbt_slowest()
    if stage == "bronze":
        from finance_assets.core.names import RAW_PAYLOADS_TABLE
        from finance_assets.resources import resources_for

        index = resources_for(settings, secrets="values")["lakehouse"].lakehouse().read(RAW_PAYLOADS_TABLE)
        measured["payloads_by_asset"] = dict(index.group_by("asset_key").len().sort("asset_key").iter_rows())
    measured |= {"startup_s": startup, "in_process_s": time.monotonic() - t0}
    print("RESULT " + json.dumps(measured, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
