"""The one HTTP client every source uses, assembled from maintained parts.

Every REST source (SEC EDGAR, Financial Modeling Prep, ...) goes through :class:`SourceClient`, so fair-access
limits, retries, error messages and secret handling are decided once. A request passes, top to bottom:

* **tenacity** (:data:`RETRYABLE_STATUS`, timeouts, connection errors, truncated or non-JSON bodies): one
  policy, full-jitter exponential backoff, ``Retry-After`` on 429/503 obeyed up to ``retry_after_max``;
* **hishel** (``cache_dir``): bodies are stored with their validators and revalidated with
  ``If-None-Match``/``If-Modified-Since`` on every call (a 304 costs a request, not a payload, and is reported
  as status 304), unless ``max_age_seconds`` says a stored body is fresh enough to skip the request;
* :class:`~finance_assets.core.ratelimit.RateLimitedTransport`: the source's budget, shared across processes;
* :class:`~finance_assets.core.redaction.SecretParamsTransport`: secret query parameters (``apikey``) join
  the URL only here, so logs, the cache and exceptions never hold them (they show ``apikey=***``);
* httpx's transport, or :class:`~finance_assets.core.replay.ReplayTransport` for offline runs.

:meth:`SourceClient.download` is the same stack for bodies too large to hold (SEC's bulk archives, 1-2 GB):
the body streams to a file, conditional on that file's previous download (its validators are kept beside it,
the file being its own cache, so hishel is not in its path); an unchanged body is one 304.

``origins`` points a source's canonical origin (``https://data.sec.gov``) at a mirror, proxy or test server.
Failures raise a :class:`SourceError` subclass naming the source, the redacted URL and what went wrong.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import orjson
from hishel import CacheOptions, Headers, SqliteStorage
from hishel.httpx import CacheTransport
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from finance_assets.core.ratelimit import RateLimitedTransport, RateLimiter
from finance_assets.core.redaction import (
    DEFAULT_SECRET_PARAMS,
    EXTENSION,
    REDACTED,
    SecretParamsTransport,
    origin_of,
    redact_url,
    split_secrets,
    with_secrets,
)

logger = logging.getLogger("finance_assets.http")

#: Answers worth retrying: the origin or something in front of it (CDN, proxy) is briefly unable.
#: 520-524 are Cloudflare's "origin unreachable" family, which FMP sits behind.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
#: Statuses whose ``Retry-After`` header is honoured (RFC 9110 defines it for these).
RETRY_AFTER_STATUS: frozenset[int] = frozenset({429, 503})
#: Stored with each cached response: when its body came from the origin (``max_age_seconds`` counts from it).
FETCHED_AT = "x-lakehouse-fetched-at"


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


class _Retryable(Exception):
    """One attempt's failure worth another try; ``problem`` is already secret-free."""

    def __init__(self, problem: str, status: int | None = None, retry_after: float | None = None, malformed=False):
        super().__init__(problem)
        self.problem, self.status, self.retry_after, self.malformed = problem, status, retry_after, malformed


class _PayloadProblem(Exception):
    """The body failed the caller's parser; ``reason`` is already secret-free."""


# ---- results --------------------------------------------------------------------------------------------


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
class Download:
    """A body streamed to ``path`` by :meth:`SourceClient.download`.

    ``status`` 200: new bytes were written; 304: the origin said the file from the previous download is
    still current (nothing was transferred; ``sha256``/``size`` are the file's). ``etag``/``last_modified``:
    the validators the next download sends.
    """

    url: str
    path: Path
    status: int
    sha256: str
    size: int
    fetched_at: datetime
    etag: str | None
    last_modified: str | None

    @property
    def changed(self) -> bool:
        return self.status == 200


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


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---- the cache ------------------------------------------------------------------------------------------


