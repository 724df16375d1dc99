"""Launching the named jobs as a backfill would: one run per partition range, recorded in the Dagster instance.

The demo (``finance_assets.pipeline``) and ``python -m finance_assets.cli materialize`` both go through
:func:`plan` and :func:`launch`, so their runs appear in the UI under the job's name with its tags, and a
range of partitions is split the way the assets' backfill policy says (up to ``COMPANIES_PER_RUN`` companies
per run; a price or prediction range in one run). Runs execute in this process (``execute_in_process``):
no code server or daemon is needed, and the UI can re-execute them because the job is in the code location.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from finance_assets.core.companies import COMPANIES_CHECK, FAILED_STATUSES, NOT_FOUND
from finance_assets.core.partitions import partition_ranges, range_tags
from finance_assets.maintenance.recovery import launch_tags, recover

LAUNCHED_BY = "lakehouse/launched_by"


class LaunchError(ValueError):
    """A launch request that names no job, an unknown asset or partition; the message says what to give."""


@dataclass(frozen=True)
class Launch:
    """One run of a named job: an asset subset (None: the whole job), a partition or a range, run config."""

    job: str
    selection: tuple[dg.AssetKey, ...] | None = None
    partition_key: str | None = None
    partition_range: tuple[str, str] | None = None
    run_config: Mapping[str, Any] | None = None
    label: str = ""

    def describe(self) -> str:
        what = self.label or self.job
        if self.partition_key:
            what += f" [{self.partition_key}]"
        if self.partition_range:
            what += f" [{self.partition_range[0]}..{self.partition_range[1]}]"
        return what


@dataclass
class Outcome:
    launch: Launch
    run_id: str
    seconds: float
    failures: list[str] = field(default_factory=list)
    rows: dict[str, int | None] = field(default_factory=dict)
    # failed WARN checks (data gaps scoped to companies: shown in the demo's summary, not failures)
    warnings: list[str] = field(default_factory=list)
    # the failures that are only companies the source has no data for (every status not_found): still
    # failed partitions in Dagster (re-run failed retries them), but a data gap, not an error, to the demo
    gaps: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """The failures that are not data gaps."""
        return [f for f in self.failures if f not in self.gaps]

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        counts = ", ".join(f"{k.split('/')[-1]}={v}" for k, v in self.rows.items())
        if len(self.rows) > 4:
            counts = f"{len(self.rows)} tables, {sum(v or 0 for v in self.rows.values()):,} rows"
        status = "ok" if self.ok else "FAILED"
        return f"  {status:<6} {self.launch.describe():<70} {self.seconds:6.1f}s  {counts}"


def job_for(defs: dg.Definitions, keys: Sequence[dg.AssetKey]) -> str:
    """The smallest named job that materialises all of ``keys`` (an error lists the jobs if none does)."""
    graph = defs.resolve_asset_graph()
    unknown = [k.to_user_string() for k in keys if not graph.has(k)]
    if unknown:
        raise LaunchError(
            f"no asset {', '.join(unknown)} in the code location (asset keys look like bronze/edgar_filings)."
        )
    candidates = []
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        covered = set(job.asset_layer.executable_asset_keys)
        if set(keys) <= covered:
            candidates.append((len(covered), job.name))
    if not candidates:
        jobs = ", ".join(sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")))
        raise LaunchError(
            f"no single job materialises {', '.join(k.to_user_string() for k in keys)} (different partitioning?); "
            f"launch them separately. Jobs: {jobs}."
        )
    return min(candidates)[1]


def plan(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    *,
    selection: Sequence[dg.AssetKey] | None = None,
    partition_keys: Sequence[str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    label: str = "",
) -> list[Launch]:
    """The runs a backfill of ``partition_keys`` of ``job`` (or its ``selection``) launches.

    Keys are split into contiguous ranges of at most the selected assets' ``max_partitions_per_run``; a
    single-run policy (or none) makes one run of the whole range.
    """
    job_def = defs.resolve_job_def(job)
    keys = tuple(selection) if selection else None
    assets = sorted(keys or job_def.asset_layer.executable_asset_keys)
    label = label or (", ".join(k.to_user_string() for k in assets) if len(assets) <= 3 else job)
    partitions_def = job_def.partitions_def
    if partitions_def is None:
        if partition_keys:
            raise LaunchError(f"job {job} is not partitioned: leave out --partition/--partition-range.")
        return [Launch(job, keys, run_config=run_config, label=label)]
    if not partition_keys:
        raise LaunchError(f"job {job} is partitioned: give --partition KEY or --partition-range FIRST...LAST.")
    ordered = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    unknown = sorted(set(partition_keys) - set(ordered))
    if unknown:
        raise LaunchError(
            f"{', '.join(unknown)}: not a partition of job {job} (a company not registered yet: materialise "
            "bronze/sec_company_tickers with it in UNIVERSE, or add the partition in the UI)."
        )
    graph = defs.resolve_asset_graph()
    policies = [graph.get(k).backfill_policy for k in assets]
    limits = [p.max_partitions_per_run for p in policies if p is not None and p.max_partitions_per_run]
    launches = []
    for first, last in partition_ranges(ordered, partition_keys, min(limits) if limits else None):
        # the job's own config (e.g. edgar_bulk_load's source), as a job backfill passes it to each run
        config = run_config
        if config is None and job_def.partitioned_config is not None:
            config = job_def.partitioned_config.get_run_config_for_partition_key(first) or None
        if first == last:
            launches.append(Launch(job, keys, partition_key=first, run_config=config, label=label))
        else:
            launches.append(Launch(job, keys, partition_range=(first, last), run_config=config, label=label))
    return launches


def keys_in_range(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, first: str, last: str) -> list[str]:
    """The partition keys of ``job`` from ``first`` to ``last`` (inclusive), in the partition set's order."""
    partitions_def = defs.resolve_job_def(job).partitions_def
    if partitions_def is None:
        raise LaunchError(f"job {job} is not partitioned: leave out --partition-range.")
    ordered = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    missing = [k for k in (first, last) if k not in ordered]
    if missing:
        raise LaunchError(f"{', '.join(missing)}: not a partition of job {job}.")
    start, end = ordered.index(first), ordered.index(last)
    if end < start:
        raise LaunchError(f"{first}...{last} ends before it starts: give the earlier key first ({last}...{first}).")
    return list(ordered[start : end + 1])


