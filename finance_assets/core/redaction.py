"""Secrets in URLs (``apikey``): added at the wire by a transport, so nothing above it ever holds them.

:class:`SourceClient <finance_assets.core.http.SourceClient>` takes secret query parameters off the URL
before httpx sees it and hands them to :class:`SecretParamsTransport` in the request's extensions. httpx's
own ``HTTP Request:`` log line, the HTTP cache (its keys and stored requests), redirects' bookkeeping and
every exception therefore carry the secret-free URL; only the bytes on the socket (or the replay transport)
see the key. What is shown to people is :func:`redact_url` of the full URL: ``apikey=***``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx

REDACTED = "***"
DEFAULT_SECRET_PARAMS: tuple[str, ...] = ("apikey",)
#: The request extension carrying ``(origin, [(name, value), ...])`` from the client to the transport.
EXTENSION = "finance_assets.secret_params"


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


def split_secrets(url: httpx.URL, secret_params: Iterable[str]) -> tuple[httpx.URL, list[tuple[str, str]]]:
    """``url`` without its secret query parameters, and those parameters (in order)."""
    names = {name.lower() for name in secret_params}
    pairs = url.params.multi_items()
    secrets = [(k, v) for k, v in pairs if k.lower() in names]
    if not secrets:
        return url, []
    public = [(k, v) for k, v in pairs if k.lower() not in names]
    return url.copy_with(params=httpx.QueryParams(public)), secrets


def with_secrets(url: httpx.URL, secrets: list[tuple[str, str]]) -> httpx.URL:
    """``url`` with ``secrets`` appended to its query (what goes on the wire)."""
    return url.copy_with(params=httpx.QueryParams([*url.params.multi_items(), *secrets])) if secrets else url


class SecretParamsTransport(httpx.BaseTransport):
    """Adds the request's secret query parameters (see the module doc) just before ``inner`` sends it.

    Only to the origin the secrets were given for: a redirect to another host does not receive the key.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin, secrets = request.extensions.get(EXTENSION, (None, []))
        if secrets and origin_of(request.url) == origin:
            request = httpx.Request(
                request.method,
                with_secrets(request.url, secrets),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """The origin (scheme, host, port) whose requests get the secrets."""
    return (url.scheme, url.host, url.port)
