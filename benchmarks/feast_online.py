"""Feast online serving over HTTP: features + prediction, p50/p99 for 1 and 100 entities on SQLite and Redis.

What a service calls: ``POST /get-online-features`` with the feature service ``return_model_serving``: the
model's inputs (return_model_v2) and its latest prediction (p10/p50/p90, model version, as-of) in ONE call,
against the project's feature server (``finance_assets.features serve``: Feast's app behind the lakehouse's
wrapper, gunicorn with 2 workers and ``--max-requests 0``, as ``make serve-features`` runs it), started on a
free loopback port with :mod:`finance_assets.core.loopback`.

The lakehouse: the one ``end_to_end`` leaves at ``$TMPDIR/bench-lakehouse-e2e`` (the whole demo: Gold tables,
Feast registry and online store, predictions published online). When it is missing it is built first the same
way, ``python -m finance_assets.cli demo`` in replay mode into that folder (about 20 minutes on 2 cores; or run
``python -m benchmarks end_to_end`` first). It is only read: its Feast folder and catalog are copied into a
scratch home, which the servers use (gunicorn's control socket, SQLite's journals).

* SQLite: the embedded profile as is (``python -m finance_assets.features serve`` on the scratch home).
* Redis: 127.0.0.1:6379, db 12 (flushed before and after), through the prod profile's Feast config
  (``feature_store.prod.yaml``: SQL registry, Redis online store) with the registry in a scratch SQLite file
  instead of Postgres: applied and materialised from the same Gold tables, then served by the same wrapper
  (the ``serve`` of ``finance_assets.features``, under ``-O`` as there).
* floor: the same client against a trivial HTTP/1.1 server on loopback (a thread answering a fixed 200
  JSON body): what one HTTP round-trip costs in this client on this machine.

The client is one persistent ``http.client`` connection (keep-alive, TCP_NODELAY), requests back to back.
1 entity: AAPL; 100 entities: the tickers with a prediction in ``ml.predictions``, then other companies of the
lakehouse up to 100 (alphabetical). The answer is checked first: AAPL's features and prediction are in the store
(the replayed data is years old, so values older than their view's TTL come back null with ``OUTSIDE_MAX_AGE``,
after the same lookups). Targets (issue 17): p99 < 25 ms for one entity, < 100 ms for 100.
Start-up (spawn until ``/health`` answers) is recorded per server; see ``details.startup`` and the README.
The latency distributions are drawn in ``benchmarks/results/feast_online.png``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import REPO, Figure, Result, new_plot
from benchmarks.end_to_end import KEPT_HOME, demo_env, replay_dir
from finance_assets.core.loopback import free_port, running
from finance_assets.features import catalog

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Plot

NAME = "feast_online"
DESCRIPTION = "Feast HTTP features+prediction p50/p99, 1 and 100 entities, SQLite and Redis vs 25/100 ms and a floor"

TARGET_P99_MS = {1: 25.0, 100: 100.0}  # per number of entities in the call
FULL_REQUESTS, QUICK_REQUESTS, WARMUP = 2000, 300, 50
REDIS_DB = 12
SERVICE = catalog.SERVING_SERVICE
WORKERS = 2
PREDICTION = "pred_p50"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def measure(port: int, path: str, body: bytes, n: int) -> list[float]:
    """Latencies (ms) of ``n`` POSTs on one keep-alive connection, after a warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle / delayed-ACK 40 ms stalls
    headers = {"Content-Type": "application/json"}
    out: list[float] = []
    for i in range(WARMUP + n):
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {payload[:500]!r}")
        if i >= WARMUP:
            out.append(elapsed)
    conn.close()
    return out


class _Floor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = json.dumps({"metadata": {"feature_names": ["ticker"]}, "results": [{"values": ["AAPL"]}]}).encode()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def floor_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Floor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the processes of group ``pgid``: the server and its workers.

    The work a call costs, whatever else runs on the machine: on a busy shared machine the wall-clock
    latencies stretch with the load, the CPU time per call much less."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def serve_args(port: int) -> list[str]:
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--max-requests",
        "0",
        "--no-access-log",
    ]


# The prod profile's Feast config (feature_store.prod.yaml: SQL registry, Redis online store) with the registry in
# a scratch SQLite file: the feast resource of LAKEHOUSE_PROFILE=prod without the rest of the prod stack.
_REDIS_FEAST = """
from finance_assets.features.resources import FeastResource
feast = FeastResource(profile="prod", home={home!r}, registry_uri={registry!r}, redis={redis!r})
"""