def failed_partitions(defs: dg.Definitions, instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey]) -> list[str]:
    """The partitions Dagster shows as failed for any of ``keys`` (what "re-execute failed" would retry).

    A company run fails exactly its bad companies' partitions (see ``core/companies.py``), so these are the
    companies to retry once the source is fixed, in the partition set's order.
    """
    graph = defs.resolve_asset_graph()
    failed: set[str] = set()
    ordered: list[str] = []
    for key in keys:
        partitions_def = graph.get(key).partitions_def
        if partitions_def is None:
            raise LaunchError(f"{key.to_user_string()} is not partitioned: --failed needs partitioned assets.")
        ordered = list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))
        status = instance.get_status_by_partition(key, ordered, partitions_def) or {}
        failed |= {k for k, s in status.items() if s == dg.AssetPartitionStatus.FAILED}
    return [k for k in ordered if k in failed]


def launch(defs: dg.Definitions, instance: dg.DagsterInstance, request: Launch, *, launched_by: str) -> Outcome:
    """Run ``request`` to completion in this process; failed steps and failed ERROR checks are its failures."""
    tags = {LAUNCHED_BY: launched_by, **launch_tags()}  # host + pid: how recover() judges this run later
    if request.partition_range:  # one run over a range of partitions, as a backfill's run does
        tags |= range_tags(*request.partition_range)
    started = time.monotonic()
    result = defs.resolve_job_def(request.job).execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=list(request.selection) if request.selection else None,
        run_config=dict(request.run_config) if request.run_config else None,
        tags=tags,
        raise_on_error=False,
    )
    outcome = Outcome(request, result.run_id, time.monotonic() - started)
    label = request.describe()
    for event in result.get_step_failure_events():
        user = event.step_failure_data.user_failure_data
        failed = user.metadata.get(FAILED_STATUSES) if user else None
        statuses: dict[str, str] = getattr(failed, "data", None) or {}
        named = ", ".join(f"{key} ({status})" for key, status in statuses.items())
        which = f" for {named}" if statuses else f": {_first_line(event)}"
        outcome.failures.append(f"{label}: step {event.step_key} failed{which}")
        if statuses and set(statuses.values()) == {NOT_FOUND}:  # only companies the source has no data for
            outcome.gaps.append(outcome.failures[-1])
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            outcome.failures.append(f"{label}: check {check}")
        else:
            named = {
                k: getattr(v, "value", v)
                for k, v in evaluation.metadata.items()
                if k.startswith(("tickers_", "failed_companies", "empty_partitions", "unresolved", "missing_pages"))
            }
            detail = "; ".join(f"{k}: {v}" for k, v in named.items())
            outcome.warnings.append(f"{label}: check {check}" + (f" ({detail})" if detail else ""))
    steps_failed = [f for f in outcome.failures if ": step " in f]
    if steps_failed and set(steps_failed) <= set(outcome.gaps):  # the companies check names the same gaps
        outcome.gaps += [f for f in outcome.failures if f.endswith(f":{COMPANIES_CHECK}")]
    for event in result.get_asset_materialization_events():
        count = event.materialization.metadata.get("dagster/row_count")
        outcome.rows[event.asset_key.to_user_string()] = getattr(count, "value", count)
    return outcome


def _first_line(event: dg.DagsterEvent) -> str:
    """The error a failed step raised, on one line (the full traceback is in the run's event log)."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None and "DagsterExecutionStepExecutionError" in error.cls_name:
        error = error.cause
    message = (error.message if error is not None else "").strip().splitlines()
    return message[0][:300] if message else "see the run's event log"


def launch_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    requests: Sequence[Launch],
    *,
    launched_by: str,
    log: Callable[[str], None],
) -> list[str]:
    """Every request in order, each reported on one line; a failed run does not stop the next. Failures.

    First, what a killed launch left behind is cleaned up (:func:`recover`: its runs failed, its pool slots
    freed), so these runs never wait for a slot that a dead process holds.
    """
    recover(instance, log=log)
    failures: list[str] = []
    for request in requests:
        outcome = launch(defs, instance, request, launched_by=launched_by)
        log(outcome.line())
        failures += outcome.failures
    return failures
