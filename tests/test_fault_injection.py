"""Fault injection: the real EDGAR assets against a misbehaving SEC, and Iceberg writers killed or racing.

**SEC impersonator.** A separate process serves the recorded EDGAR responses over HTTP on 127.0.0.1 and
misbehaves on request: 429 with Retry-After, 500s, answers slower than the client's timeout, truncated
JSON, an HTML page served as 200. It also enforces SEC's 10 requests/s in any sliding 1 s window.

**How the client reaches it.** The assets run in live mode (no REPLAY_DIR), so ``SecEdgarResource``
builds the production ``SourceClient`` with httpx's real ``HTTPTransport``. The only test seam is that
transport's ``handle_request``: requests for ``www.sec.gov``/``data.sec.gov`` are re-addressed to the
impersonator (plain HTTP to 127.0.0.1, the ``Host`` header kept) and every other host is refused. So the
live code path runs end to end: the rate limiter, retries and backoff, timeouts on a real socket, the
response cache, parsing, the archive and the Iceberg writes. Retries and timeouts are kept small through
``HTTP_MAX_RETRIES=2`` and ``HTTP_TIMEOUT_SECONDS=1.5``, as a user would set them.

**Writers.** Separate Python processes write through ``IcebergLakehouse.write`` into an embedded SQLite
catalog: one is SIGKILLed mid-write, sixteen race on one table.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import orjson
import polars as pl
import pytest
from pyiceberg.expressions import In

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.partitions import companies_partitions, range_tags
from finance_assets.core.settings import Settings, environment
from finance_assets.resources import resources_for

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
SEC_HOSTS = frozenset({"www.sec.gov", "data.sec.gov"})
TICKERS = "bronze/sec_company_tickers"
FACTS = "bronze/edgar_company_facts"
AAPL_FACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json"
EXCHANGE_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
TABLES = ("bronze.sec_company_tickers", "bronze.edgar_company_facts", "bronze.raw_payloads")
MAX_RETRIES = 2  # -> 3 attempts
TIMEOUT_S = 1.5
SLOW_S = 3.5  # a "slow" answer takes longer than the client's timeout


# ---- the SEC impersonator (runs in its own process) ------------------------------------------------------


class SecImpersonator(ThreadingHTTPServer):
    """Recorded EDGAR responses over HTTP, with scripted faults per URL path and a 10 req/s ceiling.

    ``PUT /__plan`` sets ``{"rules": [{"path": regex, "steps": [...]}]}`` and clears the log; a matching
    request gets the rule's next step, the last one repeating. Steps: ``ok``, ``429`` (Retry-After: 1),
    ``500``, ``slow`` (answers after SLOW_S), ``truncated`` (the first half of the body, as 200),
    ``html`` (an HTML page, as 200). ``GET /__hits`` returns what was asked and answered.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, replay_root: Path) -> None:
        from finance_assets.edgar.replay_routes import edgar_replay_transport

        super().__init__(("127.0.0.1", 0), _ImpersonatorHandler)
        self.replay = edgar_replay_transport(replay_root)
        self.lock = threading.Lock()
        self.rules: list[tuple[re.Pattern[str], list[str]]] = []
        self.served: dict[int, int] = {}
        self.hits: list[dict[str, Any]] = []
        self.window: list[float] = []

    def next_step(self, path: str) -> str:
        with self.lock:
            now = time.monotonic()
            self.window = [t for t in self.window if t > now - 1.0] + [now]
            if len(self.window) > 10:
                return "rate-limited"
            for index, (pattern, steps) in enumerate(self.rules):
                if pattern.search(path):
                    n = self.served.get(index, 0)
                    self.served[index] = n + 1
                    return steps[min(n, len(steps) - 1)]
            return "ok"

    def record(self, host: str, path: str, step: str, status: int, at: float) -> None:
        with self.lock:
            self.hits.append({"host": host, "path": path, "step": step, "status": status, "at": at})

    def handle_error(self, request: Any, client_address: Any) -> None:  # the client hung up (timeouts)
        pass


