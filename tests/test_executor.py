"""DAGSTER_EXECUTOR: the executor every job of the code location gets, and launches that ignore it.

- the default is Dagster's own (multiprocess, a run may still ask for in_process), as before the setting;
- `k8s` gives every job dagster-k8s's executor with the configured `max_concurrent` and nothing that would
  stop step pods inheriting the run pod's image, env and secrets (resolved without a cluster);
- `make demo` / `cli materialize` still run under `k8s`: they execute in process.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.system_config.objects import ResolvedRunConfig

from finance_assets.core.settings import Settings
from finance_assets.definitions import build_definitions

# Executor fields that would replace what a step pod inherits from its run pod (image, env, secrets, place).
INHERITED = {
    "job_image",
    "image_pull_policy",
    "image_pull_secrets",
    "service_account_name",
    "env_config_maps",
    "env_secrets",
    "env_vars",
    "job_namespace",
    "load_incluster_config",
    "kubeconfig_file",
    "resources",
    "step_k8s_config",
}


def _jobs(env: dict[str, str]) -> list[dg.JobDefinition]:
    jobs = build_definitions(Settings.from_env(env)).resolve_all_job_defs()
    assert len(jobs) > 10  # the named jobs and Dagster's implicit asset job
    return list(jobs)


def test_default_executor_is_dagsters_multiprocess_one_for_every_job() -> None:
    for job in _jobs({}):
        assert job.executor_def is dg.multi_or_in_process_executor, job.name
        execution = ResolvedRunConfig.build(job, {}).execution
        assert list(execution.execution_engine_config) == ["multiprocess"], job.name
    # a run can still choose in_process, as tests/prod's `dagster job execute --config-json` do
    [job, *_] = _jobs({"DAGSTER_EXECUTOR": "multiprocess"})
    chosen = ResolvedRunConfig.build(job, {"execution": {"config": {"in_process": {}}}}).execution
    assert list(chosen.execution_engine_config) == ["in_process"]


def test_in_process_setting_gives_every_job_the_in_process_executor() -> None:
    for job in _jobs({"DAGSTER_EXECUTOR": "in_process"}):
        assert job.executor_def is dg.in_process_executor, job.name


def test_k8s_setting_gives_every_job_the_k8s_job_executor_with_its_max_concurrent() -> None:
    from dagster_k8s import k8s_job_executor

    for job in _jobs({"DAGSTER_EXECUTOR": "k8s", "DAGSTER_K8S_MAX_CONCURRENT": "3"}):
        executor = job.executor_def
        assert executor.name == "k8s", job.name
        assert executor.executor_creation_fn is k8s_job_executor.executor_creation_fn, job.name
        config = ResolvedRunConfig.build(job, {}).execution.execution_engine_config
        assert config["max_concurrent"] == 3, job.name
        assert not INHERITED & set(config), f"{job.name}: {sorted(INHERITED & set(config))} override the run pod's"
        assert config.get("volumes", []) == [] and config.get("volume_mounts", []) == [], job.name


def test_k8s_max_concurrent_defaults_to_four_pods_per_run() -> None:
    [job, *_] = _jobs({"DAGSTER_EXECUTOR": "k8s"})
    assert ResolvedRunConfig.build(job, {}).execution.execution_engine_config["max_concurrent"] == 4


def test_cli_materialize_runs_in_process_with_the_k8s_setting(
    lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a cluster the k8s executor cannot start (no in-cluster config): the launch must not use it."""
    from finance_assets.cli import main

    monkeypatch.setenv("DAGSTER_EXECUTOR", "k8s")
    monkeypatch.setenv("UNIVERSE", "AAPL,MSFT")
    assert build_definitions(Settings.from_env()).resolve_job_def("bronze_reference").executor_def.name == "k8s"
    assert main(["materialize", "--select", "bronze/sec_company_tickers"]) == 0, capsys.readouterr().out[-3000:]
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
    assert run.job_name == "bronze_reference" and run.status == dg.DagsterRunStatus.SUCCESS
