"""The one HTTP client every source uses: rate limit, retries, conditional cache, redaction, replay.

Every REST source (SEC EDGAR, Financial Modeling Prep, ...) goes through :class:`SourceClient` so that
fair-access limits, retry policy, error messages and secret handling are decided once:

* a token bucket (:class:`RateLimiter`) paces **every** request that reaches the network, retries
  and redirect hops included, and can be shared between clients that hit the same host;
* 408/429/5xx-gateway answers, timeouts and connection errors are retried with exponential backoff
  and full jitter, honouring ``Retry-After`` on 429/503 (capped by ``retry_after_max``);
* failures raise a :class:`SourceError` subclass whose text names the source, the *redacted* URL and
  what went wrong; secret query parameters (``apikey`` ...) never reach exceptions, logs, results or
  the cache key, and httpx's own ``HTTP Request:`` log line is redacted too;
* with ``cache_dir`` set, bodies are cached with their validators and revalidated with
  ``If-None-Match``/``If-Modified-Since`` (a 304 costs a request but no payload);
* :class:`ReplayTransport` serves recorded responses through the very same client (only the transport
  is swapped), so offline runs exercise the production code path.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import logging
import mimetypes
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlencode, urlsplit, urlunsplit

import httpx
import orjson

logger = logging.getLogger("finance_assets.http")

REDACTED = "***"
DEFAULT_SECRET_PARAMS: tuple[str, ...] = ("apikey",)
#: Answers worth retrying: the origin or something in front of it (CDN, proxy) is briefly unable.
#: 520-524 are Cloudflare's "origin unreachable" family, which FMP sits behind.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
#: Statuses whose ``Retry-After`` header is honoured (RFC 9110 defines it for these).
RETRY_AFTER_STATUS: frozenset[int] = frozenset({429, 503})


# ---- errors -------------------------------------------------------------------------------------------


class SourceError(RuntimeError):
    """A source request failed; carries ``source``, the redacted ``url`` and the HTTP ``status``."""

    def __init__(self, message: str, source: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep exceptions picklable (Dagster ships them between processes).
        return (self.__class__, (str(self), self.source, self.url, self.status))


class NotFoundError(SourceError):
    """404: the resource does not exist (e.g. an unknown CIK); never retried."""


class SourceAuthError(SourceError):
    """401/403: the API key or the SEC User-Agent was rejected; retrying will not help."""


class SourceUnavailableError(SourceError):
    """Retryable failures (429/5xx/timeouts/connection errors) persisted through every attempt."""

    def __init__(self, message: str, source: str, url: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message, source, url, status)
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (str(self), self.source, self.url, self.status, self.attempts))


class MalformedPayloadError(SourceError):
    """The body is not what was asked for (truncated JSON, an HTML error page served with 200)."""


# ---- redaction ----------------------------------------------------------------------------------------


def redact_url(url: str | httpx.URL, secret_params: Iterable[str] = DEFAULT_SECRET_PARAMS) -> str:
    """``url`` with the values of ``secret_params`` (case-insensitive) and any password replaced by ***.

    Everything else is left byte-for-byte as given, so the redacted URL still identifies the request.
    """
    text = str(url)
    secrets = {name.lower() for name in secret_params}
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{hostport}"
    query = parts.query
    if query and secrets:
        pieces = []
        for piece in query.split("&"):
            name, sep, _ = piece.partition("=")
            if sep and unquote_plus(name).lower() in secrets:
                piece = f"{name}={REDACTED}"
            pieces.append(piece)
        query = "&".join(pieces)
    if netloc == parts.netloc and query == parts.query:
        return text
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _query_secret_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = "|".join(sorted(re.escape(n) for n in {n.lower() for n in names} if n))
    if not alternatives:
        return None
    return re.compile(rf"(?i)([?&;](?:{alternatives})=)[^&;\s#\"'<>]*")


def _scrub(text: str, pattern: re.Pattern[str] | None, values: Iterable[str] = ()) -> str:
    """Remove secrets from free text (httpx messages, body snippets): by query shape and by value."""
    if pattern is not None:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    for value in values:
        text = text.replace(value, REDACTED)
    return text


class _RedactingLogFilter(logging.Filter):
    """Redacts secret query params from third-party log lines (httpx logs every full request URL)."""

    def __init__(self) -> None:
        super().__init__()
        self._names: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, names: Iterable[str]) -> None:
        with self._lock:
            new = {n.lower() for n in names} - self._names
            if new:
                self._names |= new
                self._pattern = _query_secret_pattern(self._names)

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = self._pattern
        if pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        redacted = pattern.sub(rf"\g<1>{REDACTED}", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_LOG_FILTER = _RedactingLogFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)
_LOG_FILTER.add(DEFAULT_SECRET_PARAMS)


# ---- rate limiting ------------------------------------------------------------------------------------


class RateLimiter:
    """Thread-safe token bucket on the monotonic clock.

    ``burst=1`` (the default) spaces requests ``1/rate`` apart, so any 1 s window holds at most
    ``rate + 1`` requests: what SEC's "10 requests/second" fair-access rule needs. Waiters are released
    one at a time; with ``burst=1`` a release is also never closer than ``1/rate`` to the previous
    *actual* release, so a thread that wakes up late (a busy machine) delays the ones behind it instead
    of letting them through in a burst (benchmarks/edgar_client.py measured 12 in a 1 s window at 9.7/s
    before this).

    ``margin`` paces a little under the ceiling: a source that enforces N requests per sliding 1 s window
    counts *arrival* times, which network jitter compresses, so requests sent exactly ``1/rate`` apart
    can land N+1 in one window (the EDGAR benchmark saw 429s at exactly 10/s). With the default 3%,
    requests leave ``1.03/rate`` apart (9.7/s for SEC's 10/s).
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        margin: float = 0.03,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        self.rate_per_second = float(rate_per_second)  # the source's ceiling, as configured
        self._pace = self.rate_per_second / (1.0 + margin)  # the rate requests actually leave at
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()
        self._release = threading.Lock()  # held while a waiter sleeps: releases happen one at a time
        self._last_release = float("-inf")

    def acquire(self) -> float:
        """Take one token, blocking until it is due; returns the seconds waited."""
        with self._release:
            with self._lock:
                now = self._clock()
                self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self._pace)
                self._updated = now
                self._tokens -= 1.0
                wait = 0.0 if self._tokens >= 0 else -self._tokens / self._pace
            if wait > 0:
                self._sleep(wait)
            if self.burst == 1:
                gap = self._last_release + 1.0 / self._pace - self._clock()
                if gap > 0:  # the previous waiter was released late: keep the spacing from its release
                    self._sleep(gap)
                    wait += gap
                self._last_release = self._clock()
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(rate_per_second={self.rate_per_second:g}, burst={self.burst})"


