"""Crash recovery: runs whose process died are marked failed and their pool slots freed, without a human.

Who notices a dead run, and how fast (the bound):
- **Runs launched by the daemon or the UI** (``make dev``, prod): the code server watches each run process it
  started and marks a run whose process died failed within a second (Dagster's ``DefaultRunLauncher`` /
  gRPC server); on Kubernetes the monitoring daemon asks the run launcher. The instance's
  ``run_monitoring`` (embedded ``dagster.yaml`` written by ``cli init``, and ``deploy/dagster.yaml``) then
  frees the slots of every finished run after ``free_slots_after_run_end_seconds`` (30 s), checked every
  ``poll_interval_seconds`` (30 s): a dead run's ``sec_edgar`` slot is free again within about a minute.
- **Runs launched in-process** (``make demo``, ``cli materialize``, :mod:`finance_assets.launch`) have no
  daemon watching them. Each launch first calls :func:`recover`, so the next launch cleans up what a killed
  one left, before it waits for any slot: the bound is zero seconds after the next launch starts.
- ``python -m finance_assets.cli recover`` lists stuck runs and slots and cleans them, for the rare case
  (e.g. a run killed while nothing else is launched, and no daemon running).

How a dead run is recognised: Dagster records the process id of every event it writes (the run's own
process, each step worker's). A run in progress (STARTING, STARTED, CANCELING) whose recorded processes are
all gone is dead; so is a finished run still holding slots. Process ids are only meaningful on the machine
that ran them: runs tagged ``lakehouse/host`` (our launches) are judged on that host only, untagged runs only
when the instance itself is local (SQLite storage: the embedded profile runs everything on one machine).
A run with a live process is never touched; :func:`recover` with ``stop_orphans`` terminates the step
workers a dead launcher left running (Dagster's multiprocess executor starts them as separate processes)
and then fails their run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

HOST_TAG = "lakehouse/host"
PID_TAG = "lakehouse/pid"
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def launch_tags() -> dict[str, str]:
    """Tags that let :func:`recover` judge a run launched by this process (its host and process id)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def pid_alive(pid: int) -> bool:
    """True when ``pid`` is a running process on this machine (a zombie is not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class RunState:
    """One run in progress or holding pool slots, and what is known about its processes."""

    run_id: str
    job_name: str
    status: str
    slots: list[str] = field(default_factory=list)  # "<pool>:<step>" claimed
    pids: list[int] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)
    launcher_alive: bool | None = None  # the run's own process; None: unknown
    judged: bool = True  # False: its processes are on another machine

    @property
    def dead(self) -> bool:
        return self.judged and bool(self.pids) and not self.alive

    @property
    def orphaned_workers(self) -> bool:
        """The run's own process is gone but step workers it started still run."""
        return self.judged and self.launcher_alive is False and bool(self.alive)

    def line(self) -> str:
        where = "" if self.judged else " (processes on another host: left to run monitoring)"
        procs = f"processes {self.pids}, alive {self.alive or 'none'}" if self.pids else "no process recorded"
        slots = f", slots {', '.join(self.slots)}" if self.slots else ""
        return f"{self.run_id} {self.job_name} {self.status}: {procs}{slots}{where}"


@dataclass
class Recovery:
    states: list[RunState]
    failed: list[str] = field(default_factory=list)
    freed: list[str] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)


def _local_instance(instance: dg.DagsterInstance) -> bool:
    return "sqlite" in type(instance.run_storage).__name__.lower()


def _slots(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    claimed: dict[str, list[str]] = {}
    for key in sorted(storage.get_concurrency_keys()):
        for slot in storage.get_concurrency_info(key).claimed_slots:
            claimed.setdefault(slot.run_id, []).append(f"{key}:{slot.step_key}")
    return claimed


def run_states(instance: dg.DagsterInstance) -> list[RunState]:
    """Every run in progress, and every run holding or waiting for pool slots, with its processes."""
    slots = _slots(instance)
    waiting = (
        instance.event_log_storage.get_concurrency_run_ids()
        if instance.event_log_storage.supports_global_concurrency_limits
        else set()
    )
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS))
    runs = {r.dagster_run.run_id: r.dagster_run for r in records}
    for run_id in (set(slots) | waiting) - set(runs):
        run = instance.get_run_by_id(run_id)
        if run is not None:
            runs[run_id] = run
    host, local = socket.gethostname(), _local_instance(instance)
    states = []
    for run_id, run in runs.items():
        state = RunState(run_id, run.job_name, run.status.value, slots=slots.get(run_id, []))
        tagged_host = run.tags.get(HOST_TAG)
        state.judged = tagged_host == host if tagged_host else local
        launcher: int | None = int(run.tags[PID_TAG]) if PID_TAG in run.tags else None
        pids = {launcher} if launcher else set()
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is not None and event.pid is not None:
                pids.add(event.pid)
                if launcher is None and event.event_type == dg.DagsterEventType.RUN_START:
                    launcher = event.pid
        state.pids = sorted(pids)
        if state.judged:
            state.alive = [p for p in state.pids if pid_alive(p)]
            state.launcher_alive = None if launcher is None else launcher in state.alive
        states.append(state)
    return states


def recover(
    instance: dg.DagsterInstance,
    *,
    stop_orphans: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
) -> Recovery:
    """Fail every dead run and free its pool slots (and those of finished runs); what was done.

    ``stop_orphans``: also SIGTERM the step workers of runs whose launching process died (waiting up to
    10 s for them to exit), then fail those runs. ``dry_run``: only report.
    """
    say = log or (lambda _: None)
    result = Recovery(run_states(instance))
    for state in result.states:
        finished = state.status not in {s.value for s in IN_PROGRESS}
        if state.orphaned_workers and stop_orphans and not dry_run:
            _stop(state.alive)
            result.stopped += state.alive
            state.alive = [p for p in state.alive if pid_alive(p)]
        if not (state.dead or (finished and state.judged and not state.alive)):
            continue
        if dry_run:
            continue
        run = instance.get_run_by_id(state.run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(
                run,
                f"Marked failed by crash recovery: its processes {state.pids} are gone on {socket.gethostname()}.",
            )
            result.failed.append(state.run_id)
            say(f"  recovered run {state.run_id} ({state.job_name}): its process died; marked failed")
        if state.slots or instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(state.run_id)
            if state.slots:
                result.freed += state.slots
                say(f"  freed pool slot(s) {', '.join(state.slots)} held by run {state.run_id}")
    return result


def _stop(pids: Iterable[int], timeout: float = 10.0) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
