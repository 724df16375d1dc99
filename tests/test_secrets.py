"""Issue #7 "Secrets": the FMP key never lands anywhere, across the WHOLE pipeline; servers bind to loopback.

``test_fmp_assets.py`` checks Bronze alone; here ``python -m finance_assets.cli demo`` runs in-process
(Bronze incl. FMP -> dbt -> features -> ML with a 2-trial budget) in replay mode for AAPL and MSFT from
2018-01-02, with a random sentinel key. First the sentinel is shown to go out on every FMP request (so the
test cannot pass vacuously), then every log line, console byte, Dagster event, MLflow entity, Iceberg row
and file under LAKEHOUSE_HOME is searched for it.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import secrets
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from finance_assets.core.replay import ReplayTransport

REPO_ROOT = Path(__file__).resolve().parents[1]
FMP_HOST = "financialmodelingprep.com"
# the process's MLflow/Optuna stores must be the temporary lakehouse's, whatever the shell exports
ISOLATED = ("MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "LAKEHOUSE_AUTOMATION", "LAKEHOUSE_PROFILE")


def _files(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file's bytes, gunzipped where gzip (archive blobs, HTTP cache entries), raw otherwise."""
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            with contextlib.suppress(OSError, EOFError, zlib.error):
                data += b"\n" + gzip.decompress(data)
        yield path, data


