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
- ``docs/mlflow-experiment.png``: the ``return_model`` experiment's runs.

Chromium renders the single-page apps for ``--virtual-time-budget`` ms of virtual time before it shoots.
The instance must have ``nux: {enabled: false}`` (``cli init`` writes it), or Dagster's "Join the community"
dialog covers the pages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
WINDOW = "1440,900"
MLFLOW_HOST = "mlflow.screenshot"  # a name that is not localhost (see main)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(command: list[str], ready_url: str, env: dict[str, str], log: Path) -> Iterator[None]:
    """Run ``command`` in its own session until ``ready_url`` answers 200; stop it by PID afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}: see {log}")
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} did not answer in 300 s: see {log}")
            time.sleep(1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


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
    dagster_port, mlflow_port = _free_port(), _free_port()
    dagster = f"http://127.0.0.1:{dagster_port}"
    mlflow = f"http://127.0.0.1:{mlflow_port}"
    logs = home / "screenshots"
    logs.mkdir(exist_ok=True)
    webserver = [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(dagster_port)]
    if "dagster" in pages:
        with server(webserver, f"{dagster}/server_info", env, logs / "webserver.log"):
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
    with server(mlflow_cmd, f"{mlflow}/health", env, logs / "mlflow.log"):
        experiment = _experiment_id(home)
        shoot(  # the classic runs table (the experiment's mlflow.experimentKind tag, set by the ML code)
            f"http://{MLFLOW_HOST}:{mlflow_port}/#/experiments/{experiment}/runs",
            DOCS / "mlflow-experiment.png",
            extra=(f"--host-resolver-rules=MAP {MLFLOW_HOST} 127.0.0.1",),
        )
    return 0


def _experiment_id(home: Path) -> str:
    import sqlite3

    with sqlite3.connect(home / "mlflow.db") as db:
        row = db.execute("select experiment_id from experiments where name = 'return_model'").fetchone()
    if row is None:
        raise RuntimeError("no return_model experiment in the demo's MLflow store")
    return str(row[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