class _ImpersonatorHandler(BaseHTTPRequestHandler):
    server: SecImpersonator

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        plan = orjson.loads(body)
        with self.server.lock:
            self.server.rules = [(re.compile(r["path"]), list(r["steps"])) for r in plan["rules"]]
            self.server.served = {}
            self.server.hits = []
        self._send(204, b"", {})

    def do_GET(self) -> None:
        at = time.monotonic()
        if self.path == "/__hits":
            with self.server.lock:
                self._send(200, orjson.dumps(self.server.hits), {"Content-Type": "application/json"})
            return
        host = (self.headers.get("Host") or "").split(":")[0]
        path = self.path
        step = self.server.next_step(path)
        status, headers, body = self._answer(host, path, step)
        self.server.record(host, path, step, status, at)
        if step == "slow":
            time.sleep(SLOW_S)
        self._send(status, body, headers)

    def _answer(self, host: str, path: str, step: str) -> tuple[int, dict[str, str], bytes]:
        if step in ("rate-limited", "429"):
            return 429, {"Retry-After": "1", "Content-Type": "application/json"}, b'{"message":"slow down"}'
        if step == "500":
            return 500, {"Content-Type": "text/html"}, b"<html><body>Internal Server Error</body></html>"
        if step == "html":
            page = b"<!DOCTYPE html><html><head><title>SEC.gov | Maintenance</title></head><body>...</body></html>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        headers = {}
        if step in ("ok", "slow") and self.headers.get("If-None-Match"):
            headers["If-None-Match"] = self.headers["If-None-Match"]
        recorded = self.server.replay.handle_request(httpx.Request("GET", f"https://{host}{path}", headers=headers))
        body = recorded.read()
        out = {k: v for k, v in recorded.headers.items() if k.lower() in ("content-type", "etag")}
        if step == "truncated":
            return 200, {"Content-Type": "application/json"}, body[: len(body) // 2]
        return recorded.status_code, out, body

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_sec(replay_root: str, conn: Connection) -> None:
    server = SecImpersonator(Path(replay_root))
    conn.send(server.server_address[1])
    server.serve_forever()


@dataclass
class Sec:
    port: int

    def plan(self, *rules: tuple[str, list[str]]) -> None:
        body = orjson.dumps({"rules": [{"path": p, "steps": s} for p, s in rules]})
        httpx.put(f"http://127.0.0.1:{self.port}/__plan", content=body, timeout=10).raise_for_status()

    def hits(self, path_part: str = "") -> list[dict[str, Any]]:
        hits = httpx.get(f"http://127.0.0.1:{self.port}/__hits", timeout=10).json()
        return [h for h in hits if path_part in h["path"]]


@pytest.fixture(scope="module")
def sec(replay_dir: Path) -> Iterator[Sec]:
    ctx = mp.get_context("fork")  # a copy of this process: no second import of dagster & co.
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_sec, args=(str(replay_dir), child), daemon=True)
    proc.start()
    try:
        if not parent.poll(120):
            raise RuntimeError("the SEC impersonator did not start")
        yield Sec(parent.recv())
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)


# ---- the lakehouse, in live mode, talking to the impersonator -------------------------------------------


def _redirect_sec_to(port: int, patch: pytest.MonkeyPatch) -> None:
    """httpx's real transport, re-addressed: SEC hosts go to the impersonator, other hosts are unreachable."""
    original = httpx.HTTPTransport.handle_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":  # the test talking to the impersonator's control endpoints
            return original(self, request)
        if request.url.host not in SEC_HOSTS:
            raise httpx.ConnectError(f"tests have no network: {request.url.host} is not reachable")
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        local = httpx.Request(
            request.method, url, headers=request.headers, stream=request.stream, extensions=request.extensions
        )
        return original(self, local)

    patch.setattr(httpx.HTTPTransport, "handle_request", handle_request)