# ---- results and cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """One answered GET.

    ``status`` is what the origin said: 304 when a cached body was revalidated (``content`` is then
    the cached bytes). A fresh cache hit (``max_age_seconds``) makes no request and reports the stored
    status and its original ``fetched_at``; otherwise ``fetched_at`` is when the origin answered.
    """

    url: str
    status: int
    content: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    fetched_at: datetime
    from_cache: bool
    sha256: str


@dataclass(frozen=True)
class _CacheEntry:
    url: str
    status: int
    content: bytes
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    fetched_at: datetime
    sha256: str


class _ResponseCache:
    """Body + validators per request, under ``<root>/<source>/<k[:2]>/<k>.{body,meta.json}``.

    Both files are written atomically (temp file + ``os.replace``), body first; the meta records the
    body's sha256 so a torn pair from concurrent writers reads as a miss, never as wrong bytes.
    """

    def __init__(self, root: Path, source: str) -> None:
        self.root = Path(root) / re.sub(r"[^A-Za-z0-9_.-]", "_", source)

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.body", folder / f"{key}.meta.json"

    def load(self, key: str) -> _CacheEntry | None:
        body_path, meta_path = self._paths(key)
        try:
            meta = orjson.loads(meta_path.read_bytes())
            content = body_path.read_bytes()
            if hashlib.sha256(content).hexdigest() != meta["sha256"]:
                return None
            return _CacheEntry(
                url=meta["url"],
                status=int(meta["status"]),
                content=content,
                headers=dict(meta.get("headers") or {}),
                etag=meta.get("etag"),
                last_modified=meta.get("last_modified"),
                fetched_at=datetime.fromisoformat(meta["fetched_at"]),
                sha256=meta["sha256"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, entry: _CacheEntry, *, body: bool = True) -> None:
        body_path, meta_path = self._paths(key)
        meta = {
            "url": entry.url,
            "status": entry.status,
            "headers": entry.headers,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "fetched_at": entry.fetched_at.isoformat(),
            "sha256": entry.sha256,
        }
        try:
            body_path.parent.mkdir(parents=True, exist_ok=True)
            if body:
                _atomic_write(body_path, entry.content)
            _atomic_write(meta_path, orjson.dumps(meta))
        except OSError as exc:  # a cache that cannot be written must not fail the fetch
            logger.warning("could not write HTTP cache entry %s: %s", meta_path, exc)

    def drop(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _PayloadProblem(Exception):
    """Internal: the body failed the caller's parser; ``reason`` is already secret-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse_json(content: bytes, content_type: str) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        stripped = content.lstrip()
        if not stripped:
            reason = f"expected JSON, got an empty body ({content_type or 'no content type'})"
        elif stripped[:1] == b"<" or "html" in content_type or "xml" in content_type:
            snippet = stripped[:40].decode("utf-8", "replace")
            reason = f"expected JSON, got {content_type or 'no content type'} starting with {snippet!r}"
        else:
            tail = content[-40:].decode("utf-8", "replace")
            reason = f"invalid JSON ({exc}); {len(content)} bytes ending with {tail!r}"
        raise _PayloadProblem(reason) from None


