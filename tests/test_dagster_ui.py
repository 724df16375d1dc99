"""What the Dagster UI shows after the demo, read through the running webserver's GraphQL API.

A small demo (AAPL and MSFT, replayed sources, prices from 2022-06-01) runs with ``python -m finance_assets.cli
demo`` into a temporary lakehouse; ``dagster-webserver`` then serves that instance on a free loopback port, and
the assertions are about what its GraphQL API (the UI's own) answers: runs named by their job, dbt tests
evaluated as checks, partition counts, owners.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gold_fixtures import REPLAY, REPO_ROOT

from finance_assets.core.loopback import free_port, running

pytestmark = pytest.mark.slow

DEMO_UNIVERSE = "AAPL,MSFT"


def demo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DAGSTER_", "ICEBERG_"))}
    return env | {
        "LAKEHOUSE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "REPLAY_DIR": str(REPLAY),
        "UNIVERSE": DEMO_UNIVERSE,
        "PRICES_START": "2022-06-01",  # the model needs a year of bars and labels before its cutoff
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "POLARS_ICEBERG_PLANNER": "pyiceberg",
    }


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ui") / "lakehouse"
    log = home.parent / "demo.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "finance_assets.cli", "demo"],
            cwd=REPO_ROOT,
            env=demo_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    # The UI must tell the truth about whatever happened: a failed late stage (the model on two companies) is
    # shown, not hidden. Bronze and dbt must have run for the assertions below to mean anything.
    text = log.read_text()
    # the console's stage lines: ✓ done, ~ done with company data gaps, ✗ failed
    assert "✓ silver + gold: dbt build" in text, (done.returncode, text[-4000:])
    assert "✓ bronze: EDGAR filings + XBRL facts" in text, (done.returncode, text[-4000:])
    return home


@pytest.fixture(scope="module")
def graphql(demo_home: Path) -> Iterator[str]:
    """``dagster-webserver`` over the demo's instance on a free loopback port; stopped by PID."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    argv = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
    ]
    with running(
        "dagster-webserver",
        argv,
        demo_home.parent / "webserver.log",
        ready=lambda: bool(_query(url, "{ version }").get("version")),
        env=demo_env(demo_home),
        cwd=REPO_ROOT,
        interval=1,
    ):
        _wait_for_location(url)
        yield url


def _query(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


def _wait_for_location(url: str) -> None:
    """The code location loads in the background: wait until it reports LOADED (or fail with its error)."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        entries = _query(url, query)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [
                e["locationOrLoadError"]
                for e in entries
                if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
            ]
            assert not errors, errors
            return
        time.sleep(2)
    pytest.fail("the code location did not load in 300 s")


def test_every_demo_run_is_named_by_its_job(graphql: str) -> None:
    data = _query(graphql, "{ runsOrError(limit: 500) { ... on Runs { results { runId jobName status } } } }")
    runs = data["runsOrError"]["results"]
    jobs = {run["jobName"] for run in runs}
    assert runs and "__ephemeral_asset_job__" not in jobs, jobs
    assert {"bronze_reference", "bronze_edgar_companies", "bronze_prices", "transform", "features"} <= jobs, jobs
    assert {"ml_retrain", "ml_predictions"} <= jobs, jobs


ASSET = """query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      groupName
      owners { __typename ... on TeamAssetOwner { team } }
      partitionStats { numMaterialized numFailed numPartitions }
      assetChecksOrError { ... on AssetChecks { checks { name blocking
        executionForLatestMaterialization { status runId } } } }
    }
  }
}"""


def _asset(url: str, path: str) -> dict[str, Any]:
    return _query(url, ASSET, {"path": path.split("/")})["assetNodeOrError"]


def test_dbt_tests_of_a_gold_model_were_evaluated_as_checks(graphql: str) -> None:
    node = _asset(graphql, "gold/income_statement")
    checks = node["assetChecksOrError"]["checks"]
    assert checks
    not_evaluated = [c["name"] for c in checks if c["executionForLatestMaterialization"] is None]
    assert not not_evaluated, not_evaluated
    blocking = [c for c in checks if c["blocking"]]
    assert blocking and all(c["executionForLatestMaterialization"]["status"] == "SUCCEEDED" for c in blocking)


def test_company_partitions_show_the_demo_companies_materialized(graphql: str) -> None:
    stats = _asset(graphql, "bronze/edgar_company_facts")["partitionStats"]
    assert stats == {"numMaterialized": 2, "numFailed": 0, "numPartitions": 2}  # AAPL, MSFT: UNIVERSE


def test_owners_are_shown_per_layer(graphql: str) -> None:
    owners = {
        path: [o.get("team") for o in _asset(graphql, path)["owners"]]
        for path in ("bronze/edgar_company_facts", "gold/income_statement", "ml/predictions")
    }
    assert owners == {
        "bronze/edgar_company_facts": ["data-engineering"],
        "gold/income_statement": ["data-engineering"],
        "ml/predictions": ["quant-research"],
    }
