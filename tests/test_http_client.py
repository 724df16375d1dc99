"""SourceClient against real loopback HTTP servers (no mocking of httpx) and against recorded replay data."""

from __future__ import annotations

import gzip
import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from finance_assets.core.http import (
    FetchResult,
    MalformedPayloadError,
    NotFoundError,
    SourceAuthError,
    SourceClient,
    SourceError,
    SourceUnavailableError,
    parse_retry_after,
)
from finance_assets.core.ratelimit import RateLimiter
from finance_assets.core.redaction import redact_url
from finance_assets.core.replay import ReplayRoute, ReplayTransport, replay_templates
from finance_assets.edgar.replay_routes import EDGAR_ROUTES

pytestmark = pytest.mark.timeout(60)

SOURCE = "loopback-test"
UA = "finance-lakehouse tests tests@example.com"
SECRET = "SENTINEL-123"
REPLAY_ROOT = Path(__file__).resolve().parents[2] / "shared" / "replay"


# ---- a real HTTP server on 127.0.0.1 ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


@dataclass
class Hit:
    path: str  # with query string
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


# (hit number for this path starting at 1, the hit) -> reply
Behaviour = Callable[[int, Hit], Reply]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hit = Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                route = self.path.split("?", 1)[0]
                with outer._lock:
                    outer.hits.append(hit)
                    n = sum(1 for h in outer.hits if h.path.split("?", 1)[0] == route)
                behaviour = outer.routes.get(route)
                reply = behaviour(n, hit) if behaviour else Reply(404, b"no such route")
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.status != 304:
                        self.wfile.write(reply.body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def hits_for(self, route: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.split("?", 1)[0] == route]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def make_client(**kwargs: Any) -> SourceClient:
    options: dict[str, Any] = {
        "source": SOURCE,
        "user_agent": UA,
        "rate_per_second": 1000.0,
        "timeout": 5.0,
        "max_retries": 3,
        "backoff_base": 0.05,
        "backoff_max": 0.2,
    }
    options.update(kwargs)
    return SourceClient(**options)


def always(reply: Reply) -> Behaviour:
    return lambda n, hit: reply


def sequence(*replies: Reply) -> Behaviour:
    """The n-th hit gets the n-th reply; later hits get the last one."""
    return lambda n, hit: replies[min(n, len(replies)) - 1]


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start <= window) for i, start in enumerate(times))


# ---- rate limiting -------------------------------------------------------------------------------------


def test_rate_limit_holds_and_identity_headers_are_sent(server: LoopbackServer) -> None:
    server.routes["/r"] = always(Reply())
    with make_client(rate_per_second=10.0) as client:
        started = time.monotonic()
        for _ in range(25):
            assert client.get(server.url("/r")).status == 200
        elapsed = time.monotonic() - started
    arrivals = [h.at for h in server.hits_for("/r")]
    assert len(arrivals) == 25
    assert elapsed >= 2.35, elapsed  # 24 gaps of 0.1 s after the first token
    assert max_in_window(arrivals) <= 11
    first = server.hits_for("/r")[0].headers
    assert first["user-agent"] == UA
    assert first["accept-encoding"] == "gzip, deflate"


def test_limiter_is_shared_between_clients_and_threads(server: LoopbackServer) -> None:
    server.routes["/s"] = always(Reply())
    limiter = RateLimiter(20.0)
    clients = [make_client(rate_limiter=limiter) for _ in range(2)]

    def work(client: SourceClient) -> None:
        for _ in range(10):
            client.get(server.url("/s"))

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    for c in clients:
        c.close()
    arrivals = [h.at for h in server.hits_for("/s")]
    assert len(arrivals) == 20
    assert elapsed >= 0.9, elapsed  # 19 gaps of 0.05 s
    assert max_in_window(arrivals) <= 21


def test_rate_limiter_spaces_requests_under_the_ceiling_with_a_margin() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(10.0, margin=1.0)
    # SEC's 10/s: one request per 103 ms (3% under the ceiling), never a burst
    limiter = RateLimiter(10.0)
    assert (limiter.rate_per_second, limiter.interval_ms) == (10.0, 103)
    assert limiter.acquire() < 0.05  # the first one is free
    times = []
    for _ in range(6):
        limiter.acquire()
        times.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.100, gaps  # pyrate-limiter's clock has ms resolution