def _materialize(
    selection: list[str], partition_key: str | None = None, partition_range: tuple[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import defs

    tags = range_tags(*partition_range) if partition_range else {}  # one run over several companies
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        partition_key=partition_key,
        instance=dg.DagsterInstance.get(),
        resources=resources_for(Settings.from_env()),
        raise_on_error=False,
        tags=tags,
    )


@pytest.fixture(scope="module")
def live_lakehouse(sec: Sec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tickers and AAPL's facts landed once through the impersonator; each test starts from there."""
    home = tmp_path_factory.mktemp("fault-lakehouse")
    env = {
        "LAKEHOUSE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "SEC_USER_AGENT": "Fault Injection tests@example.com",
        "UNIVERSE": "AAPL",
        "HTTP_MAX_RETRIES": str(MAX_RETRIES),
        "HTTP_TIMEOUT_SECONDS": str(TIMEOUT_S),
    }
    drop = ("REPLAY_DIR", "FMP_API_KEY", "LAKEHOUSE_PROFILE")
    with environment(env, unset=drop), pytest.MonkeyPatch.context() as patch:
        _redirect_sec_to(sec.port, patch)
        from finance_assets.cli import init

        settings = Settings.from_env()
        assert not settings.replay
        init(settings)
        sec.plan()
        assert _materialize([TICKERS]).success
        assert _materialize([FACTS], "AAPL").success
        assert {h["host"] for h in sec.hits()} == SEC_HOSTS  # it really went over HTTP to the impersonator
        yield home


Snapshot = dict[str, tuple[int | None, pl.DataFrame]]


def _state() -> Snapshot:
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    out = {}
    for table in TABLES:
        frame = lake.read(table)
        out[table] = (lake.current_snapshot_id(table), frame.sort(frame.columns))
    return out


def _assert_unchanged(before: Snapshot) -> None:
    after = _state()
    for table, (snapshot, frame) in before.items():
        assert after[table][0] == snapshot, f"{table}: a new snapshot was committed by a failed run"
        assert after[table][1].equals(frame), f"{table}: rows changed"


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    error = failures[0].event_specific_data.error
    return error.to_string()


# ---- faults that retrying cures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "attempts"),
    [
        (["429", "ok"], 2),
        (["500", "500", "ok"], 3),
        (["slow", "ok"], 2),
        (["truncated", "ok"], 2),
        (["html", "ok"], 2),
    ],
    ids=["429-retry-after", "500-twice", "timeout-once", "truncated-once", "html-once"],
)
def test_transient_fault_is_retried_and_the_partition_lands(
    live_lakehouse: Path, sec: Sec, steps: list[str], attempts: int
) -> None:
    before = _state()
    sec.plan(("/api/xbrl/companyfacts/", steps))
    result = _materialize([FACTS], "AAPL")
    assert result.success
    hits = sec.hits("/api/xbrl/companyfacts/")
    assert [h["step"] for h in hits] == steps[:attempts]
    if steps[0] == "429":  # Retry-After: 1 was obeyed
        assert hits[1]["at"] - hits[0]["at"] >= 1.0
    assert all(h["step"] != "rate-limited" for h in sec.hits())
    after = _state()
    snapshot, frame = after["bronze.edgar_company_facts"]
    assert frame.equals(before["bronze.edgar_company_facts"][1])  # the payload that landed after the fault ...
    # ... is the one already loaded: the partition materialised and nothing was rewritten (no new snapshot)
    assert snapshot == before["bronze.edgar_company_facts"][0]
    [materialization] = [e.materialization for e in result.get_asset_materialization_events()]
    assert materialization.partition == "AAPL" and materialization.metadata["companies_unchanged"].value == 1


# ---- faults that do not go away: a clear failure, and the tables untouched ------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("500", "failed after 3 attempt(s); last error: HTTP 500"),
        ("slow", f"failed after 3 attempt(s); last error: timed out after {TIMEOUT_S:g} s"),
        ("truncated", "returned a malformed payload on all 3 attempt(s): invalid JSON"),
        ("html", "returned a malformed payload on all 3 attempt(s): expected JSON, got text/html"),
    ],
    ids=["always-500", "always-timeout", "always-truncated", "always-html"],
)
def test_persistent_fault_fails_naming_source_and_url_and_leaves_tables_untouched(
    live_lakehouse: Path, sec: Sec, step: str, expected: str
) -> None:
    before = _state()
    sec.plan(("/api/xbrl/companyfacts/", [step]))
    text = _failure(_materialize([FACTS], "AAPL"))
    assert f"sec: GET {AAPL_FACTS_URL}" in text  # the source and the URL ...
    assert expected in text  # ... and what went wrong, after retrying
    assert [h["step"] for h in sec.hits("/api/xbrl/companyfacts/")] == [step] * (MAX_RETRIES + 1)
    _assert_unchanged(before)


