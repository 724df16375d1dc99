"""The demo graph in stages, materialised in order into the configured Dagster instance.

`make demo` runs this; each stage is what a data engineer would launch from the UI (one run per company
partition, as a backfill would), so the runs show up in `make dev` afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import dagster as dg

from finance_assets.core.settings import Settings


def _run(
    instance: dg.DagsterInstance,
    selection: Sequence[str],
    *,
    partition_key: str | None,
    log: Callable[[str], None],
) -> list[str]:
    from finance_assets.definitions import defs

    label = f"{', '.join(selection)}" + (f" [{partition_key}]" if partition_key else "")
    started = time.monotonic()
    result = dg.materialize(
        list(defs.assets or []),
        selection=list(selection),
        partition_key=partition_key,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        tags={"lakehouse/launched_by": "demo"},
    )
    failures = [f"{label}: step {e.step_key} failed" for e in result.get_step_failure_events()]
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failures.append(f"{label}: check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    rows = {
        m.asset_key.to_user_string(): m.materialization.metadata.get("dagster/row_count")
        for m in result.get_asset_materialization_events()
    }
    counts = ", ".join(f"{k}={getattr(v, 'value', v)}" for k, v in rows.items())
    status = "ok" if not failures else "FAILED"
    log(f"  {status:<6} {label:<70} {time.monotonic() - started:6.1f}s  {counts}")
    return failures


def materialize_all(settings: Settings, log: Callable[[str], None] = print) -> list[str]:
    instance = dg.DagsterInstance.get()
    failures: list[str] = []
    log("bronze: SEC EDGAR")
    failures += _run(instance, ["bronze/sec_company_tickers"], partition_key=None, log=log)
    for ticker in settings.universe:
        failures += _run(
            instance, ["bronze/edgar_filings", "bronze/edgar_company_facts"], partition_key=ticker, log=log
        )
    return failures