def _mlflow_texts(home: Path) -> dict[str, str]:
    """Params, tags, metric keys, dataset inputs, logged models and registered models of the local store."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    texts: dict[str, list[str]] = {"mlflow experiments": [], "mlflow runs": [], "mlflow models": []}
    experiments = client.search_experiments(view_type=ViewType.ALL)
    for experiment in experiments:
        texts["mlflow experiments"].append(f"{experiment.name} {experiment.artifact_location} {experiment.tags}")
        for run in client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=10_000):
            data, inputs = run.data, run.inputs
            datasets = [
                (d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile, d.tags)
                for d in (inputs.dataset_inputs if inputs else [])
            ]
            texts["mlflow runs"] += [
                f"{run.info}",
                f"params={data.params}",
                f"tags={data.tags}",
                f"metrics={data.metrics}",
                f"datasets={datasets}",
            ]
        try:  # MLflow 3: logged models carry their own params/tags/metrics
            for model in client.search_logged_models([e.experiment_id for e in experiments], max_results=1000):
                texts["mlflow models"].append(f"{model.to_dictionary()}")
        except AttributeError:
            pass
    for registered in client.search_registered_models():
        texts["mlflow models"].append(f"{registered.name} {registered.tags} {registered.aliases}")
        for version in client.search_model_versions(f"name='{registered.name}'"):
            texts["mlflow models"].append(f"{version.source} {version.run_id} {version.tags} {version.description}")
    assert texts["mlflow runs"], "the ML stage logged no MLflow run"
    return {name: "\n".join(lines) for name, lines in texts.items()}


def _iceberg_texts() -> dict[str, str]:
    """Every row of every Iceberg table, all columns stringified."""
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings

    lake = IcebergLakehouse.from_settings(Settings.from_env())
    texts: dict[str, str] = {}
    for namespace in lake.catalog.list_namespaces():
        for identifier in lake.catalog.list_tables(namespace):
            name = ".".join(identifier)
            frame = lake.read(name)
            texts[f"iceberg {name}"] = "\n".join(map(repr, frame.iter_rows()))
    return texts


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_fmp_key_leaks_nowhere_in_a_whole_pipeline_run(
    lakehouse_env: Path,
    replay_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sentinel = f"sk-SENTINEL-{secrets.token_hex(12)}"
    for name in ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FMP_API_KEY", sentinel)
    monkeypatch.setenv("UNIVERSE", "AAPL,MSFT")
    monkeypatch.setenv("PRICES_START", "2018-01-02")
    monkeypatch.setenv("FMP_REQUESTS_PER_MINUTE", "60000")  # replay: no reason to pace
    # the ML stage with a tiny trial budget (the demo's other defaults: folds, holdout, cutoff)
    monkeypatch.setattr("finance_assets.ml.demo.DEMO_TRIALS", 2)

    # Positive control: every FMP request really carries the key (the replay transport sees the raw URL)
    sent: list[str] = []
    serve = ReplayTransport.handle_request

    def spy(self: ReplayTransport, request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return serve(self, request)

    monkeypatch.setattr(ReplayTransport, "handle_request", spy)
    caplog.set_level(logging.DEBUG)

    from finance_assets.cli import demo
    from finance_assets.core.settings import Settings

    started = time.monotonic()
    failed_steps = demo(Settings.from_env())
    seconds = time.monotonic() - started
    captured = capfd.readouterr()
    assert failed_steps == 0, captured.out[-4000:]

    fmp = [url for url in sent if FMP_HOST in url]
    assert fmp, "no FMP request went out: the test would pass vacuously"
    assert all(f"apikey={sentinel}" in url for url in fmp)

    haystacks: dict[str, str] = {}
    # 1. every log record (DEBUG and up, with exception text) and the process's stdout/stderr
    haystacks["log records"] = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {getattr(r, 'dagster_meta', '')}" for r in caplog.records
    )
    assert any("apikey=***" in r.getMessage() for r in caplog.records)
    haystacks["stdout"], haystacks["stderr"] = captured.out, captured.err
    assert "ml/return_model" in captured.out and "ml/prediction_performance" in captured.out

    # 2. every Dagster event of every run in the instance (serialised in full: metadata values included)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert {run.job_name for run in runs} >= {  # every stage of the demo ran: the haystack is complete
            "bronze_reference",
            "bronze_edgar_companies",
            "bronze_fmp_companies",
            "bronze_prices",
            "transform",
            "features",
            "ml_retrain",
            "ml_predictions",
            "ml_performance",
        }
        haystacks["dagster runs"] = "\n".join(dg.serialize_value(run) for run in runs)
        haystacks["dagster events"] = "\n".join(
            dg.serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)
        )
    assert "apikey=***" in haystacks["dagster events"]

    # 3. MLflow: params, tags, metric keys, datasets, logged and registered models
    haystacks |= _mlflow_texts(lakehouse_env)

    # 4. every row of every Iceberg table (bronze.raw_payloads URLs redacted, not dropped)
    haystacks |= _iceberg_texts()
    assert re.search(rf"{FMP_HOST}[^\n]*apikey=\*\*\*", haystacks["iceberg bronze.raw_payloads"])
    assert any(name.startswith("iceberg gold.") for name in haystacks)
    assert any(name.startswith("iceberg ml.") for name in haystacks)

    # 5. every file under LAKEHOUSE_HOME: sqlite DBs, HTTP cache, archive blobs (gunzipped), MLflow artifacts
    files = list(_files(lakehouse_env))
    names = {p.name for p, _ in files}
    assert {"mlflow.db", "optuna.db"} <= names
    assert any("mlartifacts" in p.parts for p, _ in files)

    leaks = [name for name, text in haystacks.items() if sentinel in text]
    leaks += [str(p) for p, data in files if sentinel.encode() in data]
    assert leaks == [], f"the FMP key leaked into: {leaks}"
    print(f"whole pipeline in {seconds:.0f}s; {len(fmp)} FMP requests carried the key; {len(files)} files clean")


def _recipe(makefile: str, target: str) -> str:
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?|\s*#.*\n)*)", makefile, re.MULTILINE)
    assert match, f"Makefile target {target} not found"
    return match.group(1).replace("\\\n", " ")


@pytest.mark.parametrize("target", ["dev", "serve-features", "mlflow-ui"])
def test_make_servers_bind_to_loopback_by_default(target: str) -> None:
    recipe = _recipe((REPO_ROOT / "Makefile").read_text(), target)
    hosts = re.findall(r"(?:--host|-h)[ =]+(\S+)", recipe)
    assert hosts == ["127.0.0.1"], recipe
    assert "0.0.0.0" not in recipe