class _CacheStorage(SqliteStorage):
    """hishel's SQLite storage, also recording when each body was fetched (for ``max_age_seconds``).

    The requests it stores are secret-free (see :mod:`finance_assets.core.redaction`).
    """

    def create_entry(self, request: Any, response: Any, key: str, **kwargs: Any) -> Any:
        return super().create_entry(request, _stamped(response), key, **kwargs)

    def update_headers(self, id: Any, headers: Headers) -> None:  # a 304: the stored body is current again
        super().update_headers(id, _stamped_headers(headers))

    def close(self) -> None:  # every mounted CacheTransport closes it
        if not getattr(self, "_closed_once", False):
            self._closed_once = True
            super().close()


def _stamped_headers(headers: Headers) -> Headers:
    values = {key: headers.get_list(key) or [] for key in headers if key != FETCHED_AT}
    return Headers({**values, FETCHED_AT: datetime.now(UTC).isoformat()})


def _stamped(response: Any) -> Any:
    return replace(response, headers=_stamped_headers(response.headers))


class _Client(httpx.Client):
    """httpx's client with ``wrap`` around each transport it builds (the default one and every proxy mount
    from the environment's ``HTTPS_PROXY``/``NO_PROXY``), the way ``hishel.httpx.CacheClient`` does it."""

    def __init__(self, *, wrap: Callable[[httpx.BaseTransport], httpx.BaseTransport], **kwargs: Any) -> None:
        self._wrap = wrap
        super().__init__(**kwargs)

    def _init_transport(self, *args: Any, transport: httpx.BaseTransport | None = None, **kwargs: Any) -> Any:
        return self._wrap(transport or super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrap(super()._init_proxy_transport(*args, **kwargs))


# ---- the client -----------------------------------------------------------------------------------------


class SourceClient:
    """GETs from one source, politely and safely. Thread-safe; use as a context manager or ``close()``.

    ``max_retries`` counts retries after the first attempt (``max_retries=5`` → up to 6 requests).
    Waits between attempts are full-jitter exponential (``uniform(0, min(backoff_max, backoff_base *
    2**n))``) unless a 429/503 carries ``Retry-After``, which is obeyed up to ``retry_after_max`` (longer
    than ``backoff_max``: retrying before the origin asked only earns another 429; bounded so a silly
    header cannot hang a run).
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
        origins: Mapping[str, str] | None = None,
    ) -> None:
        if not user_agent or not user_agent.strip():
            raise ValueError(f"{source}: a User-Agent is required (SEC rejects anonymous clients)")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        self.source = source
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.secret_params = tuple(secret_params)
        self.backoff_base, self.backoff_max = float(backoff_base), float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.max_age_seconds = float(max_age_seconds)
        self.rate_limiter = rate_limiter or RateLimiter(rate_per_second, name=source)
        self.origins = {real.rstrip("/"): to.rstrip("/") for real, to in (origins or {}).items() if real != to}
        self._storage: _CacheStorage | None = None
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self._storage = _CacheStorage(database_path=Path(cache_dir) / f"{_safe(source)}.sqlite")
        headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate", **(extra_headers or {})}
        self._client = _Client(
            wrap=self._stack,
            headers=headers,
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=True,
        )
        # downloads: the same stack without the cache (a downloaded file is its own cache, see download())
        self._stream_client = _Client(
            wrap=self._uncached_stack,
            headers=headers,
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=True,
        )

    def _uncached_stack(self, wire: httpx.BaseTransport) -> httpx.BaseTransport:
        return RateLimitedTransport(SecretParamsTransport(wire), self.rate_limiter)

    def _stack(self, wire: httpx.BaseTransport) -> httpx.BaseTransport:
        stack = self._uncached_stack(wire)
        if self._storage is not None:
            stack = CacheTransport(stack, storage=self._storage, rfc=CacheOptions(shared=False))
        return stack

    # -- lifecycle --
    def close(self) -> None:
        self._client.close()
        self._stream_client.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None):
        self.close()

    def __repr__(self) -> str:
        return f"SourceClient(source={self.source!r}, {self.rate_limiter!r})"

    # -- public API --
    def get(
        self, url: str, params: dict[str, Any] | None = None, *, max_age_seconds: float | None = None
    ) -> FetchResult:
        """GET ``url`` (+ ``params``) and return the decompressed body; raises :class:`SourceError`."""
        return self._fetch(url, params, max_age_seconds, parse=None)[1]

    def get_json(
        self, url: str, params: dict[str, Any] | None = None, *, max_age_seconds: float | None = None
    ) -> tuple[Any, FetchResult]:
        """GET and parse JSON. A non-JSON body is retried like a 5xx (it is usually a CDN/proxy page),
        then raises :class:`MalformedPayloadError`; it is never cached."""
        return self._fetch(url, params, max_age_seconds, parse=_parse_json)

    def download(self, url: str, dest: Path, *, verify: Callable[[Path], None] | None = None) -> Download:
        """GET ``url`` streamed into the file ``dest``; conditional on the previous download of ``dest``.

        For bodies too large to hold in memory. The validators of the last download (``ETag``,
        ``Last-Modified``) are kept in ``<dest>.meta.json`` and sent as ``If-None-Match``/``If-Modified-Since``:
        an unchanged body is a 304 and ``dest`` stays as it is. The body is written to a temporary file
        beside ``dest`` and renamed into place, so ``dest`` is always a whole body. ``verify(path)`` checks
        the written file (e.g. that it is a zip) and raises ``ValueError`` if it is not what was asked for:
        retried like a truncated body (usually an error page), then :class:`MalformedPayloadError`.
        Retries, ``Retry-After``, the rate budget, the origins and the errors are those of :meth:`get`.
        """
        target = httpx.URL(self._origin(url))
        public, secrets = split_secrets(target, self.secret_params)
        shown = redact_url(with_secrets(public, secrets), self.secret_params)
        meta_path = dest.with_name(dest.name + ".meta.json")
        previous: dict[str, Any] = {}
        if dest.exists() and meta_path.exists():
            try:
                previous = orjson.loads(meta_path.read_bytes())
            except orjson.JSONDecodeError:
                previous = {}
        headers = {}
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
        request = self._stream_client.build_request(
            "GET", public, headers=headers, extensions={EXTENSION: (origin_of(public), secrets)}
        )
        return self._retried(shown, "body", self._download_attempt, request, shown, dest, meta_path, previous, verify)

    def _download_attempt(
        self,
        request: httpx.Request,
        shown: str,
        dest: Path,
        meta_path: Path,
        previous: Mapping[str, Any],
        verify: Callable[[Path], None] | None,
    ) -> Download:
        try:
            response = self._stream_client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        try:
            status = response.status_code
            if status == 304 and previous:
                return Download(
                    shown,
                    dest,
                    304,
                    previous["sha256"],
                    dest.stat().st_size,
                    datetime.now(UTC),
                    response.headers.get("etag", previous.get("etag")),
                    response.headers.get("last-modified", previous.get("last_modified")),
                )
            if status in RETRYABLE_STATUS:
                retry_after = (
                    parse_retry_after(response.headers.get("retry-after")) if status in RETRY_AFTER_STATUS else None
                )
                raise _Retryable(f"HTTP {status} {response.reason_phrase}".rstrip(), status, retry_after)
            if not 200 <= status < 300:
                snippet = response.read()[:200].decode("utf-8", "replace").strip()
                raise self._non_retryable(status, shown, snippet)
            return self._save(response, shown, dest, meta_path, verify)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        finally:
            response.close()

    def _save(
        self,
        response: httpx.Response,
        shown: str,
        dest: Path,
        meta_path: Path,
        verify: Callable[[Path], None] | None,
    ) -> Download:
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            expected = response.headers.get("content-length")
            if expected is not None and "content-encoding" not in response.headers and int(expected) != size:
                raise _Retryable(f"body ended after {size} of {expected} bytes", response.status_code)
            if verify is not None:
                try:
                    verify(Path(tmp))
                except ValueError as exc:
                    raise _Retryable(str(exc), response.status_code, malformed=True) from None
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        done = Download(
            shown,
            dest,
            response.status_code,
            digest.hexdigest(),
            size,
            datetime.now(UTC),
            response.headers.get("etag"),
            response.headers.get("last-modified"),
        )
        meta = {"url": shown, "sha256": done.sha256, "etag": done.etag, "last_modified": done.last_modified}
        meta_path.write_bytes(orjson.dumps(meta))
        return done

    # -- internals --
    def _fetch(
        self, url: str, params: Mapping[str, Any] | None, max_age: float | None, parse: Callable | None
    ) -> tuple[Any, FetchResult]:
        try:
            target = httpx.URL(self._origin(url))
            if params:
                target = target.copy_merge_params(dict(params))
        except (httpx.InvalidURL, TypeError, ValueError):
            target = None
        if target is None:  # raised outside the except block: no chained text carrying the URL
            shown = redact_url(url, self.secret_params)
            raise self._error(SourceError, f"invalid URL {shown}", shown, None)
        public, secrets = split_secrets(target, self.secret_params)
        shown = redact_url(with_secrets(public, secrets), self.secret_params)
        values = sorted({f(v) for _, v in secrets if len(v) >= 4 for f in (str, quote_plus, _quote)}, key=len)[::-1]
        key = hashlib.sha256(f"GET {public}".encode()).hexdigest()
        request = self._client.build_request(
            "GET",
            public,
            headers={"Cache-Control": "no-cache"} if self._storage is not None else None,
            extensions={EXTENSION: (origin_of(public), secrets), "caching": {"key": key}},
        )
        max_age = self.max_age_seconds if max_age is None else max_age
        if self._storage is not None and max_age > 0:
            fresh = self._fresh(key, str(public), shown, max_age, parse)
            if fresh is not None:
                return fresh

        def scrub(text: str) -> str:
            for value in values:
                text = text.replace(value, REDACTED)
            return text

        return self._retried(shown, "payload", self._attempt, request, key, shown, scrub, parse)

    def _retried(self, shown: str, what: str, attempt: Callable[..., Any], *args: Any) -> Any:
        """``attempt(*args)`` under the client's tenacity policy; the last failure as the caller's error."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: self._log_retry(state, shown),
            reraise=True,
        )
        try:
            return retrying(attempt, *args)
        except _Retryable as last:
            attempts = retrying.statistics.get("attempt_number", self.max_retries + 1)
            if last.malformed:
                message = f"returned a malformed {what} on all {attempts} attempt(s): {last.problem}"
                raise self._error(MalformedPayloadError, f"GET {shown} {message}", shown, last.status) from None
            raise SourceUnavailableError(
                f"{self.source}: GET {shown} failed after {attempts} attempt(s); last error: {last.problem}",
                self.source,
                shown,
                last.status,
                attempts,
            ) from None

    def _attempt(
        self, request: httpx.Request, key: str, shown: str, scrub: Callable[[str], str], parse: Callable | None
    ) -> tuple[Any, FetchResult]:
        started = time.perf_counter()
        try:
            response = self._client.send(request)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.TooManyRedirects) as exc:
            detail = f"{type(exc).__name__}: {scrub(str(exc))}"
            raise self._error(SourceError, f"GET {shown} failed: {detail}", shown, None) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {scrub(str(exc))}") from None
        status = response.status_code
        caching = response.extensions.get("caching") or {}
        revalidated = bool(caching.get("from_cache") and caching.get("revalidated"))
        logger.debug("%s GET %s -> %d in %.0f ms", self.source, shown, status, (time.perf_counter() - started) * 1e3)
        headers = {k: scrub(v) for k, v in response.headers.items() if k not in ("set-cookie", FETCHED_AT)}
        if 200 <= status < 300:
            try:
                parsed = parse(response.content, headers.get("content-type", "")) if parse else None
            except _PayloadProblem as problem:
                self._drop(key)  # never keep (or serve again) a body that does not parse
                if revalidated:  # a body stored by a plain get(): fetch it whole
                    return self._attempt(request, key, shown, scrub, parse)
                raise _Retryable(scrub(str(problem)), status, malformed=True) from None
            fetched = response.headers.get(FETCHED_AT)
            at = datetime.now(UTC) if revalidated or not fetched else datetime.fromisoformat(fetched)
            return parsed, _result(shown, 304 if revalidated else status, response.content, headers, revalidated, at)
        if status in RETRYABLE_STATUS:
            retry_after = (
                parse_retry_after(response.headers.get("retry-after")) if status in RETRY_AFTER_STATUS else None
            )
            raise _Retryable(f"HTTP {status} {response.reason_phrase}".rstrip(), status, retry_after)
        raise self._non_retryable(status, shown, scrub(response.content[:200].decode("utf-8", "replace").strip()))

    def _fresh(
        self, key: str, url: str, shown: str, max_age: float, parse: Callable | None
    ) -> tuple[Any, FetchResult] | None:
        """A stored body younger than ``max_age`` seconds, without a request (and without a token)."""
        assert self._storage is not None
        for entry in self._storage.get_entries(key):
            stamp = entry.response.headers.get(FETCHED_AT)
            at = datetime.fromisoformat(stamp) if stamp else None
            if at is None or entry.response.status_code != 200 or entry.request.url != url:
                continue  # a redirect hop stored under the same key, or not ours
            if not 0 <= (datetime.now(UTC) - at).total_seconds() < max_age:
                continue
            body = b"".join(entry.response.stream)  # type: ignore[arg-type]
            stored = [(k, v) for k in entry.response.headers for v in entry.response.headers.get_list(k) or []]
            response = httpx.Response(entry.response.status_code, headers=stored, stream=httpx.ByteStream(body))
            content = response.read()
            headers = {k: v for k, v in response.headers.items() if k != FETCHED_AT}
            try:
                parsed = parse(content, headers.get("content-type", "")) if parse else None
            except _PayloadProblem:
                self._drop(key)
                return None
            logger.debug("%s GET %s served from cache", self.source, shown)
            return parsed, _result(shown, entry.response.status_code, content, headers, True, at)
        return None

    def _drop(self, key: str) -> None:
        if self._storage is not None:
            for entry in self._storage.get_entries(key):
                self._storage.remove_entry(entry.id)

    def _origin(self, url: str) -> str:
        for real, configured in self.origins.items():
            if url == real or url.startswith(real + "/"):
                return configured + url[len(real) :]
        return url

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_max)
        return wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max)(state)

    def _log_retry(self, state: RetryCallState, shown: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        problem = exc.problem if isinstance(exc, _Retryable) else repr(exc)
        delay = state.next_action.sleep if state.next_action else 0.0
        total = self.max_retries + 1
        logger.warning(
            "%s GET %s attempt %d/%d failed (%s); retrying in %.2f s",
            *(self.source, shown, state.attempt_number, total, problem, delay),
        )

    def _error(self, cls: type[SourceError], message: str, url: str, status: int | None) -> SourceError:
        return cls(f"{self.source}: {message}", self.source, url, status)

    def _non_retryable(self, status: int, shown: str, snippet: str) -> SourceError:
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


def _result(shown: str, status: int, content: bytes, headers: dict[str, str], cached: bool, at: datetime):
    sha = hashlib.sha256(content).hexdigest()
    return FetchResult(
        url=shown, status=status, content=content, headers=dict(headers), fetched_at=at, from_cache=cached, sha256=sha
    )


def _quote(value: str) -> str:
    return quote(value, safe="")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