_FILL = """
import json, time
from datetime import UTC, datetime
from finance_assets.features.store import load_definitions
started = time.monotonic()
store = feast.store()
repo = load_definitions()
store.apply([*repo.entities, *repo.data_sources, *repo.feature_views, *repo.feature_services])
store.materialize(datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
print(json.dumps({"materialize_s": round(time.monotonic() - started, 1)}))
"""

# finance_assets.features serve's own path (the wrapper, feast serve's options), on that resource.
_SERVE = """
import os, sys
from finance_assets.core.entry import ignore_known_warnings
from finance_assets.features.__main__ import _serve
ignore_known_warnings()
os.environ.update(feast.cli_environment())
sys.exit(_serve(feast, sys.argv[1:]))
"""


def scratch_home(scratch: Path) -> Path:
    """A LAKEHOUSE_HOME holding a copy of the kept lakehouse's Feast folder and catalog (the data stays put)."""
    home = scratch / "lakehouse"
    shutil.copytree(KEPT_HOME / "feast", home / "feast", ignore=shutil.ignore_patterns("run"))
    shutil.copy2(KEPT_HOME / "catalog.db", home / "catalog.db")  # its tables point at KEPT_HOME's files
    return home


def ensure_lakehouse(env: dict[str, str]) -> str:
    if (KEPT_HOME / "feast" / "online.db").is_file() and (KEPT_HOME / "feast" / "registry.db").is_file():
        return f"reused {KEPT_HOME} (left by end_to_end)"
    subprocess.run(
        [sys.executable, "-m", "finance_assets.cli", "demo"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return f"built {KEPT_HOME} with `python -m finance_assets.cli demo`"


def entity_tickers(env: dict[str, str], n: int) -> tuple[list[str], int]:
    """``n`` tickers of the lakehouse: those with a prediction in ``ml.predictions`` first, then other companies of
    ``gold.company_sectors`` (every priced ticker), alphabetical; and how many have a prediction."""
    script = """
import json
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings
catalog = IcebergLakehouse.from_settings(Settings.from_env()).catalog
def tickers(table):
    return sorted(set(catalog.load_table(table).scan(selected_fields=("ticker",)).to_arrow()["ticker"].to_pylist()))
print(json.dumps([tickers("ml.predictions"), tickers("gold.company_sectors")]))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True, capture_output=True, text=True)
    predicted, companies = json.loads(out.stdout.strip().splitlines()[-1])
    chosen = [*predicted, *(t for t in companies if t not in set(predicted))][:n]
    return chosen, min(len(predicted), n)


def redis_client() -> Any:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=3)
    client.ping()
    return client


def plot(result: Result) -> Plot:
    """Latency CDFs per case (log x), the targets as vertical lines: where the p99s sit against them."""
    details = result.details
    fig, ax = new_plot()
    styles = {"sqlite": "-", "redis": "--"}
    colors = {1: "#4C72B0", 100: "#C44E52"}
    for store in ("sqlite", "redis"):
        for size in (1, 100):
            lat = details.get(f"{store}_{size}_ms")
            if not lat:
                continue
            ordered = sorted(lat)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            label = f"{store}, {size} entit{'y' if size == 1 else 'ies'} (p99 {percentile(lat, 99):.1f} ms)"
            ax.plot(ordered, ys, styles[store], color=colors[size], label=label)
    floor = sorted(details.get("floor_ms") or [])
    if floor:
        ax.plot(floor, [(i + 1) / len(floor) for i in range(len(floor))], ":", color="grey", label="HTTP floor")
    for size, target in TARGET_P99_MS.items():
        ax.axvline(target, color=colors[size], linewidth=0.8, alpha=0.6)
        ax.text(target, 0.02, f" target p99 {target:g} ms ({size})", color=colors[size], fontsize=8, rotation=90)
    ax.axhline(0.99, color="black", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("latency per call, ms (log scale)")
    ax.set_ylabel("share of calls at or below")
    ax.set_title("Feast features + prediction (return_model_serving), one keep-alive client")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    n = QUICK_REQUESTS if quick else FULL_REQUESTS
    env = demo_env(KEPT_HOME, replay_dir())
    details: dict[str, Any] = {"requests_per_case": n, "warmup": WARMUP, "lakehouse": ensure_lakehouse(env)}
    scratch = Path(tempfile.mkdtemp(prefix="bench-feast-"))
    home = scratch_home(scratch)
    env = demo_env(home, replay_dir())
    known, predicted = entity_tickers(env, 100)
    entities = [*known, *(f"ZZ{i:03d}" for i in range(100 - len(known)))]  # unknown ones only if < 100 companies
    details["entities_100"] = {"with_prediction": predicted, "companies": len(known), "unknown": 100 - len(known)}
    bodies = {
        1: json.dumps({"feature_service": SERVICE, "entities": {"ticker": ["AAPL"]}}).encode(),
        100: json.dumps({"feature_service": SERVICE, "entities": {"ticker": entities}}).encode(),
    }
    with floor_server() as port:
        floor = measure(port, "/get-online-features", bodies[1], n)
    floor_p50, floor_p99 = statistics.median(floor), percentile(floor, 99)
    details["floor_ms"] = floor
    details["startup"] = {}
    result.figures.append(
        Figure(
            "floor: HTTP round-trip to a trivial loopback server, p99",
            round(floor_p99, 3),
            "ms",
            "floor",
            1.0,
            "-",
            None,
            note=f"p50 {floor_p50:.3f} ms, {n} requests, keep-alive",
        )
    )

    def cases(store: str, argv: list[str], server_env: dict[str, str]) -> None:
        port = free_port()
        log = scratch / f"serve-{store}.log"
        with running(
            f"feature server ({store})",
            [*argv, *serve_args(port)],
            log,
            ready=f"http://127.0.0.1:{port}/health",
            env=server_env,
            cwd=REPO,
        ) as server:
            details["startup"][store] = {"spawn_to_health_s": round(server.ready_seconds or 0, 1)}
            # correctness first: AAPL's features and latest prediction are found
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/get-online-features", body=bodies[100], headers={"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            conn.close()
            names = answer["metadata"]["feature_names"]
            row = entities.index("AAPL")
            status = {name: r["statuses"][row] for name, r in zip(names, answer["results"], strict=True)}
            value = {name: r["values"][row] for name, r in zip(names, answer["results"], strict=True)}
            counts = {s: sum(1 for k, v in status.items() if k != "ticker" and v == s) for s in set(status.values())}
            # the replayed data is years old: the server finds AAPL's rows and serves those older than their
            # view's TTL as null with OUTSIDE_MAX_AGE (the same lookups, the same work); NOT_FOUND would be a miss
            details[f"{store}_aapl_statuses"] = counts
            details[f"{store}_aapl_prediction"] = {k: value.get(k) for k in ("pred_p50", "model_version")}
            details[f"{store}_aapl_prediction"]["status"] = status.get(PREDICTION)
            if status.get(PREDICTION) not in ("PRESENT", "OUTSIDE_MAX_AGE") or not counts.get("PRESENT"):
                raise RuntimeError(
                    f"{store}: AAPL's features or prediction are missing from the online store: {counts}"
                )
            for size in (1, 100):
                cpu_before = group_cpu_seconds(server.pid)
                lat = measure(port, "/get-online-features", bodies[size], n)
                cpu_ms = (group_cpu_seconds(server.pid) - cpu_before) / (WARMUP + n) * 1000
                details[f"{store}_{size}_ms"] = lat
                details[f"{store}_{size}_server_cpu_ms_per_call"] = round(cpu_ms, 2)
                p50, p99 = statistics.median(lat), percentile(lat, 99)
                target = TARGET_P99_MS[size]
                result.figures.append(
                    Figure(
                        f"{store}: {size} entit{'y' if size == 1 else 'ies'}, features + prediction, p99",
                        round(p99, 2),
                        "ms",
                        f"target {target:g} ms",
                        round(p99 / target, 3),
                        "< 1x",
                        p99 < target,
                        note=f"p50 {p50:.2f} ms; server CPU {cpu_ms:.1f} ms per call; {p99 / floor_p99:.1f}x floor p99",
                    )
                )

    try:
        cases("sqlite", [sys.executable, "-m", "finance_assets.features", "serve"], env)
        try:
            client = redis_client()
        except Exception as exc:
            details["redis_skipped"] = repr(exc)
            for size in (1, 100):
                result.figures.append(
                    Figure(f"redis: {size} entities, p99", None, "ms", "-", None, "-", None, note=f"skipped: {exc}")
                )
        else:
            client.flushdb()
            try:
                feast = _REDIS_FEAST.format(
                    home=str(home),
                    registry=f"sqlite:///{scratch / 'redis-registry.db'}",
                    redis=f"127.0.0.1:6379,db={REDIS_DB}",
                )
                out = subprocess.run(
                    [sys.executable, "-c", feast + _FILL], cwd=REPO, env=env, check=True, capture_output=True, text=True
                ).stdout
                details["redis_fill"] = json.loads(out.strip().splitlines()[-1])
                # as `finance_assets.features serve` re-execs itself: -O, its optimised bytecode may be written
                optimised = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
                cases("redis", [sys.executable, "-O", "-c", feast + _SERVE], optimised)
            finally:
                client.flushdb()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.details = details
    return result