# ---- the client -----------------------------------------------------------------------------------


class SourceClient:
    """GETs from one source, politely and safely. Thread-safe; use as a context manager or ``close()``.

    ``max_retries`` counts retries after the first attempt (``max_retries=5`` → up to 6 requests).
    Waits between attempts are full-jitter exponential (``uniform(0, min(backoff_max,
    backoff_base * 2**n))``) unless a 429/503 carries ``Retry-After``, which is obeyed up to
    ``retry_after_max`` (default 120 s: longer than ``backoff_max`` because retrying before the origin
    asked only earns another 429, but bounded so a silly header cannot hang a run).
    """

    def __init__(
        self,
        *,
        source: str,
        user_agent: str,
        rate_per_second: float = 10.0,
        timeout: float = 30.0,
        max_retries: int = 5,
        cache_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        secret_params: tuple[str, ...] = DEFAULT_SECRET_PARAMS,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        extra_headers: dict[str, str] | None = None,
        rate_limiter: RateLimiter | None = None,
        max_age_seconds: float = 0.0,
        retry_after_max: float = 120.0,
    ) -> None:
        if not user_agent or not user_agent.strip():
            raise ValueError(f"{source}: a User-Agent is required (SEC rejects anonymous clients)")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        self.source = source
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.secret_params = tuple(secret_params)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.max_age_seconds = float(max_age_seconds)
        self.rate_limiter = rate_limiter or RateLimiter(rate_per_second)
        self._secret_names = {name.lower() for name in self.secret_params}
        self._secret_pattern = _query_secret_pattern(self._secret_names)
        _LOG_FILTER.add(self._secret_names)
        self._cache = _ResponseCache(Path(cache_dir), source) if cache_dir is not None else None
        headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate", **(extra_headers or {})}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=True,
            # A request hook fires for every request httpx sends, redirect hops included, so the
            # limiter sees exactly the traffic the origin sees.
            event_hooks={"request": [self._take_token]},
        )

    # -- lifecycle --
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SourceClient(source={self.source!r}, {self.rate_limiter!r})"

    # -- public API --
    def get(
        self, url: str, params: dict[str, Any] | None = None, *, max_age_seconds: float | None = None
    ) -> FetchResult:
        """GET ``url`` (+ ``params``) and return the decompressed body; raises :class:`SourceError`."""
        _, result = self._fetch(url, params, max_age_seconds, parse=None)
        return result

    def get_json(
        self, url: str, params: dict[str, Any] | None = None, *, max_age_seconds: float | None = None
    ) -> tuple[Any, FetchResult]:
        """GET and parse JSON. A non-JSON body is retried like a 5xx (it is usually a CDN/proxy page),
        then raises :class:`MalformedPayloadError`; it is never cached."""
        return self._fetch(url, params, max_age_seconds, parse=_parse_json)

    # -- internals --
    def _take_token(self, request: httpx.Request) -> None:
        self.rate_limiter.acquire()

    def _error(self, cls: type[SourceError], message: str, url: str, status: int | None) -> SourceError:
        return cls(f"{self.source}: {message}", self.source, url, status)

    def _cache_key(self, target: httpx.URL) -> str:
        """Secret-free, order-independent identity of a request (different API keys share entries)."""
        items = sorted((k, v) for k, v in target.params.multi_items() if k.lower() not in self._secret_names)
        base = str(target.copy_with(query=None, fragment=None))
        canonical = f"{base}?{urlencode(items)}" if items else base
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _secret_values(self, target: httpx.URL) -> list[str]:
        values: set[str] = set()
        for key, value in target.params.multi_items():
            if key.lower() in self._secret_names and len(value) >= 4:
                values.update({value, quote(value, safe=""), quote_plus(value)})
        return sorted(values, key=len, reverse=True)

    def _backoff(self, retry_index: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2**retry_index))

    def _fetch(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        max_age_seconds: float | None,
        parse: Callable[[bytes, str], Any] | None,
    ) -> tuple[Any, FetchResult]:
        try:
            target = httpx.URL(url)
            if params:
                target = target.copy_merge_params(dict(params))
        except (httpx.InvalidURL, TypeError, ValueError):
            target = None
        if target is None:  # raised outside the except block: no chained text carrying the URL
            shown = redact_url(url, self.secret_params)
            raise self._error(SourceError, f"invalid URL {shown}", shown, None)

        shown = redact_url(target, self.secret_params)
        secrets = self._secret_values(target)
        cache = self._cache
        key = self._cache_key(target) if cache is not None else ""
        entry = cache.load(key) if cache is not None else None
        max_age = self.max_age_seconds if max_age_seconds is None else max_age_seconds

        if entry is not None and max_age > 0:
            age = (datetime.now(UTC) - entry.fetched_at).total_seconds()
            if 0 <= age < max_age:
                try:
                    parsed = parse(entry.content, entry.headers.get("content-type", "")) if parse else None
                except _PayloadProblem:
                    parsed, entry = None, None
                    if cache is not None:
                        cache.drop(key)
                if entry is not None:
                    logger.debug("%s GET %s served from cache (age %.0f s)", self.source, shown, age)
                    return parsed, self._result(
                        shown, entry.status, entry.content, entry.headers, True, entry.fetched_at
                    )

        total = self.max_retries + 1
        last_problem = "no attempt made"
        last_status: int | None = None
        malformed = False
        attempt = 0
        while attempt < total:
            attempt += 1
            headers: dict[str, str] = {}
            if entry is not None:
                if entry.etag:
                    headers["If-None-Match"] = entry.etag
                if entry.last_modified:
                    headers["If-Modified-Since"] = entry.last_modified
            retry_after: float | None = None
            fatal: SourceError | None = None
            response: httpx.Response | None = None
            started = time.perf_counter()
            try:
                response = self._client.send(self._client.build_request("GET", target, headers=headers))
            except httpx.TimeoutException as exc:
                last_problem, last_status = f"timed out after {self.timeout:g} s ({type(exc).__name__})", None
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.TooManyRedirects) as exc:
                detail = _scrub(str(exc), self._secret_pattern, secrets)
                fatal = self._error(SourceError, f"GET {shown} failed: {type(exc).__name__}: {detail}", shown, None)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                detail = _scrub(str(exc), self._secret_pattern, secrets)
                last_problem, last_status = f"{type(exc).__name__}: {detail}", None
            if fatal is not None:
                raise fatal
            elapsed_ms = (time.perf_counter() - started) * 1000

            if response is None:
                malformed = False
                logger.debug(
                    "%s GET %s -> %s in %.0f ms (attempt %d/%d)",
                    self.source,
                    shown,
                    last_problem,
                    elapsed_ms,
                    attempt,
                    total,
                )
            else:
                status = response.status_code
                logger.debug(
                    "%s GET %s -> %d in %.0f ms (attempt %d/%d)",
                    self.source,
                    shown,
                    status,
                    elapsed_ms,
                    attempt,
                    total,
                )
                resp_headers = {
                    k: _scrub(v, self._secret_pattern, secrets)
                    for k, v in response.headers.items()
                    if k != "set-cookie"
                }
                ctype = resp_headers.get("content-type", "")

                if status == 304 and entry is not None:
                    merged = {
                        **entry.headers,
                        **{k: v for k, v in resp_headers.items() if k != "content-length"},
                    }
                    now = datetime.now(UTC)
                    try:
                        parsed = parse(entry.content, merged.get("content-type", "")) if parse else None
                    except _PayloadProblem:
                        # The cached body (stored by a plain get()) does not parse: refetch it whole.
                        if cache is not None:
                            cache.drop(key)
                        entry = None
                        attempt -= 1
                        continue
                    refreshed = _CacheEntry(
                        url=shown,
                        status=entry.status,
                        content=entry.content,
                        headers=merged,
                        etag=resp_headers.get("etag", entry.etag),
                        last_modified=resp_headers.get("last-modified", entry.last_modified),
                        fetched_at=now,
                        sha256=entry.sha256,
                    )
                    if cache is not None:
                        cache.store(key, refreshed, body=False)
                    return parsed, self._result(shown, 304, entry.content, merged, True, now)

                if 200 <= status < 300:
                    content = response.content
                    try:
                        parsed = parse(content, ctype) if parse else None
                    except _PayloadProblem as problem:
                        malformed = True
                        last_problem = _scrub(problem.reason, self._secret_pattern, secrets)
                        last_status = status
                    else:
                        now = datetime.now(UTC)
                        result = self._result(shown, status, content, resp_headers, False, now)
                        if cache is not None and status == 200:
                            cache.store(
                                key,
                                _CacheEntry(
                                    url=shown,
                                    status=status,
                                    content=content,
                                    headers=resp_headers,
                                    etag=resp_headers.get("etag"),
                                    last_modified=resp_headers.get("last-modified"),
                                    fetched_at=now,
                                    sha256=result.sha256,
                                ),
                            )
                        return parsed, result
                elif status in RETRYABLE_STATUS:
                    malformed = False
                    last_problem, last_status = f"HTTP {status} {response.reason_phrase}".rstrip(), status
                    if status in RETRY_AFTER_STATUS:
                        retry_after = _parse_retry_after(response.headers.get("retry-after"))
                else:
                    snippet = _scrub(
                        response.content[:200].decode("utf-8", "replace").strip(),
                        self._secret_pattern,
                        secrets,
                    )
                    raise self._non_retryable(status, shown, snippet, attempt)

            if attempt >= total:
                break
            delay = self._backoff(attempt - 1, retry_after)
            logger.warning(
                "%s GET %s attempt %d/%d failed (%s); retrying in %.2f s",
                self.source,
                shown,
                attempt,
                total,
                last_problem,
                delay,
            )
            if delay > 0:
                time.sleep(delay)

        if malformed:
            raise MalformedPayloadError(
                f"{self.source}: GET {shown} returned a malformed payload on all {attempt} attempt(s): {last_problem}",
                self.source,
                shown,
                last_status,
            )
        raise SourceUnavailableError(
            f"{self.source}: GET {shown} failed after {attempt} attempt(s); last error: {last_problem}",
            self.source,
            shown,
            last_status,
            attempt,
        )

    def _non_retryable(self, status: int, shown: str, snippet: str, attempt: int) -> SourceError:
        body = f": {snippet!r}" if snippet else ""
        if status == 404:
            return self._error(NotFoundError, f"GET {shown} -> 404 Not Found{body}", shown, status)
        if status in (401, 403):
            hint = (
                "check the API key (is it set, valid and entitled to this endpoint?) and, for SEC, "
                "that the User-Agent names you and a contact email"
            )
            return self._error(SourceAuthError, f"GET {shown} -> HTTP {status}{body}; {hint}", shown, status)
        what = "unexpected response" if status < 400 or status >= 500 else "client error"
        return self._error(SourceError, f"GET {shown} -> HTTP {status} ({what}, not retried){body}", shown, status)

    @staticmethod
    def _result(
        shown: str, status: int, content: bytes, headers: dict[str, str], from_cache: bool, at: datetime
    ) -> FetchResult:
        return FetchResult(
            url=shown,
            status=status,
            content=content,
            headers=dict(headers),
            fetched_at=at,
            from_cache=from_cache,
            sha256=hashlib.sha256(content).hexdigest(),
        )


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---- replay -------------------------------------------------------------------------------------------

