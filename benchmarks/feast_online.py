"""Feast online serving over HTTP: features + prediction, p50/p99 for 1 and 100 entities on SQLite and Redis.

The server is the project's: ``python -m finance_assets.features serve`` (gunicorn, ``make serve-features``
options: 2 workers, ``--max-requests 0``, no access log) on a free loopback port, over the online store
``make demo`` filled. The lakehouse is the one ``end_to_end`` keeps (``$TMPDIR/bench-lakehouse-e2e``);
when it is missing the demo is run first (minutes).

* SQLite: the embedded profile as is.
* Redis: 127.0.0.1:6379, db 12 (flushed before and after), filled by ``store.materialize`` from the same
  Gold tables with its own registry (as tests/test_feast_features.py does). ``finance_assets.features serve``
  always serves the profile's YAML, and Redis is the prod profile's (Postgres registry), so here the same
  ``feast serve`` is started on a temporary copy of the embedded YAML with ``online_store`` set to Redis.
* floor: the same client against a trivial HTTP/1.1 server on loopback (a thread answering a fixed 200
  JSON body): what one HTTP round-trip costs in this client on this machine.

The client is one persistent ``http.client`` connection (keep-alive), requests back to back,
``POST /get-online-features`` with the feature service ``return_model_serving``: the model's inputs
(return_model_v2) and its latest prediction (p10/p50/p90, model version, as-of) in one call. 100 entities:
the universe's tickers (5) followed by unknown tickers up to 100 (Feast looks every key up; unknown ones
come back null). Targets (issue 17): p99 < 25 ms for one entity, < 100 ms for 100 entities.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
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
from typing import Any

import yaml

from benchmarks.common import REPO, Figure, Result
from benchmarks.end_to_end import KEPT_HOME, demo_env, replay_dir
from finance_assets.features import catalog

NAME = "feast_online"
DESCRIPTION = "Feast HTTP features+prediction p50/p99, 1 and 100 entities, SQLite and Redis vs 25/100 ms and a floor"

TARGET_P99_MS = {1: 25.0, 100: 100.0}  # per number of entities in the call
FULL_REQUESTS, QUICK_REQUESTS, WARMUP = 2000, 300, 50
REDIS_DB = 12
SERVICE = catalog.SERVING_SERVICE
KNOWN = ("AAPL", "MSFT", "NVDA", "TSM", "MRVL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@contextmanager
def feast_server(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """A feature server on a free loopback port; stopped by its process group (its own session)."""
    port = _free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--max-requests", "0", "--no-access-log"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*cmd, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"feast serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"feast serve did not answer /health in 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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


def fill_redis(env: dict[str, str], scratch: Path) -> tuple[Path, dict[str, Any]]:
    """Materialise the online store into Redis db 12; a feature_store.yaml serving it. In a child process."""
    registry = scratch / "redis-registry.db"
    config = scratch / "feature_store.redis.yaml"
    raw = yaml.safe_load((REPO / "feature_repo" / "feature_store.yaml").read_text())
    raw["online_store"] = {"type": "redis", "connection_string": f"127.0.0.1:6379,db={REDIS_DB}"}
    raw["registry"] = {"registry_type": "sql", "path": f"sqlite:///{registry}", "cache_ttl_seconds": 60}
    config.write_text(yaml.safe_dump(raw))
    script = f"""
import json, time
from datetime import UTC, datetime
from finance_assets.core.settings import Settings
from finance_assets.features.store import load_definitions
from finance_assets.resources import resources_for
started = time.monotonic()
feast = resources_for(Settings.from_env(), secrets="values")["feast"]
store = feast.store(online_store={raw["online_store"]!r}, registry={raw["registry"]!r})
repo = load_definitions()
store.apply([*repo.entities, *repo.data_sources, *repo.feature_views, *repo.feature_services])
store.materialize(datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
print(json.dumps({{"materialize_s": time.monotonic() - started}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, check=True, capture_output=True, text=True
    ).stdout
    return config, json.loads(out.strip().splitlines()[-1])


def redis_client() -> Any:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=3)
    client.ping()
    return client


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    n = QUICK_REQUESTS if quick else FULL_REQUESTS
    env = demo_env(KEPT_HOME, replay_dir())
    details: dict[str, Any] = {"requests_per_case": n, "warmup": WARMUP, "lakehouse": ensure_lakehouse(env)}
    unknown = [f"ZZ{i:03d}" for i in range(100 - len(KNOWN))]
    bodies = {
        1: json.dumps({"feature_service": SERVICE, "entities": {"ticker": ["AAPL"]}}).encode(),
        100: json.dumps({"feature_service": SERVICE, "entities": {"ticker": [*KNOWN, *unknown]}}).encode(),
    }
    with floor_server() as port:
        floor = measure(port, "/get-online-features", bodies[1], n)
    floor_p50, floor_p99 = statistics.median(floor), percentile(floor, 99)
    details["floor_ms"] = floor
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

    def cases(store: str, cmd: list[str], server_env: dict[str, str], log: Path) -> None:
        with feast_server(cmd, server_env, log) as port:
            # correctness first: AAPL has values, an unknown ticker is null
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/get-online-features", body=bodies[100], headers={"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            conn.close()
            names = answer["metadata"]["feature_names"]
            values = {name: r["values"] for name, r in zip(names, answer["results"], strict=True)}
            filled = sum(1 for k, v in values.items() if k != "ticker" and v[0] is not None)
            details[f"{store}_aapl_non_null_features"] = filled
            if filled == 0:
                raise RuntimeError(f"{store}: AAPL came back all null: the online store is empty")
            details[f"{store}_aapl_prediction"] = values.get("pred_p50", [None])[0]
            for size in (1, 100):
                lat = measure(port, "/get-online-features", bodies[size], n)
                details[f"{store}_{size}_ms"] = lat
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
                        note=f"p50 {p50:.2f} ms; {p99 / floor_p99:.1f}x floor p99",
                    )
                )

    scratch = Path(tempfile.mkdtemp(prefix="bench-feast-"))
    serve = [sys.executable, "-m", "finance_assets.features", "serve"]
    cases("sqlite", serve, env, scratch / "serve-sqlite.log")

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
            config, info = fill_redis(env, scratch)
            details["redis_fill"] = info
            from finance_assets.core.settings import Settings
            from finance_assets.resources import resources_for

            feast = resources_for(Settings.from_env(env), secrets="values")["feast"]
            redis_env = {**feast.cli_environment(), **env}
            redis_env["XDG_RUNTIME_DIR"] = str(scratch)
            cli = "import sys; from feast.cli.cli import cli; sys.exit(cli.main(prog_name='feast'))"
            cmd = [
                sys.executable,
                "-O",  # as finance_assets.features serve runs it (see its docstring)
                "-c",
                cli,
                "--chdir",
                str(REPO / "feature_repo"),
                "--feature-store-yaml",
                str(config),
                "serve",
            ]
            cases("redis", cmd, redis_env, scratch / "serve-redis.log")
        finally:
            client.flushdb()
    shutil.rmtree(scratch, ignore_errors=True)
    result.details = details
    return result
