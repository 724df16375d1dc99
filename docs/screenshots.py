"""Regenerate the UI screenshots in docs/ from a lakehouse where the demo ran.

    LAKEHOUSE_HOME=.lakehouse uv run python docs/screenshots.py          # after `make demo`
    LAKEHOUSE_HOME=/tmp/copy uv run python docs/screenshots.py mlflow   # only the MLflow page

Each argument (``dagster``, ``mlflow``) takes only those pages; none takes all. The MLflow page needs only
``mlflow.db`` and ``mlartifacts/`` in the home (the two-company ``make demo`` cannot train the model: shoot
it over a home where the full demo ran, or a copy of one, since ``mlflow ui`` may migrate the store).

Starts ``dagster-webserver`` and ``mlflow ui`` on free loopback ports over that lakehouse, waits until both
answer, takes three PNGs with headless Chromium (Debian package ``chromium``) and stops both servers:

- ``docs/dagster-asset-graph.png``: the global asset graph, grouped by layer;
- ``docs/dagster-asset-page.png``: ``gold/income_statement`` (owner, checks, column descriptions);
- ``docs/mlflow-experiment.png``: the ``return_model`` experiment's runs, opened as every link we hand out opens
  it: on the saved view "Key metrics" (``finance_assets.ml.tracking.experiment_link``).

Chromium renders the single-page apps for ``--virtual-time-budget`` ms of virtual time before it shoots.
The instance must have ``nux: {enabled: false}`` (``cli init`` writes it), or Dagster's "Join the community"
dialog covers the pages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from finance_assets.core.loopback import free_ports, running
from finance_assets.ml.tracking import experiment_link

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
WINDOW = "1440,900"
MLFLOW_HOST = "mlflow.screenshot"  # a name that is not localhost (see main)


def shoot(url: str, target: Path, budget_ms: int = 20000, extra: tuple[str, ...] = ()) -> None:
    """A PNG of ``url`` once ``budget_ms`` of virtual time has passed (the page's requests answered)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("headless Chromium not found: apt-get install -y chromium")
    subprocess.run(
        [
            browser,
            *("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"),
            f"--window-size={WINDOW}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={target}",
            *extra,
            url,
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    print(f"{target.relative_to(REPO)}  {target.stat().st_size // 1024} KiB  <- {url}")


def main(argv: list[str]) -> int:
    pages = set(argv) or {"dagster", "mlflow"}
    if pages - {"dagster", "mlflow"}:
        print(f"unknown pages {sorted(pages - {'dagster', 'mlflow'})}: dagster, mlflow", file=sys.stderr)
        return 2
    home = Path(os.environ.get("LAKEHOUSE_HOME", REPO / ".lakehouse")).resolve()
    if ("dagster" in pages and not (home / "dagster").is_dir()) or not (home / "mlflow.db").is_file():
        print(f"no demo lakehouse at {home}: run `make demo` first (or set LAKEHOUSE_HOME)", file=sys.stderr)
        return 2
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env |= {"DAGSTER_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    bin_dir = Path(sys.executable).parent
    dagster_port, mlflow_port = free_ports(2)
    dagster = f"http://127.0.0.1:{dagster_port}"
    mlflow = f"http://127.0.0.1:{mlflow_port}"
    logs = home / "screenshots"
    logs.mkdir(exist_ok=True)
    webserver = [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(dagster_port)]
    if "dagster" in pages:
        ready = f"{dagster}/server_info"
        with running("dagster-webserver", webserver, logs / "webserver.log", ready=ready, env=env, cwd=REPO):
            shoot(f"{dagster}/asset-groups", DOCS / "dagster-asset-graph.png")
            shoot(f"{dagster}/assets/gold/income_statement", DOCS / "dagster-asset-page.png")
    if "mlflow" not in pages:
        return 0
    # MLflow's assistant panel is localhost-only and opens itself on a first visit, covering half the runs
    # table: Chromium reaches the loopback server under another name (MLFLOW_HOST), which MLflow then allows
    # (host header and origin of the page's API calls).
    hosts = f"{MLFLOW_HOST}:{mlflow_port},127.0.0.1:{mlflow_port}"
    mlflow_cmd = [
        str(bin_dir / "mlflow"),
        *("ui", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}"),
        *("--default-artifact-root", str(home / "mlartifacts"), "--host", "127.0.0.1", "--port", str(mlflow_port)),
        *("--allowed-hosts", hosts, "--cors-allowed-origins", f"http://{MLFLOW_HOST}:{mlflow_port}"),
    ]
    experiment = _configured_experiment(home)
    with running("mlflow ui", mlflow_cmd, logs / "mlflow.log", ready=f"{mlflow}/health", env=env, cwd=REPO):
        shoot(  # the classic runs table (mlflow.experimentKind), opened on the saved view of the key metrics
            experiment_link(f"http://{MLFLOW_HOST}:{mlflow_port}", experiment),
            DOCS / "mlflow-experiment.png",
            extra=(f"--host-resolver-rules=MAP {MLFLOW_HOST} 127.0.0.1",),
        )
    return 0


def _configured_experiment(home: Path) -> str:
    """The ``return_model`` experiment's id, its tags as the current ML code sets them (the classic view, the saved
    view "Key metrics"): what training would do to an experiment created before those tags existed."""
    import sqlite3

    from finance_assets.ml.tracking import MlflowStore, configure

    with sqlite3.connect(home / "mlflow.db") as db:
        row = db.execute("select experiment_id from experiments where name = 'return_model'").fetchone()
    if row is None:
        raise RuntimeError("no return_model experiment in the demo's MLflow store")
    _, experiment = configure(MlflowStore(f"sqlite:///{home / 'mlflow.db'}", str(home / "mlartifacts")))
    return experiment


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