def test_a_source_failing_one_company_mid_backfill_fails_only_that_company_naming_the_url(
    live_lakehouse: Path, sec: Sec
) -> None:
    instance = dg.DagsterInstance.get()
    for ticker in ("NVDA", "TSM"):
        if not instance.has_dynamic_partition("companies", ticker):
            instance.add_dynamic_partitions("companies", [ticker])
    before = _state()
    nvda_url = "https://data.sec.gov/api/xbrl/companyfacts/CIK0001045810.json"
    sec.plan(("/api/xbrl/companyfacts/CIK0001045810", ["500"]))  # AAPL and TSM answer; NVDA's never does
    text = _failure(_materialize([FACTS], partition_range=("AAPL", "TSM")))
    assert f"sec: GET {nvda_url}" in text and "failed after 3 attempt(s); last error: HTTP 500" in text
    assert "NVDA (CIK 0001045810) companyfacts" in text and "[source_error]" in text
    assert len(sec.hits("/api/xbrl/companyfacts/CIK0001045810")) == MAX_RETRIES + 1
    facts = _state()["bronze.edgar_company_facts"][1]
    # AAPL's rows are as before (same payload); TSM landed; NVDA was not written and its partition failed
    assert facts.filter(pl.col("ticker") == "AAPL").equals(
        before["bronze.edgar_company_facts"][1].filter(pl.col("ticker") == "AAPL")
    )
    assert set(facts.get_column("ticker").unique().to_list()) == {"AAPL", "TSM"}
    status = instance.get_status_by_partition(
        dg.AssetKey.from_user_string(FACTS), ["AAPL", "NVDA", "TSM"], companies_partitions
    )
    assert {k: v.value for k, v in (status or {}).items()}["NVDA"] == "FAILED"


def test_ticker_map_served_as_html_fails_and_keeps_tables_and_partitions(live_lakehouse: Path, sec: Sec) -> None:
    before = _state()
    partitions = dg.DagsterInstance.get().get_dynamic_partitions("companies")
    sec.plan(("/files/company_tickers_exchange.json", ["html"]))
    text = _failure(_materialize([TICKERS]))
    assert f"sec: GET {EXCHANGE_URL} returned a malformed payload on all 3 attempt(s)" in text
    assert "expected JSON, got text/html" in text
    _assert_unchanged(before)
    assert dg.DagsterInstance.get().get_dynamic_partitions("companies") == partitions


# ---- Iceberg writers in separate processes ----------------------------------------------------------------

# Run with ``python -c WRITER <home> <mode> [args]`` from the checkout: imports only the writer.
WRITER = r"""
import sys
from pathlib import Path

import polars as pl
from pyiceberg.expressions import AlwaysFalse, EqualTo, In

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings

home, mode = Path(sys.argv[1]), sys.argv[2]
lake = IcebergLakehouse.from_settings(Settings(home=home))
spec = ["identity(part)"]


def frame(part, n, version=0, writer=-1):
    return pl.DataFrame({"part": [part] * n, "i": list(range(n)), "version": [version] * n, "writer": [writer] * n})


if mode == "big":  # replace P1 and add BIG_PARTS partitions of BIG_ROWS rows, in one write
    parts, rows = int(sys.argv[3]), int(sys.argv[4])
    names = ["P1"] + [f"B{p:02d}" for p in range(parts)]
    big = pl.concat([frame(name, rows, version=2) for name in names])
    print("WRITING", flush=True)
    result = lake.write("bronze.killed", big, replace=In("part", set(names)), partition_by=spec)
    print("DONE", result.snapshot_id, flush=True)
elif mode == "race":  # once every writer is ready: one append or one overwrite of its partition (+ maybe SHARED)
    k, role, shared = int(sys.argv[3]), sys.argv[4], sys.argv[5] == "shared"
    print("READY", flush=True)
    assert sys.stdin.readline().strip() == "GO"
    own = f"P{k:02d}"
    if role == "append":
        lake.write("bronze.raced", frame(f"A{k:02d}", 500, 1, k), replace=AlwaysFalse(), partition_by=spec)
    else:
        lake.write("bronze.raced", frame(own, 200, 2, k), replace=EqualTo("part", own), partition_by=spec)
    if shared:
        lake.write("bronze.raced", frame("SHARED", 100 + k, 3, k), replace=EqualTo("part", "SHARED"), partition_by=spec)
"""

BIG_PARTS, BIG_ROWS = 24, 40_000  # ~1M rows in 25 partitions: a couple of seconds of data files before the commit
RANDOM_KILLS = 2


def _writer(home: Path, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), *args],
        cwd=REPO,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _frame(part: str, n: int, version: int = 0, writer: int = -1) -> pl.DataFrame:
    return pl.DataFrame({"part": [part] * n, "i": list(range(n)), "version": [version] * n, "writer": [writer] * n})


def _data_files(home: Path, table: str) -> set[Path]:
    root = home / "warehouse" / table.replace(".", "/") / "data"
    return set(root.rglob("*.parquet")) if root.exists() else set()


def _profile(frame: pl.DataFrame) -> dict[str, tuple[int, int, int]]:
    """rows, sum(i) and versions per partition: equal profiles mean equal rows for these frames."""
    grouped = frame.group_by("part").agg(pl.len(), pl.col("i").sum(), pl.col("version").max())
    return {row[0]: (row[1], row[2], row[3]) for row in grouped.iter_rows()}


