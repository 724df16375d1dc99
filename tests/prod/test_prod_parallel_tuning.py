"""Two processes tune one Optuna study on Postgres: no trial twice, both contribute, the trainer picks the best.

Why it matters: Optuna's answer to "tune on more than one machine" is several workers on one RDB storage.
That only works if the workers join the SAME study (the trainer names it after the data and the protocol,
so two pods on the same training set do), if the budget is the study's and not each worker's (otherwise k
workers run k x n_trials), and if the workers do not draw the same parameters (a seeded sampler's random
stream belongs to its process: two workers seeded alike evaluate every startup trial twice).

Each worker is a separate Python process running the project's :class:`~finance_assets.ml.training.Trainer`
tuning step (`Trainer.tune`, what `ml/return_model` runs) on the same synthetic training set, against a
fresh Postgres database for Optuna and one for MLflow (the session's ``pg_databases``, dropped at the end).
Then this process runs the whole trainer on the same data: the study is complete, so it runs no trial and
fits the best trial's parameters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from finance_assets.ml.resources import MlflowResource, OptunaResource
from finance_assets.ml.training import WORKER_ATTR, TrainConfig, Trainer
from prod.conftest import REPO_ROOT, PostgresDatabases

pytestmark = [pytest.mark.prod, pytest.mark.timeout(600)]

N_TRIALS = 12
WORKERS = 2
# a small protocol on the champion test's synthetic panel (10 names x 8 years, a learnable signal)
# Its own experiment: the session's MLflow database is the whole-graph test's too, whose MLflow server must create
# `return_model` with artifacts in the bucket (an experiment keeps the artifact location it was created with).
EXPERIMENT = "return_model_parallel_tuning"
CONFIG = {"n_trials": N_TRIALS, "n_folds": 2, "fold_months": 6, "holdout_months": 12, "min_train_months": 24}

# One worker: build the trainer as the asset does, say READY, wait for GO, tune, print what it did.
WORKER = r"""
import json, sys
from pathlib import Path
import mlflow
from finance_assets.ml.resources import MlflowResource, OptunaResource
from finance_assets.ml.training import TrainConfig, Trainer
from test_ml_champion import synthetic_training_data

tracking_uri, artifacts, optuna_url, scratch, config, name = sys.argv[1:]
client, experiment_id = MlflowResource(tracking_uri=tracking_uri, artifact_location=artifacts).configure(
    "return_model_parallel_tuning"  # EXPERIMENT
)
trainer = Trainer(
    synthetic_training_data(Path(scratch)),
    TrainConfig(**json.loads(config)),
    client=client,
    experiment_id=experiment_id,
    optuna_storage=OptunaResource(storage=optuna_url).storage_url(),
    run_name=name,
    tags={"test": name},
)
print("READY", flush=True)
assert sys.stdin.readline().strip() == "GO"
with mlflow.start_run(run_name=name, experiment_id=experiment_id):
    best, study, ran, total = trainer.tune()
print("RESULT " + json.dumps({"study": study, "ran": ran, "total": total, "best": best}), flush=True)
"""


def _worker_env() -> dict[str, str]:
    """This environment, with tests/ on the path (the worker imports the champion test's synthetic data)."""
    tests = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def test_two_processes_tune_one_study_without_duplicates_and_the_trainer_picks_its_best(
    pg_databases: PostgresDatabases, tmp_path: Path
) -> None:
    from test_ml_champion import synthetic_training_data

    optuna_url = pg_databases.url("optuna", "postgresql+psycopg2")
    tracking_uri = pg_databases.url("mlflow", "postgresql+psycopg2")
    artifacts = (tmp_path / "mlartifacts").as_uri()
    mlflow_resource = MlflowResource(tracking_uri=tracking_uri, artifact_location=artifacts)
    # the deployment migrates its databases once, before any worker starts (as `optuna storage upgrade` would)
    client, experiment_id = mlflow_resource.configure(EXPERIMENT)
    optuna.storages.RDBStorage(optuna_url)

    argv = [sys.executable, "-c", WORKER, tracking_uri, artifacts, optuna_url, str(tmp_path), json.dumps(CONFIG)]
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    workers = []
    for i, log in enumerate(logs):
        with log.open("w") as err:
            workers.append(
                subprocess.Popen(
                    [*argv, f"worker {i}"],
                    cwd=REPO_ROOT,
                    env=_worker_env(),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
    try:
        for worker, log in zip(workers, logs, strict=True):
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            assert line == "READY", f"worker did not start: {line!r}\n{log.read_text()[-3000:]}"
        for worker in workers:  # both start tuning together
            assert worker.stdin is not None
            worker.stdin.write("GO\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=480) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    reports: list[dict[str, Any]] = []
    for worker, (out, _), log in zip(workers, outputs, logs, strict=True):
        assert worker.returncode == 0, log.read_text()[-4000:]
        reports.append(json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT "))))

    # one study: the name comes from the data and the protocol, so both workers (and the trainer) joined it
    trainer = Trainer(
        synthetic_training_data(tmp_path),
        TrainConfig(**CONFIG),  # type: ignore[arg-type]
        client=client,
        experiment_id=experiment_id,
        optuna_storage=OptunaResource(storage=optuna_url).storage_url(),
        run_name="after the workers",
        tags={"test": "parallel tuning"},
    )
    name = trainer.study_name()
    assert {r["study"] for r in reports} == {name}
    assert optuna.get_all_study_names(optuna_url) == [name]
    study = optuna.load_study(study_name=name, storage=optuna_url)
    trials = study.trials
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(finished) == len(trials), [t.state for t in trials]  # nothing failed, nothing left running

    # no duplicated trials: distinct numbers, and each parameter set evaluated once
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    param_sets = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(param_sets)) == len(param_sets), "two trials evaluated the same parameters"
    # the budget is the study's: the workers together ran n_trials (a worker may finish its trial in flight)
    assert N_TRIALS <= len(trials) <= N_TRIALS + WORKERS - 1
    assert sum(r["ran"] for r in reports) == len(trials)

    # both workers contributed, at the same time
    pids = {f"{socket.gethostname()}:{w.pid}" for w in workers}
    by_worker = {pid: [t for t in trials if t.user_attrs.get(WORKER_ATTR) == pid] for pid in pids}
    assert set(t.user_attrs.get(WORKER_ATTR) for t in trials) == pids
    assert all(by_worker.values()), {pid: len(ts) for pid, ts in by_worker.items()}
    first, second = by_worker.values()
    assert any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete  # type: ignore[operator]
        for a in first
        for b in second
    ), "the workers' trials never overlapped in time"

    # the best trial, found independently from the stored values, is what the trainer picks
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(completed, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
    assert best.value == pytest.approx(min(t.value for t in completed))  # type: ignore[type-var]
    result = trainer.run()
    assert result.study_name == name
    assert result.trials_run == 0 and result.trials_total == len(trials)
    assert result.best_params == best.params
    assert result.cv["cv.pinball_mean_of_folds"] == pytest.approx(best.value)
    run = client.get_run(result.run_id)
    assert run.data.tags["optuna.study"] == name
    assert {k.removeprefix("best."): v for k, v in run.data.params.items() if k.startswith("best.")} == {
        k: str(v) for k, v in best.params.items()
    }
    # what each worker reported as its study's best when it finished is a trial of the study, never better
    # than the overall best
    for report in reports:
        assert report["best"] in [t.params for t in completed]
