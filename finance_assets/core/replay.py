"""Replay: recorded responses served as an httpx transport, so offline runs take the production code path.

Only the transport is swapped: rate limiting, retries, parsing and the cache are the same code in both modes.
Each source owns its URL layout (``edgar/replay_routes.py``, ``fmp/replay_routes.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

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

    ``origins`` maps a configured base URL (a mirror, a proxy) back to the source's own origin, so the
    routes, written for the source's real URLs, keep answering whatever origin the client is pointed at.
    """

    def __init__(self, root: Path, routes: Sequence[ReplayRoute], origins: Mapping[str, str] | None = None) -> None:
        self.root = Path(root).resolve()
        self.routes = tuple(routes)
        self.origins = {configured.rstrip("/"): real.rstrip("/") for real, configured in (origins or {}).items()}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return httpx.Response(405, text="replay serves GET only", request=request)
        url = request.url
        for configured, real in self.origins.items():
            if configured != real and str(url).startswith(configured + "/"):
                url = httpx.URL(real + str(url)[len(configured) :])
                break
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
