"""One request budget per source and deployment: pyrate-limiter buckets in Redis, SQLite or memory.

SEC allows 10 requests/s per client, counted over the whole deployment, not per process: two processes
each pacing themselves at 10/s drew 85 HTTP 429s in 296 requests (issue 14). So the budget lives where
every process and pod sees it:

* ``redis://...`` (prod): a :class:`pyrate_limiter.RedisBucket`, shared by every pod reaching that Redis;
* a file path (embedded profile): a :class:`pyrate_limiter.SQLiteBucket` guarded by a file lock, shared by
  every process on the machine (default ``$LAKEHOUSE_HOME/rate_limit.sqlite``);
* ``None``: an in-memory bucket (tests, one-off clients).

The budget is one request per ``(1 + margin) / rate`` seconds, a sliding window of one: requests are
spaced, never burst, so any 1 s window holds at most ``rate`` of them. ``margin`` (3 %) keeps arrivals
under the ceiling when network jitter compresses them (a server counting arrivals in a sliding window saw
N+1 at exactly N/s). Dagster's ``sec_edgar`` pool only bounds concurrency; this is the budget.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from filelock import FileLock
from pyrate_limiter import InMemoryBucket, Limiter, Rate, RedisBucket, SQLiteBucket

#: How long a blocked caller oversleeps its computed wait before trying again (pyrate-limiter's buffer).
BUFFER_MS = 2


class RateLimiter:
    """Blocking ``acquire()`` of one request from ``name``'s budget in ``store`` (see the module doc)."""

    def __init__(
        self, rate_per_second: float, *, name: str = "default", store: str | None = None, margin: float = 0.03
    ):
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        self.rate_per_second = float(rate_per_second)  # the source's ceiling, as configured
        self.name = name
        self.store = store
        self.interval_ms = math.ceil(1000.0 * (1.0 + margin) / self.rate_per_second)
        rates = [Rate(1, self.interval_ms)]
        self._turn: Any = contextlib.nullcontext()
        if store is None:
            bucket = InMemoryBucket(rates)
        elif store.startswith(("redis://", "rediss://", "unix://")):
            key = f"finance-lakehouse:rate:{name}"
            try:
                client = redis.Redis.from_url(store)
                bucket = RedisBucket.init(rates, client, key)
                self._turn = client.lock(f"{key}:turn", timeout=60, sleep=0.002)
            except redis.RedisError as exc:  # say which store and which setting, never the password
                raise RuntimeError(
                    f"{name}: the rate budget's Redis at {store.split('@')[-1]} is unreachable ({type(exc).__name__}); "
                    "check RATE_LIMIT_REDIS_URL (or FEAST_REDIS, its default in prod)"
                ) from None
        else:
            Path(store).parent.mkdir(parents=True, exist_ok=True)
            bucket = SQLiteBucket.init_from_file(rates, table=f"rate_{name}", db_path=store, use_file_lock=True)
            self._turn = FileLock(f"{store}.turn.lock", poll_interval=0.002, thread_local=False)
        self._limiter = Limiter(bucket, buffer_ms=BUFFER_MS)
        self._lock = threading.Lock()  # one waiter per process at a time

    def acquire(self) -> float:
        """Take one request from the budget, blocking until it is due; returns the seconds waited.

        Waiters take turns across processes (``_turn``: a Redis lock with a lease, or a file lock): pyrate-limiter
        stamps a request with its process's clock *before* the store sees it, and its Redis script counts only
        entries up to that stamp, so a process delayed between the two (a busy machine) would not see a
        request another process admitted meanwhile. Measured: 50 HTTP 429s in 30 s from 4 processes at load 16
        without turns (benchmarks/rate_budget.py). Taking turns, each stamp is taken after the previous put.
        """
        started = time.monotonic()
        with self._lock, self._turn:
            self._limiter.try_acquire(self.name, blocking=True)
        return time.monotonic() - started

    def close(self) -> None:
        self._limiter.close()

    def __repr__(self) -> str:
        where = "memory" if self.store is None else self.store.split("@")[-1]
        return f"RateLimiter({self.name!r}, rate_per_second={self.rate_per_second:g}, store={where!r})"


class RateLimitedTransport(httpx.BaseTransport):
    """Takes a request from ``limiter`` for every request that reaches ``inner``: retries, revalidations and
    redirect hops count, answers from the cache do not."""

    def __init__(self, inner: httpx.BaseTransport, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.limiter.acquire()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


_LIMITERS: dict[tuple[str, str | None], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(source: str, rate_per_second: float, store: str | None = None) -> RateLimiter:
    """The process's limiter for ``source`` in ``store``: every client and thread of the process takes from it."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((source, store))
        if limiter is None or limiter.rate_per_second != rate_per_second:
            limiter = _LIMITERS[(source, store)] = RateLimiter(rate_per_second, name=source, store=store)
        return limiter
