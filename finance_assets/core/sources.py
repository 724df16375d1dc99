"""Building the shared HTTP client for a source: live transport or replay, one rate budget per process.

Replay swaps only the transport: rate limiting, retries, parsing and the cache are the same code in
both modes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import dagster as dg

from finance_assets.core.archive import LocalBlobStore, PayloadArchive, S3BlobStore
from finance_assets.core.http import RateLimiter, ReplayRoute, ReplayTransport, SourceClient
from finance_assets.core.settings import Settings, get_settings

_LIMITERS: dict[str, RateLimiter] = {}
_LOCK = threading.Lock()


def shared_limiter(source: str, rate_per_second: float) -> RateLimiter:
    """One token bucket per source per process: concurrent clients share the source's budget."""
    with _LOCK:
        limiter = _LIMITERS.get(source)
        if limiter is None or limiter.rate_per_second != rate_per_second:
            limiter = _LIMITERS[source] = RateLimiter(rate_per_second)
        return limiter


def source_client(
    source: str,
    *,
    settings: Settings,
    user_agent: str,
    rate_per_second: float,
    routes: Sequence[ReplayRoute],
    secret_params: tuple[str, ...] = ("apikey",),
) -> SourceClient:
    transport = ReplayTransport(settings.replay_dir, routes) if settings.replay_dir else None
    return SourceClient(
        source=source,
        user_agent=user_agent,
        rate_per_second=rate_per_second,
        rate_limiter=shared_limiter(source, rate_per_second),
        timeout=settings.http_timeout_seconds,
        max_retries=settings.http_max_retries,
        cache_dir=settings.http_cache_dir,
        transport=transport,
        secret_params=secret_params,
    )


class RawArchiveResource(dg.ConfigurableResource):
    """Where raw payloads go: local folder by default, S3 (via dagster-aws) when RAW_ARCHIVE_URI is s3://."""

    def archive(self) -> PayloadArchive:
        settings = get_settings()
        location = settings.archive_location
        if location.startswith("s3://"):
            from dagster_aws.s3 import S3Resource

            client = S3Resource(
                endpoint_url=settings.s3_endpoint,
                region_name=settings.s3_region,
                use_ssl=not (settings.s3_endpoint or "").startswith("http://"),
            ).get_client()
            return PayloadArchive(S3BlobStore(client, location))
        from pathlib import Path

        return PayloadArchive(LocalBlobStore(Path(location)))