#: ``resolve(match, params)`` → candidate paths relative to the replay root, tried in order.
Resolver = Callable[[re.Match[str], Mapping[str, str]], Sequence[str]]


@dataclass(frozen=True)
class ReplayRoute:
    """Maps live URLs to recorded files: ``host`` equal, ``path`` fullmatching the URL path (no query).

    The query parameters reach ``resolve`` so routes like FMP's can pick files by ``symbol``/``period``.
    """

    host: str
    path: re.Pattern[str]
    resolve: Resolver

    def __post_init__(self) -> None:
        if isinstance(self.path, str):
            object.__setattr__(self, "path", re.compile(self.path))
        object.__setattr__(self, "host", self.host.lower())


def replay_templates(*templates: str) -> Resolver:
    """A resolver filling ``str.format`` templates from the path's named groups and query params.

    A template that needs a value the request lacks is skipped, so optional variants can be listed.
    """

    def resolve(match: re.Match[str], params: Mapping[str, str]) -> list[str]:
        values = {**params, **{k: v for k, v in match.groupdict().items() if v is not None}}
        candidates = []
        for template in templates:
            try:
                candidates.append(template.format(**values))
            except (KeyError, IndexError):
                continue
        return candidates

    return resolve


_CONTENT_TYPES = {".json": "application/json", ".csv": "text/csv", ".xml": "application/xml"}


