"""Crash recovery without a human: a SIGKILLed EDGAR run does not wedge the `sec_edgar` pool.

Real processes, the real instance: ``python -m finance_assets.cli materialize`` runs the EDGAR assets of AAPL
against the replayed SEC (REPLAY_DIR) in a subprocess, on the embedded Dagster instance that ``cli init``
writes. The test SIGKILLs it while its step holds the pool's one slot (before the fix, every later EDGAR
run then waited forever: "Step blocked by limit for pool sec_edgar"), then launches the next run the
ordinary way and requires it to finish within a bound, with no manual step in between.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from finance_assets.core.settings import Settings, environment
from finance_assets.maintenance.recovery import PID_TAG, recover, run_states

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
POOL = "sec_edgar"
EDGAR = "bronze/edgar_filings,bronze/edgar_company_facts"
NEXT_RUN_BOUND_S = 240  # the next run must complete within this (imports and the run itself included)


def _env(home: Path, replay_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DAGSTER_HOME", "REPLAY_"))}
    env |= {
        "LAKEHOUSE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "REPLAY_DIR": str(replay_dir),
        "UNIVERSE": "AAPL",
    }
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "finance_assets.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def home(tmp_path: Path, replay_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An embedded lakehouse with AAPL registered (bronze/sec_company_tickers materialised by the CLI)."""
    home = tmp_path / "lakehouse"
    env = _env(home, replay_dir)
    proc = _cli(env, "materialize", "--select", "bronze/sec_company_tickers")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    with environment({k: env[k] for k in ("LAKEHOUSE_HOME", "DAGSTER_HOME", "REPLAY_DIR", "UNIVERSE")}):
        yield home, env


def _claimed(instance: dg.DagsterInstance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots]


def _kill_while_holding_the_slot(env: dict[str, str]) -> str:
    """Start an EDGAR run for AAPL and SIGKILL it while it holds the sec_edgar slot; its run id."""
    instance = dg.DagsterInstance.get()
    proc = _cli(env, "materialize", "--select", EDGAR, "--partition", "AAPL")
    deadline = time.monotonic() + 240
    while not _claimed(instance):
        assert proc.poll() is None, f"the run ended before it was killed:\n{proc.stdout.read()[-3000:]}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the EDGAR step never took its pool slot"
        time.sleep(0.02)
    [run_id] = _claimed(instance)
    # alive: recovery must leave a run whose process is running alone
    state = next(s for s in recover(instance).states if s.run_id == run_id)
    assert not state.dead and proc.pid in state.alive
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED  # wedged, as in the issue
    assert run.tags[PID_TAG] == str(proc.pid)
    assert _claimed(instance) == [run_id]
    return run_id


def test_a_sigkilled_edgar_run_is_followed_by_a_run_that_completes_without_manual_action(
    home: tuple[Path, dict[str, str]],
) -> None:
    _, env = home
    instance = dg.DagsterInstance.get()
    dead = _kill_while_holding_the_slot(env)

    started = time.monotonic()
    proc = _cli(env, "materialize", "--select", EDGAR, "--partition", "AAPL")
    out, _ = proc.communicate(timeout=NEXT_RUN_BOUND_S)  # before the fix: blocked on the pool forever
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, out[-3000:]
    assert f"recovered run {dead}" in out and f"held by run {dead}" in out
    print(f"next run completed {elapsed:.1f}s after launch (bound {NEXT_RUN_BOUND_S}s)")

    old = instance.get_run_by_id(dead)
    assert old is not None and old.status == dg.DagsterRunStatus.FAILURE
    [latest] = instance.get_runs(dg.RunsFilter(job_name="bronze_edgar_companies"), limit=1)
    assert latest.run_id != dead and latest.status == dg.DagsterRunStatus.SUCCESS
    assert _claimed(instance) == []
    # and the rows landed: AAPL's facts, from the recorded payload
    from finance_assets.core.iceberg import IcebergLakehouse

    facts = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.edgar_company_facts")
    assert facts.height > 0 and set(facts.get_column("ticker").unique()) == {"AAPL"}


def test_cli_recover_lists_the_dead_run_and_its_slot_then_cleans_them(home: tuple[Path, dict[str, str]]) -> None:
    _, env = home
    instance = dg.DagsterInstance.get()
    dead = _kill_while_holding_the_slot(env)

    proc = _cli(env, "recover", "--dry-run")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "dead" in out and dead in out and f"{POOL}:" in out and "dry run: nothing changed" in out
    assert _claimed(instance) == [dead]

    proc = _cli(env, "recover")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert f"recovered run {dead}" in out
    assert _claimed(instance) == []
    run = instance.get_run_by_id(dead)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    assert [s for s in run_states(instance) if s.dead] == []


def test_sigterm_stops_a_launch_and_leaves_no_run_started_or_slot_taken(home: tuple[Path, dict[str, str]]) -> None:
    _, env = home
    instance = dg.DagsterInstance.get()
    proc = _cli(env, "materialize", "--select", EDGAR, "--partition", "AAPL")
    deadline = time.monotonic() + 240
    while not _claimed(instance):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    [run_id] = _claimed(instance)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)  # stops, instead of ignoring SIGTERM
    assert proc.returncode != 0, out[-2000:]
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.is_finished, out[-2000:]
    assert _claimed(instance) == []  # released on the way out, no recover needed


def test_every_instance_config_runs_monitoring_and_frees_slots_of_finished_runs(tmp_path: Path) -> None:
    from finance_assets.cli import DAGSTER_YAML_LOCAL, DAGSTER_YAML_PROD

    for text in (DAGSTER_YAML_LOCAL, DAGSTER_YAML_PROD.read_text()):
        monitoring = yaml.safe_load(text)["run_monitoring"]
        assert monitoring["enabled"] is True
        assert monitoring["free_slots_after_run_end_seconds"] == 30 and monitoring["poll_interval_seconds"] == 30
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML_LOCAL)
    instance = dg.DagsterInstance.from_config(str(tmp_path))  # the embedded instance loads with it
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30
