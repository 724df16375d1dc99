"""A loopback stand-in for SEC EDGAR's data API that ENFORCES the fair-access ceiling.

Run it as its own process (``python -m benchmarks.sec_server --limit 10``): it binds 127.0.0.1 on a free
port, prints ``PORT <n>`` on its first stdout line and serves until stdin closes or it is killed.

* ``GET /api/xbrl/companyfacts/CIK##########.json`` answers a deterministic companyfacts-shaped document
  for that CIK (:func:`companyfacts_body`), so a client can verify every byte it received.
* Every request (429s included, as a strict origin would count them) enters a sliding 1 s window; a
  request that finds ``limit`` requests already in ``(t - 1 s, t]`` is answered **429** with
  ``Retry-After: 1``.
* ``--fault-5xx P`` answers exactly a ``P`` share of the admitted requests 500, 502 or 503: one in every
  ``round(1/P)``, starting a quarter of the way in (for 1%: the 25th, 125th, 225th ... admitted request).
* ``GET /__stats`` (not rate limited, not counted) returns counters and the arrival times, so the
  caller can recompute the window itself.

In a test the server can run in a thread of the test process and answer admitted requests with anything
(``RateEnforcingServer(..., answer=...)``; tests/prod/test_prod_company_batches.py serves recorded EDGAR
payloads through the project's replay routes), keeping the same 429 rule and the same counters.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

COMPANYFACTS_PATH = re.compile(r"^/api/xbrl/companyfacts/CIK(\d{10})\.json$")
CONCEPTS = 40
FACTS_PER_CONCEPT = 12

#: ``answer(path, request headers) -> (status, body, response headers)`` for an admitted request.
Answer = Callable[[str, Mapping[str, str]], tuple[int, bytes, dict[str, str]]]


def companyfacts_body(cik: int) -> bytes:
    """A companyfacts-shaped payload (~80 KB) that depends only on ``cik``: both ends can rebuild it."""
    rng = random.Random(cik)
    concepts: dict[str, Any] = {}
    for c in range(CONCEPTS):
        facts = []
        for f in range(FACTS_PER_CONCEPT):
            year = 2010 + f
            facts.append(
                {
                    "start": f"{year}-01-01",
                    "end": f"{year}-12-31",
                    "val": rng.randint(1, 10**12),
                    "accn": f"{cik:010d}-{year % 100:02d}-{rng.randint(0, 999999):06d}",
                    "fy": year,
                    "fp": "FY",
                    "form": "10-K",
                    "filed": f"{year + 1}-02-15",
                    "frame": f"CY{year}",
                }
            )
        concepts[f"Concept{c:03d}"] = {
            "label": f"Concept {c}",
            "description": "Synthetic concept for the client benchmark.",
            "units": {"USD": facts},
        }
    return orjson.dumps({"cik": cik, "entityName": f"Company {cik}", "facts": {"us-gaap": concepts}})


def body_sha256(cik: int) -> str:
    return hashlib.sha256(companyfacts_body(cik)).hexdigest()


class RateEnforcingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, limit: int, window: float, fault_5xx: float, answer: Answer | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer  # None: the synthetic companyfacts below
        self.limit = limit
        self.window = window
        self.fault_period = round(1 / fault_5xx) if fault_5xx > 0 else 0
        self.admitted = 0
        self.lock = threading.Lock()
        self.recent: collections.deque[float] = collections.deque()
        self.arrivals: list[float] = []
        self.counts: collections.Counter[str] = collections.Counter()

    def admit(self) -> tuple[int, float]:
        """Status to answer for a request arriving now (200, 429 or an injected 5xx) and the arrival time."""
        with self.lock:
            now = time.monotonic()
            self.arrivals.append(now)
            while self.recent and self.recent[0] <= now - self.window:
                self.recent.popleft()
            over = len(self.recent) >= self.limit
            self.recent.append(now)
            if over:
                status = 429
            else:
                self.admitted += 1
                status = 200
                period = self.fault_period
                if period and self.admitted % period == period // 4:
                    status = (500, 502, 503)[(self.admitted // period) % 3]
            self.counts[str(status)] += 1
            return status, now

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client hung up: not our problem
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real origin
    server: RateEnforcingServer

    def do_GET(self) -> None:
        if self.path == "/__stats":
            with self.server.lock:
                stats = {"counts": dict(self.server.counts), "arrivals": list(self.server.arrivals)}
            self._reply(200, orjson.dumps(stats))
            return
        status, _ = self.server.admit()
        match = COMPANYFACTS_PATH.match(self.path.split("?", 1)[0])
        if status == 429:
            self._reply(429, b'{"message": "Request rate threshold exceeded"}', {"Retry-After": "1"})
        elif status >= 500:
            self._reply(status, b"<html><body>upstream error</body></html>", content_type="text/html")
        elif self.server.answer is not None:
            code, body, headers = self.server.answer(self.path, dict(self.headers.items()))
            headers = {k.lower(): v for k, v in headers.items()}
            self._reply(code, body, headers, content_type=headers.pop("content-type", "application/json"))
        elif match is None:
            self._reply(404, b'{"message": "not found"}')
        else:
            self._reply(200, companyfacts_body(int(match.group(1))))

    def _reply(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def max_in_window(arrivals: list[float], window: float = 1.0) -> int:
    """The largest number of arrivals inside any half-open window ``(t - window, t]``."""
    times = sorted(arrivals)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10, help="requests allowed in any 1 s window")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--fault-5xx", type=float, default=0.0, help="share of admitted requests answered 5xx")
    args = parser.parse_args(argv)
    # The arrival times are the measurement: on a busy machine, ask to be scheduled ahead of the others
    # (a real origin does not share our CPUs). Only root may; elsewhere this is a no-op.
    with contextlib.suppress(OSError):
        os.nice(-10)
    server = RateEnforcingServer(args.limit, args.window, args.fault_5xx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()  # the parent closes our stdin (or kills us) to stop
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