# ---- retries -------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    server.routes["/busy"] = sequence(Reply(429, b"slow down", {"Retry-After": "1"}), Reply())
    caplog.set_level(logging.DEBUG, logger="finance_assets.http")
    with make_client() as client:
        result = client.get(server.url("/busy"))
    hits = server.hits_for("/busy")
    assert result.status == 200 and len(hits) == 2
    assert hits[1].at - hits[0].at >= 1.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "finance_assets.http"]
    assert warnings and "429" in warnings[0].getMessage()


def test_503_twice_then_success(server: LoopbackServer) -> None:
    server.routes["/flaky"] = sequence(Reply(503, b"unavailable"), Reply(503, b"unavailable"), Reply())
    with make_client() as client:
        data, result = client.get_json(server.url("/flaky"))
    assert data == {"ok": True} and result.status == 200 and not result.from_cache
    assert len(server.hits_for("/flaky")) == 3


def test_persistent_500_raises_source_unavailable(server: LoopbackServer) -> None:
    server.routes["/broken"] = always(Reply(500, b"boom"))
    with make_client(max_retries=2) as client, pytest.raises(SourceUnavailableError) as info:
        client.get(server.url("/broken"), params={"q": "x"})
    exc = info.value
    assert len(server.hits_for("/broken")) == 3
    assert SOURCE in str(exc) and server.url("/broken?q=x") in str(exc)
    assert "3 attempt" in str(exc) and "HTTP 500" in str(exc)
    assert (exc.source, exc.status, exc.attempts) == (SOURCE, 500, 3)
    assert exc.url == server.url("/broken?q=x")
    assert isinstance(exc, SourceError)


def test_timeout_is_retried_then_fails_clearly(server: LoopbackServer) -> None:
    server.routes["/slow"] = always(Reply(delay=1.0))
    with make_client(timeout=0.25, max_retries=1) as client, pytest.raises(SourceUnavailableError) as info:
        client.get(server.url("/slow"))
    assert len(server.hits_for("/slow")) == 2
    assert "timed out" in str(info.value) and "/slow" in str(info.value)
    assert info.value.status is None


def test_timeout_then_success(server: LoopbackServer) -> None:
    server.routes["/slow-once"] = sequence(Reply(delay=1.0), Reply())
    with make_client(timeout=0.25, max_retries=2) as client:
        assert client.get(server.url("/slow-once")).status == 200
    assert len(server.hits_for("/slow-once")) == 2


def test_connection_refused_is_retried_and_reported() -> None:
    with make_client(max_retries=1) as client, pytest.raises(SourceUnavailableError) as info:
        client.get("http://127.0.0.1:9/closed")  # discard port: nothing listens
    assert "ConnectError" in str(info.value) and info.value.attempts == 2


# ---- non-retryable answers -----------------------------------------------------------------------------


def test_404_is_not_found_without_retry(server: LoopbackServer) -> None:
    server.routes["/missing"] = always(Reply(404, b"Not Found"))
    with make_client() as client, pytest.raises(NotFoundError) as info:
        client.get(server.url("/missing"))
    assert len(server.hits_for("/missing")) == 1
    assert info.value.status == 404 and isinstance(info.value, SourceError)
    assert "/missing" in str(info.value)


@pytest.mark.parametrize(("status", "cls"), [(401, SourceAuthError), (403, SourceAuthError), (400, SourceError)])
def test_other_4xx(server: LoopbackServer, status: int, cls: type[SourceError]) -> None:
    server.routes["/deny"] = always(Reply(status, b'{"Error Message": "Invalid API KEY."}'))
    with make_client() as client, pytest.raises(cls) as info:
        client.get(server.url("/deny"))
    assert type(info.value) is cls and info.value.status == status
    assert len(server.hits_for("/deny")) == 1
    if cls is SourceAuthError:
        assert "API key" in str(info.value) and "User-Agent" in str(info.value)
    assert "Invalid API KEY" in str(info.value)


# ---- payloads ------------------------------------------------------------------------------------------


def test_html_served_as_200_is_malformed(server: LoopbackServer) -> None:
    html = Reply(200, b"<html><body>Request Rate Threshold Exceeded</body></html>", {"Content-Type": "text/html"})
    server.routes["/page"] = always(html)
    with make_client(max_retries=1) as client, pytest.raises(MalformedPayloadError) as info:
        client.get_json(server.url("/page"))
    message = str(info.value)
    assert server.url("/page") in message and SOURCE in message
    assert "expected JSON, got text/html starting with '<html>" in message
    assert len(server.hits_for("/page")) == 2  # retried: usually a transient CDN/proxy page