def test_writer_killed_mid_write_leaves_the_previous_snapshot_and_a_rerun_lands_every_row_once(
    tmp_path: Path,
) -> None:
    lake = IcebergLakehouse.from_settings(Settings(home=tmp_path))
    base = pl.concat([_frame(p, 1000) for p in ("P0", "P1", "P2")])
    lake.write("bronze.killed", base, replace=In("part", {"P0", "P1", "P2"}), partition_by=["identity(part)"])
    before_snapshot = lake.current_snapshot_id("bronze.killed")
    before = _profile(lake.read("bronze.killed"))
    written = ["P1"] + [f"B{p:02d}" for p in range(BIG_PARTS)]
    complete = {**before, **_profile(pl.concat([_frame(name, BIG_ROWS, 2) for name in written]))}

    # 1. killed as soon as its data files start to appear in the warehouse, well before the commit
    files_before = _data_files(tmp_path, "bronze.killed")
    proc = _writer(tmp_path, "big", str(BIG_PARTS), str(BIG_ROWS))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "WRITING"
    deadline = time.monotonic() + 60
    while not (_data_files(tmp_path, "bronze.killed") - files_before) and time.monotonic() < deadline:
        assert proc.poll() is None, "the writer finished before any data file was seen"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    orphans = _data_files(tmp_path, "bronze.killed") - files_before
    assert orphans  # it did die mid-write, leaving files no snapshot references
    fresh = IcebergLakehouse.from_settings(Settings(home=tmp_path))
    assert fresh.current_snapshot_id("bronze.killed") == before_snapshot
    assert _profile(fresh.read("bronze.killed")) == before  # no partial partition, P1 still the old one

    # 2. killed at random points: the table is always either as before or completely written
    rng = random.Random(7)
    outcomes = []
    for _ in range(RANDOM_KILLS):
        proc = _writer(tmp_path, "big", str(BIG_PARTS), str(BIG_ROWS))
        assert proc.stdout is not None and proc.stdout.readline().strip() == "WRITING"
        time.sleep(rng.uniform(0.0, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        profile = _profile(fresh.read("bronze.killed"))
        assert profile in (before, complete), "a killed writer left a partial write visible"
        outcomes.append("complete" if profile == complete else "before")

    # 3. re-running completes, every row exactly once
    rerun = _writer(tmp_path, "big", str(BIG_PARTS), str(BIG_ROWS))
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err[-2000:]
    final = fresh.read("bronze.killed")
    assert _profile(final) == complete, outcomes
    assert final.select("part", "i").n_unique() == final.height


WRITERS = 16
APPENDERS = range(0, 8)  # append their own rows (AlwaysFalse); the others overwrite their own partition
SHARED = (0, 4, 8, 12)  # these also overwrite one partition together: exactly one of them must win it whole


def test_sixteen_concurrent_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    lake = IcebergLakehouse.from_settings(Settings(home=tmp_path))
    # stale rows the overwrites must replace (not add to)
    overwriters = [k for k in range(WRITERS) if k not in APPENDERS]
    stale = pl.concat([_frame(f"P{k:02d}", 50) for k in overwriters] + [_frame("SHARED", 50)])
    lake.write("bronze.raced", stale, partition_by=["identity(part)"])
    procs = [
        _writer(
            tmp_path,
            "race",
            str(k),
            "append" if k in APPENDERS else "overwrite",
            "shared" if k in SHARED else "-",
            stdin=True,
        )
        for k in range(WRITERS)
    ]
    for proc in procs:  # start the race only once all 16 have imported everything
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=170)
        if proc.returncode != 0:
            errors.append(err[-1500:])
    assert errors == []

    frame = lake.read("bronze.raced")
    assert frame.select("part", "i").n_unique() == frame.height  # nothing duplicated
    counts = dict(frame.group_by("part").len().iter_rows())
    for k in APPENDERS:
        assert counts[f"A{k:02d}"] == 500  # every append landed exactly once
    for k in overwriters:
        own = frame.filter(pl.col("part") == f"P{k:02d}")
        assert own.height == 200 and own.get_column("version").unique().to_list() == [2]  # replaced, not added
    shared = frame.filter(pl.col("part") == "SHARED")
    [winner] = shared.get_column("writer").unique().to_list()  # one writer's whole partition, nobody else's
    assert winner in SHARED
    assert shared.height == 100 + winner and shared.get_column("version").unique().to_list() == [3]
    assert frame.height == len(APPENDERS) * 500 + len(overwriters) * 200 + 100 + winner
