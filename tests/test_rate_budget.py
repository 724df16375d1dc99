"""One SEC budget per deployment (issue 14.4) and configurable source endpoints (issue 14.5).

The budget tests start real processes that share a real store (a SQLite file; the Redis on 127.0.0.1) and
read the times at which the limiter let each request go. The endpoint tests point the clients that the
code location composes at a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from finance_assets.core.settings import Settings
from finance_assets.resources import resources_for

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
AAPL_FACTS = "https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json"

# Each process takes N requests from the budget at 10/s and prints when it got each (wall clock: every
# process on the machine reads the same one).
TAKER = r"""
import json, sys, time
from finance_assets.core.ratelimit import RateLimiter
limiter = RateLimiter(10.0, name=sys.argv[1], store=sys.argv[2])
limiter.acquire()  # connect before the start line
print("READY", flush=True)
sys.stdin.readline()
times = []
for _ in range(int(sys.argv[3])):
    limiter.acquire()
    times.append(time.time())
print(json.dumps(times), flush=True)
"""


def take_together(store: str, processes: int, each: int) -> list[float]:
    name = f"test-{uuid.uuid4().hex[:8]}"  # a budget of its own, whatever else uses the store
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, name, store, str(each)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    times = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        times += json.loads(out.strip().splitlines()[-1])
    return sorted(times)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_processes_sharing_a_store_share_one_budget(backend: str, tmp_path: Path) -> None:
    store = str(tmp_path / "rate_limit.sqlite") if backend == "sqlite" else "redis://127.0.0.1:6379/15"
    times = take_together(store, processes=3, each=8)
    assert len(times) == 24
    # one budget: 24 requests at 10/s take >= 23 x 103 ms, never more than 10 in any 1 s window,
    # where three independent per-process limiters would have released 30 per second
    assert times[-1] - times[0] >= 23 * 0.100
    assert max_in_window(times) <= 10
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # each is admitted >= 103 ms after the previous; what a process records after acquire() returns also
    # carries its scheduling delay (tens of ms on a busy 2-core machine), so the floor here is looser.
    # Independent per-process limiters would release the three processes' requests together (gaps ~0).
    assert min(gaps) >= 0.05, gaps


def settings(env: dict[str, str]) -> Settings:
    base = {"LAKEHOUSE_HOME": "/tmp/unused-home", "SEC_USER_AGENT": "Endpoint Tests tests@example.com"}
    return Settings.from_env({**base, **env})


PROD = {
    "LAKEHOUSE_PROFILE": "prod",
    "ICEBERG_CATALOG_URI": "postgresql+psycopg2://u:p@db:5432/lake",
    "ICEBERG_WAREHOUSE": "s3://lake/warehouse",
    "RAW_ARCHIVE_URI": "s3://lake/raw",
}


def test_budget_store_is_a_local_file_embedded_and_redis_in_prod() -> None:
    local = resources_for(settings({}), secrets="values")["http"]
    assert local.rate_limit_store() == "/tmp/unused-home/rate_limit.sqlite"
    # prod without its own variable: Feast's Redis, Feast's connection string turned into a URL ...
    feast = {**PROD, "FEAST_REDIS": "redis:6379,db=2,password=s3cr/et"}
    prod = resources_for(settings(feast), secrets="values")["http"]
    assert prod.rate_limit_store() == "redis://:s3cr%2Fet@redis:6379/2"
    assert settings(feast).rate_limit_store == "redis://:s3cr%2Fet@redis:6379/2"
    # ... and in the launchpad only the variable's name, never the password
    shown = resources_for(settings(feast))["http"]
    assert shown.rate_limit_redis == dg.EnvVar("FEAST_REDIS")
    # RATE_LIMIT_REDIS_URL wins
    own = settings({**feast, "RATE_LIMIT_REDIS_URL": "redis://budget:6379/5"})
    assert resources_for(own, secrets="values")["http"].rate_limit_store() == "redis://budget:6379/5"
    assert resources_for(own)["http"].rate_limit_redis == dg.EnvVar("RATE_LIMIT_REDIS_URL")


def test_a_base_url_that_is_not_http_names_the_variable() -> None:
    from finance_assets.core.settings import SettingsError

    with pytest.raises(SettingsError, match="SEC_DATA_BASE_URL is a value without a scheme"):
        settings({"SEC_DATA_BASE_URL": "data.example.com"})
    with pytest.raises(SettingsError, match="RATE_LIMIT_REDIS_URL is http://"):
        settings({"RATE_LIMIT_REDIS_URL": "http://redis:6379"})


# ---- the clients follow the configured endpoints ---------------------------------------------------------


class Mirror:
    """A local HTTP server standing in for a mirror of SEC and FMP: records each request, answers JSON."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append({"path": self.path, "user-agent": self.headers.get("user-agent")})
                served = {"served_path": self.path.split("?")[0]}
                body = json.dumps([served] if self.path.startswith("/fmp/") else served).encode()  # FMP: a list
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = Mirror()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_edgar_and_fmp_clients_go_to_the_configured_base_urls(mirror: Mirror, tmp_path: Path) -> None:
    env = {
        "LAKEHOUSE_HOME": str(tmp_path),
        "SEC_DATA_BASE_URL": f"{mirror.base}/sec-data",
        "SEC_WWW_BASE_URL": f"{mirror.base}/sec-www/",
        "FMP_BASE_URL": f"{mirror.base}/fmp",
        "FMP_API_KEY": "k" * 32,
    }
    resources = resources_for(settings(env), secrets="values")
    with resources["sec"].client() as client:
        facts, result = client.get_json(AAPL_FACTS)
        tickers, _ = client.get_json("https://www.sec.gov/files/company_tickers.json")
    assert facts == {"served_path": "/sec-data/api/xbrl/companyfacts/CIK0000320193.json"}
    assert tickers == {"served_path": "/sec-www/files/company_tickers.json"}
    assert result.url == f"{mirror.base}/sec-data/api/xbrl/companyfacts/CIK0000320193.json"  # where it came from
    assert mirror.hits[0]["user-agent"] == "Endpoint Tests tests@example.com"

    with resources["fmp"].session() as session:
        payload = session.fetch("stable", "profile", "AAPL")
    assert mirror.hits[-1]["path"] == f"/fmp/stable/profile?symbol=AAPL&apikey={'k' * 32}"
    assert payload is not None and payload.rows == [{"served_path": "/fmp/stable/profile"}]
    assert payload.result.url == f"{mirror.base}/fmp/stable/profile?symbol=AAPL&apikey=***"


def test_replay_answers_whatever_origin_is_configured(replay_dir: Path, tmp_path: Path) -> None:
    env = {
        "LAKEHOUSE_HOME": str(tmp_path),
        "REPLAY_DIR": str(replay_dir),
        "SEC_DATA_BASE_URL": "https://sec-mirror.example.invalid/data",
    }
    with resources_for(settings(env), secrets="values")["sec"].client() as client:
        facts, result = client.get_json(AAPL_FACTS)
    assert facts["entityName"] == "Apple Inc."  # the recorded payload (shared/replay/edgar/companyfacts)
    assert result.url == "https://sec-mirror.example.invalid/data/api/xbrl/companyfacts/CIK0000320193.json"


def test_an_unreachable_budget_store_names_the_setting_and_not_the_password() -> None:
    from finance_assets.core.ratelimit import RateLimiter

    with pytest.raises(RuntimeError) as info:
        RateLimiter(10.0, name="sec", store="redis://:hunter22@127.0.0.1:9/0")  # discard port: nothing listens
    message = str(info.value)
    assert "sec: the rate budget's Redis at 127.0.0.1:9/0 is unreachable" in message
    assert "RATE_LIMIT_REDIS_URL" in message and "hunter22" not in message