def test_truncated_json_is_malformed(server: LoopbackServer) -> None:
    server.routes["/cut"] = always(Reply(200, b'{"facts": {"us-gaap": [1, 2,'))
    with make_client(max_retries=0) as client, pytest.raises(MalformedPayloadError) as info:
        client.get_json(server.url("/cut"))
    assert "invalid JSON" in str(info.value) and "char" in str(info.value)
    assert "/cut" in str(info.value)


def test_malformed_then_valid_json_recovers(server: LoopbackServer) -> None:
    server.routes["/heal"] = sequence(Reply(200, b"<html>oops</html>", {"Content-Type": "text/html"}), Reply())
    with make_client() as client:
        data, _ = client.get_json(server.url("/heal"))
    assert data == {"ok": True}


def test_gzip_body_is_decompressed(server: LoopbackServer) -> None:
    raw = b"[" + b",".join([b'{"entityName": "Example"}'] * 100) + b"]"
    server.routes["/gz"] = always(
        Reply(200, gzip.compress(raw), {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    )
    with make_client() as client:
        data, result = client.get_json(server.url("/gz"))
    assert result.content == raw and len(data) == 100


# ---- cache ---------------------------------------------------------------------------------------------


def etag_behaviour(body: bytes, etag: str = '"v1"') -> Behaviour:
    last_modified = format_datetime(datetime(2024, 1, 2, tzinfo=UTC), usegmt=True)

    def reply(n: int, hit: Hit) -> Reply:
        if hit.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"Content-Type": "application/json", "ETag": etag, "Last-Modified": last_modified})

    return reply


