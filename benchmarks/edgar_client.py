"""EDGAR client throughput against a server that enforces SEC's 10 requests/s in any sliding 1 s window.

The client is the project's own: the ``sec`` resource's ``client()``, exactly what the EDGAR assets use (the
shared ``SourceClient``, its token bucket at ``SEC_REQUESTS_PER_SECOND``, retries, response cache), with
the live transport. Only the host differs: the URLs point at :mod:`benchmarks.sec_server`, a separate
process on 127.0.0.1 that answers 429 to any request beyond 10 in ``(t - 1 s, t]``.

Four threads share the client (as concurrent partition fetches in one process share the budget), each
fetching distinct companyfacts URLs until the time is up. Two phases:

1. **steady**: no faults. Target: >= 9.5 fetches/s sustained (>= 0.95 of the ceiling) and zero 429s.
2. **1% 5xx**: the server answers 1% of admitted requests 500/502/503. Target: still zero 429s and never
   more than 10 requests in any 1 s window, and no data loss: every URL asked for is fetched in the end,
   and every body is byte-identical to what the server generated for that CIK.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.common import REPO, Figure, Result
from benchmarks.sec_server import body_sha256, max_in_window

NAME = "edgar_client"
DESCRIPTION = "SourceClient as the EDGAR resource builds it vs a loopback server enforcing 10 req/s"

CEILING = 10.0  # SEC's fair-access ceiling, requests per second
THREADS = 4
FULL_SECONDS = 30.0
QUICK_SECONDS = 5.0
FAULT_RATE = 0.01


@contextlib.contextmanager
def sec_server(*, fault_5xx: float = 0.0, limit: int = int(CEILING)) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start :mod:`benchmarks.sec_server` in its own process; yields its base URL; stops it by PID."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sec_server", "--limit", str(limit), "--fault-5xx", str(fault_5xx)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"sec_server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}", proc
    finally:
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def edgar_environment() -> Iterator[str]:
    """Live mode (no REPLAY_DIR) with a User-Agent and a throwaway LAKEHOUSE_HOME (the HTTP cache goes there)."""
    from finance_assets.core.settings import environment

    user_agent = os.environ.get("SEC_USER_AGENT") or "Lakehouse Benchmarks bench@example.com"
    with (
        tempfile.TemporaryDirectory(prefix="bench-edgar-") as home,
        environment({"LAKEHOUSE_HOME": home, "SEC_USER_AGENT": user_agent}, unset=["REPLAY_DIR"]),
    ):
        yield home


@dataclass
class Phase:
    seconds: float
    requested: list[int] = field(default_factory=list)
    fetched: dict[int, str] = field(default_factory=dict)  # cik -> sha256 of the body received
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server: dict[str, Any] = field(default_factory=dict)
    limiter_rate: float = 0.0
    sent: list[float] = field(default_factory=list)  # when the client's limiter let each request go

    @property
    def client_max_window(self) -> int:
        """The most requests the client released in any 1 s window (its own clock, before the wire)."""
        return max_in_window(self.sent)

    @property
    def requests(self) -> int:
        return sum(self.server["counts"].values())

    @property
    def answered_429(self) -> int:
        return int(self.server["counts"].get("429", 0))

    @property
    def answered_5xx(self) -> int:
        return sum(n for status, n in self.server["counts"].items() if status.startswith("5"))

    @property
    def sustained_rate(self) -> float:
        """Requests per second as the server saw them: (n - 1) intervals between first and last arrival."""
        arrivals = sorted(self.server["arrivals"])
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0

    @property
    def max_window(self) -> int:
        return max_in_window(self.server["arrivals"])

    def verify(self) -> tuple[int, int]:
        """(URLs never fetched, bodies that differ from what the server generated)."""
        missing = sum(1 for cik in self.requested if cik not in self.fetched)
        corrupt = sum(1 for cik, sha in self.fetched.items() if sha != body_sha256(cik))
        return missing, corrupt


def drive(seconds: float, fault_5xx: float) -> Phase:
    """Fetch distinct companyfacts URLs from THREADS threads through one EDGAR client for ``seconds``."""
    from finance_assets.core.settings import Settings
    from finance_assets.resources import resources_for

    phase = Phase(seconds)
    lock = threading.Lock()
    sec = resources_for(Settings.from_env(), secrets="values")["sec"]  # what the EDGAR assets get
    with sec_server(fault_5xx=fault_5xx) as (base, _), sec.client() as client:
        limiter = client.rate_limiter
        phase.limiter_rate = limiter.rate_per_second
        take = limiter.acquire

        def acquire_and_note() -> float:  # observe (not change) the limiter: when did it release a request?
            waited = take()
            with lock:
                phase.sent.append(time.monotonic())
            return waited

        limiter.acquire = acquire_and_note  # type: ignore[method-assign]
        deadline = time.monotonic() + seconds

        def worker(k: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                cik = (k + 1) * 1_000_000 + i
                i += 1
                with lock:
                    phase.requested.append(cik)
                try:
                    _, result = client.get_json(f"{base}/api/xbrl/companyfacts/CIK{cik:010d}.json")
                except Exception as exc:  # every loss is counted, none may escape the benchmark
                    with lock:
                        phase.errors.append(f"CIK{cik:010d}: {type(exc).__name__}: {exc}")
                    continue
                sha = hashlib.sha256(result.content).hexdigest()
                with lock:
                    phase.fetched[cik] = sha

        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        phase.elapsed = time.monotonic() - started
        del limiter.acquire  # the shared limiter is the resource's: restore its own method
        phase.server = httpx.get(f"{base}/__stats", timeout=10).json()
    return phase


def run(quick: bool = False) -> Result:
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    result = Result(NAME, DESCRIPTION, quick)
    quiet = logging.getLogger("finance_assets.http")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the retry warnings of phase 2 are expected; the server counts them
    try:
        with edgar_environment():
            from finance_assets.core.settings import Settings

            settings = Settings.from_env()
            steady = drive(seconds, 0.0)
            faulty = drive(seconds, FAULT_RATE)
    finally:
        quiet.setLevel(level)

    for label, phase in (("steady", steady), ("1% 5xx", faulty)):
        missing, corrupt = phase.verify()
        result.details[label] = {
            "seconds": round(phase.elapsed, 3),
            "sustained_requests_per_second": round(phase.sustained_rate, 4),
            "threads": THREADS,
            "urls_requested": len(phase.requested),
            "urls_fetched": len(phase.fetched),
            "urls_missing": missing,
            "bodies_corrupt": corrupt,
            "requests_seen_by_server": phase.requests,
            "answers_by_status": phase.server["counts"],
            "max_requests_in_any_1s_window": phase.max_window,
            "max_released_by_client_in_any_1s_window": phase.client_max_window,
            "errors": phase.errors[:10],
        }
    result.details["client"] = {
        "SEC_REQUESTS_PER_SECOND": settings.sec_requests_per_second,
        "limiter_rate_per_second": steady.limiter_rate,
        "max_retries": settings.http_max_retries,
        "timeout_s": settings.http_timeout_seconds,
    }

    rate = steady.sustained_rate
    result.figures.append(
        Figure(
            "steady: requests/s sustained",
            rate,
            "req/s",
            "ceiling 10 req/s",
            rate / CEILING,
            ">= 0.95x",
            rate / CEILING >= 0.95 and not steady.errors and len(steady.fetched) == steady.requests,
            f"{len(steady.fetched)} fetched in {steady.elapsed:.1f}s, {THREADS} threads",
        )
    )
    result.figures.append(
        Figure(
            "steady: 429 answers",
            steady.answered_429,
            "",
            "max in any 1 s window / 10",
            steady.max_window / CEILING,
            "0 and <= 1.0x",
            steady.answered_429 == 0 and steady.max_window <= CEILING,
            f"max {steady.max_window} req in a 1 s window",
        )
    )
    faulty_rate = faulty.sustained_rate
    result.figures.append(
        Figure(
            "1% 5xx: requests/s sustained, incl. retries",
            faulty_rate,
            "req/s",
            "ceiling 10 req/s",
            faulty_rate / CEILING,
            "0 x 429, window <= 10",
            faulty.answered_429 == 0 and faulty.max_window <= CEILING,
            f"{faulty.answered_5xx} 5xx injected, {faulty.answered_429} 429s, max window {faulty.max_window}",
        )
    )
    missing, corrupt = faulty.verify()
    complete = (len(faulty.fetched) - corrupt) / max(1, len(faulty.requested))
    result.figures.append(
        Figure(
            "1% 5xx: URLs fetched, bodies verified",
            len(faulty.fetched) - corrupt,
            "URLs",
            f"{len(faulty.requested)} requested",
            complete,
            "= 1.0x (no loss)",
            missing == 0 and corrupt == 0 and not faulty.errors,
            f"{missing} missing, {corrupt} corrupt",
        )
    )
    return result
