"""Building the shared HTTP client for a source: live transport or replay, one rate budget per deployment.

Replay swaps only the transport: rate limiting, retries, parsing and the cache are the same code in
both modes. The budget is :func:`~finance_assets.core.ratelimit.shared_limiter`'s: one per source and
store (Redis in prod, a SQLite file in the embedded profile), shared by every process that uses the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx

from finance_assets.core.http import SourceClient
from finance_assets.core.ratelimit import shared_limiter
from finance_assets.core.replay import ReplayRoute, ReplayTransport

__all__ = ["ReplayWrap", "fetch_each", "shared_limiter", "source_client"]

T = TypeVar("T")
R = TypeVar("R")

#: ``(replay root, cache dir, route transport) -> transport``: a source's replay beyond its routes (e.g. SEC's
#: bulk archives, built from the recordings rather than recorded).
ReplayWrap = Callable[[Path, Path, httpx.BaseTransport], httpx.BaseTransport]


def source_client(
    source: str,
    *,
    user_agent: str,
    rate_per_second: float,
    routes: Sequence[ReplayRoute],
    replay_dir: Path | None,
    timeout: float,
    max_retries: int,
    cache_dir: Path,
    secret_params: tuple[str, ...] = ("apikey",),
    rate_limit_store: str | None = None,
    origins: Mapping[str, str] | None = None,
    replay_wrap: ReplayWrap | None = None,
) -> SourceClient:
    transport: httpx.BaseTransport | None = None
    if replay_dir:
        transport = ReplayTransport(replay_dir, routes, origins)
        if replay_wrap is not None:
            transport = replay_wrap(replay_dir, cache_dir, transport)
    return SourceClient(
        source=source,
        user_agent=user_agent,
        rate_per_second=rate_per_second,
        rate_limiter=shared_limiter(source, rate_per_second, rate_limit_store),
        timeout=timeout,
        max_retries=max_retries,
        cache_dir=cache_dir,
        transport=transport,
        secret_params=secret_params,
        origins=origins,
    )


def fetch_each(items: Iterable[T], load: Callable[[T], R], *, ahead: int = 4) -> Iterator[tuple[T, R | Exception]]:
    """``load(item)`` for every item, ``ahead`` at a time in threads, results in input order.

    For a run over many companies: while one company's payload is parsed, the next ones are already on
    the wire, so the run moves at the source's rate limit (which every thread shares), not at the sum of
    latencies. An exception is returned in place of its item's result, for the caller to collect.
    """
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="fetch")
    pending: deque[tuple[T, Future[R]]] = deque()
    try:
        for item in items:
            pending.append((item, pool.submit(load, item)))
            while len(pending) >= ahead:
                yield _settle(*pending.popleft())
        while pending:
            yield _settle(*pending.popleft())
    finally:  # a consumer that stops early (e.g. the source is down) does not wait for the rest
        pool.shutdown(wait=True, cancel_futures=True)


def _settle(item: T, future: Future[R]) -> tuple[T, R | Exception]:
    try:
        return item, future.result()
    except Exception as exc:  # handed to the caller, which names the item
        return item, exc
