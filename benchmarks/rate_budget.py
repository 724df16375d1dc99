"""One SEC budget per deployment: 2 and 4 processes fetching at once stay under 10 requests/s together.

Each worker is a separate Python process that builds the ``sec`` resource exactly as the EDGAR assets get
it (``resources_for(Settings.from_env())["sec"].client()``), with ``SEC_DATA_BASE_URL`` pointing at
:mod:`benchmarks.sec_server` (a separate process on 127.0.0.1 that answers 429 to any request beyond 10 in a
sliding 1 s window). Every worker fetches ``https://data.sec.gov/...`` companyfacts URLs from 2 threads,
each pacing itself at ``SEC_REQUESTS_PER_SECOND=10``: without a shared budget, N processes would send
N x 10/s. The budget's store is the variable:

* **sqlite** (embedded profile): the workers share ``$LAKEHOUSE_HOME/rate_limit.sqlite``;
* **redis** (prod): the workers share ``RATE_LIMIT_REDIS_URL`` (the local Redis, database 15).

Target, for each store and 2 and 4 processes over 30 s: combined rate <= 10 requests/s as the server saw
them, 0 HTTP 429s, never more than 10 requests in any 1 s window, every fetch succeeded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx

from benchmarks.common import REPO, Figure, Result
from benchmarks.edgar_client import sec_server
from benchmarks.sec_server import max_in_window

NAME = "rate_budget"
DESCRIPTION = "N processes share one SEC budget (SQLite / Redis) vs a loopback server enforcing 10 req/s"

CEILING = 10.0
PROCESSES = (2, 4)
THREADS = 2
FULL_SECONDS = 30.0
QUICK_SECONDS = 5.0
REDIS_URL = "redis://127.0.0.1:6379/15"


def worker(seconds: float, index: int) -> None:
    """One process: READY, wait for GO on stdin, fetch for ``seconds`` from THREADS threads, print a JSON line."""
    from finance_assets.core.settings import Settings
    from finance_assets.resources import resources_for

    logging.getLogger("finance_assets.http").setLevel(logging.ERROR)
    client = resources_for(Settings.from_env(), secrets="values")["sec"].client()
    client.rate_limiter.acquire()  # connect to the store before the clock starts (and take one request)
    print("READY", flush=True)
    assert sys.stdin.readline().strip() == "GO"
    fetched, errors = [0], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def fetch(thread: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            cik = (index * 10 + thread + 1) * 100_000 + i
            i += 1
            try:
                client.get_json(f"https://data.sec.gov/api/xbrl/companyfacts/CIK{cik:010d}.json")
            except Exception as exc:  # counted: the benchmark fails on any
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            with lock:
                fetched[0] += 1

    threads = [threading.Thread(target=fetch, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    print(json.dumps({"fetched": fetched[0], "errors": errors[:5], "n_errors": len(errors)}), flush=True)


def drive(processes: int, store: str, seconds: float) -> dict[str, Any]:
    """``processes`` workers against one rate-enforcing server, sharing the budget in ``store``."""
    with sec_server() as (base, _), tempfile.TemporaryDirectory(prefix="bench-rate-") as home:
        env = {
            **os.environ,
            "LAKEHOUSE_HOME": home,
            "SEC_USER_AGENT": "Lakehouse Benchmarks bench@example.com",
            "SEC_DATA_BASE_URL": base,
            "SEC_REQUESTS_PER_SECOND": str(CEILING),
            "HTTP_MAX_RETRIES": "3",
        }
        env.pop("REPLAY_DIR", None)
        if store == "redis":
            import redis

            env["RATE_LIMIT_REDIS_URL"] = REDIS_URL
            redis.Redis.from_url(REDIS_URL).delete("finance-lakehouse:rate:sec")
        cmd = [sys.executable, "-m", "benchmarks.rate_budget", "--worker", str(seconds)]
        procs = [
            subprocess.Popen(
                [*cmd, str(k)], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for k in range(processes)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if line != "READY":
                    raise RuntimeError(f"worker did not start: {line!r}")
            before = httpx.get(f"{base}/__stats", timeout=10).json()  # the warm-up requests are not counted
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("GO\n")
                proc.stdin.flush()
            outputs = [
                json.loads(proc.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1]) for proc in procs
            ]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
        stats = httpx.get(f"{base}/__stats", timeout=10).json()
    arrivals = sorted(stats["arrivals"][len(before["arrivals"]) :])
    counts: dict[str, int] = {}
    for status, n in stats["counts"].items():
        counts[status] = n - before["counts"].get(status, 0)
    return {
        "processes": processes,
        "threads_per_process": THREADS,
        "store": store,
        "seconds": seconds,
        "requests_seen_by_server": len(arrivals),
        "combined_requests_per_second": round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 4),
        "answers_by_status": counts,
        "answered_429": counts.get("429", 0),
        "max_requests_in_any_1s_window": max_in_window(arrivals),
        "fetched_per_process": [o["fetched"] for o in outputs],
        "errors": sum(o["n_errors"] for o in outputs),
        "error_samples": [e for o in outputs for e in o["errors"]][:5],
    }


def run(quick: bool = False) -> Result:
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    result = Result(NAME, DESCRIPTION, quick)
    for store in ("sqlite", "redis"):
        for n in PROCESSES:
            phase = drive(n, store, seconds)
            result.details[f"{store}, {n} processes"] = phase
            rate = phase["combined_requests_per_second"]
            ok = (
                rate <= CEILING
                and phase["answered_429"] == 0
                and phase["max_requests_in_any_1s_window"] <= CEILING
                and phase["errors"] == 0
            )
            note = (
                f"{phase['answered_429']} x 429, max {phase['max_requests_in_any_1s_window']} in a 1 s window, "
                f"{phase['errors']} errors, {sum(phase['fetched_per_process'])} fetched"
            )
            result.figures.append(
                Figure(
                    f"{store}: {n} processes x {THREADS} threads, combined req/s",
                    rate,
                    "req/s",
                    "ceiling 10 req/s",
                    rate / CEILING,
                    "<= 1x, 0 x 429",
                    ok,
                    note,
                )
            )
    return result


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--worker":
        with contextlib.suppress(BrokenPipeError):
            worker(float(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    sys.exit(f"usage: python -m benchmarks {NAME}  (this module's own entry point is for its workers)")
