"""Partition sets shared across domains, so every layer keys companies and dates the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from finance_assets.core.companies import companies_check_spec
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR
from finance_assets.core.settings import PRICES_PARTITIONS_START

# Companies are keyed by ticker. UNIVERSE registers them (see bronze/sec_company_tickers); more can be
# added in the UI (asset page -> Partitions -> "Add partition") or with `dagster` CLI.
companies_partitions = dg.DynamicPartitionsDefinition(name="companies")

# A backfill over many companies runs them this many at a time: a Dagster run costs seconds of fixed
# overhead (process, event log, two Iceberg commits), a company's fetch and parse milliseconds; a bound
# keeps one run's memory and the blast radius of one bad company small.
COMPANIES_PER_RUN = 100

# Prices are partitioned by month, from the first month the demo loads (PRICES_PARTITIONS_START, the start
# of the recorded daily files the lakehouse reads). Why months, not days: a backfill of the recorded range is
# ~230 partitions instead of ~4,900 weekdays, and Dagster's bookkeeping (one materialization event per
# partition, the partition status cache) dominated the demo's prices load at daily grain. A month is still
# small to re-load (idempotent overwrite of its dates); the daily schedule re-materialises the current month,
# which end_offset=1 makes a partition while it is in progress. A multi-month backfill is one run
# (single-run backfill policy on the asset). The start is a constant: a partition set must not change with
# the environment of whoever imports it (PRICES_START picks the range the demo loads).
prices_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PRICES_PARTITIONS_START.replace(day=1).isoformat(), end_offset=1
)


def company_asset(*, metadata: dict[str, Any] | None = None, **asset_args: Any) -> Callable[..., dg.AssetsDefinition]:
    """``@dg.asset`` for a table with one Iceberg partition per company, written through ``CompanyStep``.

    A run may cover a range of companies (``context.partition_keys``): the asset loads each and
    :class:`finance_assets.core.companies.CompanyStep` replaces exactly the good companies' rows in one atomic
    commit and fails exactly the bad companies' partitions (its check ``companies_loaded`` names them).
    Readers load the table through the Iceberg IO manager.
    """
    key = asset_args["key"]
    asset_args["check_specs"] = [*asset_args.get("check_specs", []), companies_check_spec(key)]
    return dg.asset(
        partitions_def=companies_partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(COMPANIES_PER_RUN),
        io_manager_key="iceberg_io_manager",
        metadata={PARTITION_EXPR: "ticker", PARTITION_BY: ["identity(ticker)"], **(metadata or {})},
        **asset_args,
    )


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover partitions ``first``..``last`` (what a single-run backfill sets)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def partition_ranges(ordered: Sequence[str], wanted: Sequence[str], max_per_run: int | None) -> list[tuple[str, str]]:
    """``wanted`` as the fewest runs of contiguous keys of ``ordered``, each of at most ``max_per_run`` keys.

    What a backfill launches under a ``multi_run(max_per_run)`` policy (``None``: one run, single-run policy);
    a key not in ``ordered`` is left out.
    """
    order = {key: i for i, key in enumerate(ordered)}
    positions = sorted({order[k] for k in wanted if k in order})
    runs: list[tuple[str, str]] = []
    start = previous = None
    for position in positions:
        full = max_per_run is not None and start is not None and position - start >= max_per_run
        if start is None or position != previous + 1 or full:
            if start is not None:
                runs.append((ordered[start], ordered[previous]))  # type: ignore[index]
            start = position
        previous = position
    if start is not None:
        runs.append((ordered[start], ordered[previous]))  # type: ignore[index]
    return runs


def company_runs(instance: dg.DagsterInstance, tickers: Sequence[str]) -> list[tuple[str, str]]:
    """``tickers`` as the fewest partition ranges a single run each can take (what a backfill launches).

    Ranges follow the order companies were registered in; a ticker not registered is left out (the
    ``universe_resolves`` check of ``sec_company_tickers`` names it).
    """
    registered = instance.get_dynamic_partitions(companies_partitions.name)
    return partition_ranges(registered, tickers, COMPANIES_PER_RUN)