class ReplayTransport(httpx.BaseTransport):
    """Serves recorded responses from ``root`` as if they were the live source.

    A candidate ``x`` is served from ``root/x`` or, gunzipped, from ``root/x.gz``. Anything not recorded,
    unmatched, escaping the root, or named ``*.trimmed.*`` (reduced reference copies) is a 404, exactly
    what the live source answers for an unknown company. The first route that matches decides.
    Responses carry a content-hash ``ETag`` and honour ``If-None-Match``, so the cache path is exercised.
    """

    def __init__(self, root: Path, routes: Sequence[ReplayRoute]) -> None:
        self.root = Path(root).resolve()
        self.routes = tuple(routes)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return httpx.Response(405, text="replay serves GET only", request=request)
        url = request.url
        host = (url.host or "").lower()
        params = dict(url.params.items())
        for route in self.routes:
            if route.host != host:
                continue
            match = route.path.fullmatch(url.path)
            if match is None:
                continue
            for candidate in route.resolve(match, params):
                found = self._locate(candidate)
                if found is not None:
                    return self._serve(request, candidate, found)
            return self._not_found(request, "no recorded response")
        return self._not_found(request, "no replay route")

    def _locate(self, candidate: str) -> Path | None:
        relative = PurePosixPath(candidate)
        if not candidate or relative.is_absolute() or ".." in relative.parts or ".trimmed." in relative.name:
            return None
        for path in (self.root / relative, self.root / f"{relative}.gz"):
            if path.is_file() and path.resolve().is_relative_to(self.root):
                return path
        return None

    def _serve(self, request: httpx.Request, candidate: str, path: Path) -> httpx.Response:
        body = path.read_bytes()
        if path.suffix == ".gz" and not candidate.endswith(".gz"):
            body = gzip.decompress(body)
        suffix = PurePosixPath(candidate).suffix.lower()
        ctype = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(candidate)[0] or "application/octet-stream"
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"content-type": ctype, "etag": etag, "x-replay": "hit"}
        if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
            return httpx.Response(304, headers={"etag": etag, "x-replay": "hit"}, request=request)
        return httpx.Response(200, headers=headers, content=body, request=request)

    @staticmethod
    def _not_found(request: httpx.Request, why: str) -> httpx.Response:
        return httpx.Response(
            404,
            headers={"x-replay": "miss"},
            text=f"Not Found (replay: {why} for {request.url.path})",
            request=request,
        )