def test_cache_revalidates_with_etag_and_304(server: LoopbackServer, tmp_path: Path) -> None:
    body = b'{"cik": 320193, "facts": {}}'
    server.routes["/facts"] = etag_behaviour(body)
    with make_client(cache_dir=tmp_path) as client:
        first = client.get(server.url("/facts"))
    with make_client(cache_dir=tmp_path) as client:  # a new process would see the same files
        data, second = client.get_json(server.url("/facts"))
    hits = server.hits_for("/facts")
    assert len(hits) == 2
    assert "if-none-match" not in hits[0].headers
    assert hits[1].headers["if-none-match"] == '"v1"'
    assert hits[1].headers["if-modified-since"] == "Tue, 02 Jan 2024 00:00:00 GMT"
    assert (first.status, first.from_cache) == (200, False)
    assert (second.status, second.from_cache) == (304, True)
    assert second.content == first.content == body and second.sha256 == first.sha256
    assert data == {"cik": 320193, "facts": {}}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_cache_max_age_skips_the_request_and_the_token(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/fresh"] = etag_behaviour(b"[1, 2, 3]")
    with make_client(cache_dir=tmp_path, rate_per_second=1.0, max_age_seconds=60) as client:
        first = client.get(server.url("/fresh"))
        started = time.monotonic()
        data, second = client.get_json(server.url("/fresh"))
        assert time.monotonic() - started < 0.5  # no token taken (the next one is 1 s away)
    assert len(server.hits_for("/fresh")) == 1
    assert data == [1, 2, 3]
    assert (second.status, second.from_cache, second.fetched_at) == (200, True, first.fetched_at)
    # per-call override: max_age 0 revalidates
    with make_client(cache_dir=tmp_path) as client:
        assert client.get(server.url("/fresh"), max_age_seconds=0).status == 304
    assert len(server.hits_for("/fresh")) == 2


def test_cache_key_ignores_secrets(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/keyed"] = etag_behaviour(b'{"a": 1}')
    with make_client(cache_dir=tmp_path) as client:
        client.get(server.url("/keyed"), params={"symbol": "AAPL", "apikey": SECRET})
        again = client.get(server.url("/keyed"), params={"apikey": "OTHER-KEY-456", "symbol": "AAPL"})
        other = client.get(server.url("/keyed"), params={"symbol": "MSFT", "apikey": SECRET})
    assert again.status == 304 and other.status == 200
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


def test_malformed_body_is_not_cached(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/bad"] = always(Reply(200, b"<html/>", {"Content-Type": "text/html", "ETag": '"x"'}))
    with make_client(cache_dir=tmp_path, max_retries=0) as client, pytest.raises(MalformedPayloadError):
        client.get_json(server.url("/bad"))
    with make_client(cache_dir=tmp_path) as client:  # another process on the same cache: nothing to revalidate
        assert client.get(server.url("/bad")).status == 200
    hits = server.hits_for("/bad")
    assert len(hits) == 2 and "if-none-match" not in hits[1].headers


def test_unparseable_cached_body_is_refetched(server: LoopbackServer, tmp_path: Path) -> None:
    def reply(n: int, hit: Hit) -> Reply:
        if hit.headers.get("if-none-match") == '"h"':
            return Reply(304, b"", {"ETag": '"h"'})
        if n == 1:
            return Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html", "ETag": '"h"'})
        return Reply(200, b'{"back": true}', {"Content-Type": "application/json", "ETag": '"j"'})

    server.routes["/mixed"] = reply
    with make_client(cache_dir=tmp_path) as client:
        assert client.get(server.url("/mixed")).content.startswith(b"<html>")  # plain get caches anything
        data, result = client.get_json(server.url("/mixed"))  # 304 -> cached HTML fails -> refetch whole
    assert data == {"back": True} and result.status == 200
    hits = server.hits_for("/mixed")
    assert len(hits) == 3 and "if-none-match" not in hits[2].headers


# ---- secrets -------------------------------------------------------------------------------------------


def assert_secret_free(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert SECRET not in text


def test_secret_never_leaks(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # The 404 body echoes the request path, key included, as some APIs do.
    server.routes["/nope"] = lambda n, hit: Reply(404, f"no resource at {hit.path}".encode())
    server.routes["/down"] = always(Reply(500, b"error"))
    server.routes["/ok"] = always(Reply())
    server.routes["/slow"] = always(Reply(delay=1.0))
    params = {"symbol": "AAPL", "apikey": SECRET}
    with make_client(max_retries=1) as client:
        with pytest.raises(NotFoundError) as not_found:
            client.get(server.url("/nope"), params=params)
        with pytest.raises(SourceUnavailableError) as exhausted:
            client.get(server.url("/down"), params=params)
        with pytest.raises(SourceUnavailableError) as refused:
            client.get("http://127.0.0.1:9/x", params=params)
        result = client.get(server.url("/ok"), params=params)
    with (
        make_client(max_retries=0, timeout=0.2) as client,
        pytest.raises(SourceUnavailableError) as timed_out,
    ):
        client.get(server.url("/slow"), params=params)

    assert SECRET in server.hits_for("/ok")[0].path  # the key did go to the server
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx's own line was captured
    for info in (not_found, exhausted, refused, timed_out):
        assert_secret_free(info.value, caplog)
        assert "apikey=***" in str(info.value) and "apikey=***" in info.value.url
    assert result.url == server.url("/ok?symbol=AAPL&apikey=***")
    assert SECRET not in repr(result) and SECRET not in str(result.headers)


def test_redact_url() -> None:
    assert redact_url("https://x.test/a?symbol=AAPL&apikey=k1&limit=5") == (
        "https://x.test/a?symbol=AAPL&apikey=***&limit=5"
    )
    assert redact_url("https://x.test/a?APIKEY=k1") == "https://x.test/a?APIKEY=***"
    assert redact_url("https://x.test/a?token=t&x=1", ("token",)) == "https://x.test/a?token=***&x=1"
    assert redact_url("https://u:pw@x.test/a") == "https://u:***@x.test/a"
    assert redact_url("https://data.sec.gov/submissions/CIK0000320193.json") == (
        "https://data.sec.gov/submissions/CIK0000320193.json"
    )


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 31
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_errors_pickle() -> None:
    import pickle

    err = SourceUnavailableError("sec: boom", "sec", "https://x/y", 503, 6)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.source, back.url, back.status, back.attempts) == (
        "sec: boom",
        "sec",
        "https://x/y",
        503,
        6,
    )


# ---- replay --------------------------------------------------------------------------------------------

needs_replay = pytest.mark.skipif(not (REPLAY_ROOT / "edgar").is_dir(), reason="../shared/replay not present")


@pytest.fixture
def edgar_replay() -> Iterator[SourceClient]:
    client = make_client(source="sec", transport=ReplayTransport(REPLAY_ROOT, EDGAR_ROUTES))
    yield client
    client.close()


@needs_replay
def test_replay_serves_gzipped_companyfacts(edgar_replay: SourceClient) -> None:
    data, result = edgar_replay.get_json("https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json")
    assert isinstance(data, dict) and data["entityName"] == "Apple Inc."
    assert result.headers["content-type"] == "application/json" and result.status == 200


@needs_replay
def test_replay_unknown_cik_is_not_found(edgar_replay: SourceClient) -> None:
    with pytest.raises(NotFoundError):
        edgar_replay.get_json("https://data.sec.gov/api/xbrl/companyfacts/CIK0000000001.json")


@needs_replay
def test_replay_submission_pages(edgar_replay: SourceClient) -> None:
    with pytest.raises(NotFoundError):  # AAPL's extra page was not recorded
        edgar_replay.get_json("https://data.sec.gov/submissions/CIK0000320193-submissions-001.json")
    page, _ = edgar_replay.get_json("https://data.sec.gov/submissions/CIK0001318605-submissions-001.json")
    assert isinstance(page, dict) and page
    main, _ = edgar_replay.get_json("https://data.sec.gov/submissions/CIK0001318605.json")
    assert main["cik"].lstrip("0") == "1318605"


@needs_replay
def test_replay_tickers_and_trimmed_files(edgar_replay: SourceClient) -> None:
    tickers, _ = edgar_replay.get_json("https://www.sec.gov/files/company_tickers.json")
    assert any(row["ticker"] == "AAPL" for row in tickers.values())
    exchange, _ = edgar_replay.get_json("https://www.sec.gov/files/company_tickers_exchange.json")
    assert exchange
    with pytest.raises(NotFoundError):
        edgar_replay.get_json("https://data.sec.gov/submissions/CIK0000789019.trimmed.json")


@needs_replay
def test_replay_goes_through_the_cache(tmp_path: Path) -> None:
    url = "https://data.sec.gov/submissions/CIK0000320193.json"
    with make_client(cache_dir=tmp_path, transport=ReplayTransport(REPLAY_ROOT, EDGAR_ROUTES)) as client:
        first = client.get(url)
        second = client.get(url)
    assert (first.status, second.status, second.from_cache) == (200, 304, True)
    assert first.content == second.content


def test_replay_transport_is_generic_and_safe(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "AAPL.json").write_bytes(b'{"symbol": "AAPL"}')
    (tmp_path / "api" / "MSFT.trimmed.json").write_bytes(b'{"symbol": "MSFT"}')
    (tmp_path / "api" / "NVDA.csv.gz").write_bytes(gzip.compress(b"date,close\n2024-01-02,48.1\n"))
    (tmp_path / "secret.json").write_bytes(b"{}")
    routes = [
        ReplayRoute("api.example.test", r"/v1/quote", replay_templates("api/{symbol}.json", "api/{symbol}.csv")),
        ReplayRoute("api.example.test", r"/v1/raw/(?P<name>.+)", replay_templates("api/{name}")),
    ]
    with make_client(transport=ReplayTransport(tmp_path / "api" / "..", routes)) as client:
        data, result = client.get_json("https://api.example.test/v1/quote", params={"symbol": "AAPL", "apikey": SECRET})
        assert data == {"symbol": "AAPL"} and result.url.endswith("apikey=***")
        csv = client.get("https://api.example.test/v1/quote", params={"symbol": "NVDA"})
        assert csv.content.startswith(b"date,close") and csv.headers["content-type"] == "text/csv"
        for url in (
            "https://api.example.test/v1/quote?symbol=MSFT.trimmed",  # trimmed copies are never served
            "https://api.example.test/v1/raw/MSFT.trimmed.json",
            "https://api.example.test/v1/raw/../secret.json",  # no escaping the route's folder via ..
            "https://api.example.test/v1/quote",  # template needs a symbol
            "https://other.example.test/v1/quote?symbol=AAPL",  # no route for this host
        ):
            with pytest.raises(NotFoundError):
                client.get(url)
    direct = ReplayTransport(tmp_path, routes).handle_request(
        httpx.Request("GET", "https://api.example.test/v1/raw/%2E%2E/%2E%2E/etc/passwd")
    )
    assert direct.status_code == 404


def test_fetch_result_is_frozen(server: LoopbackServer) -> None:
    server.routes["/f"] = always(Reply())
    with make_client() as client:
        result = client.get(server.url("/f"))
    assert isinstance(result, FetchResult) and result.fetched_at.tzinfo is not None
    with pytest.raises(AttributeError):
        result.status = 500  # type: ignore[misc]
