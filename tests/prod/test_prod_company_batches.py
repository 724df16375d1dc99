"""Company batches in parallel processes stay under the one SEC budget: no 429, never over 10 requests/s.

What scaling out means for EDGAR: a backfill's company ranges run as separate runs, each run's steps in
separate processes (Dagster's multiprocess executor here; pods under the k8s run launcher and
`k8s_job_executor`), and SEC still allows 10 requests/s for the whole deployment. The budget is the shared
rate limiter (core/ratelimit.py) in Redis; Dagster's `sec_edgar` pool only bounds how many steps run.

Here two runs of `bronze_edgar_companies`, one per batch of re-keyed real companies (the scaling
benchmark's method), are launched at once with `dagster job execute` (multiprocess executor, so four step
processes fetch at the same time) on the prod instance (Postgres run and event storage in a database of its
own, Postgres catalog, S3 warehouse). SEC is a loopback server (benchmarks/sec_server.py) that answers from
the recorded payloads through the project's replay routes and, like SEC, answers 429 to any request beyond
10 in a sliding 1 s window. The budget lives in this session's Redis database (claimed exclusively and
flushed by the ``redis_db`` fixture), so no other test shares it.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
import httpx
import orjson
import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from benchmarks.scaling import synthetic_replay
from benchmarks.sec_server import RateEnforcingServer, max_in_window
from finance_assets.core.names import CATALOG_NAME
from finance_assets.core.partitions import range_tags
from finance_assets.core.replay import ReplayTransport
from finance_assets.core.settings import Settings
from finance_assets.edgar.replay_routes import EDGAR_ROUTES
from finance_assets.edgar.resources import SEC_DATA_ORIGIN, SEC_WWW_ORIGIN
from prod.conftest import REPO_ROOT, RedisDb, finish_process, subprocess_env

pytestmark = [pytest.mark.prod, pytest.mark.timeout(900)]

BATCHES = 2
PER_BATCH = 30
LIMIT = 10  # SEC's fair-access ceiling: requests in any 1 s window, enforced by the server
JOB = "bronze_edgar_companies"
FETCH_STEPS_PER_RUN = 2  # edgar_filings, edgar_company_facts (each in its own process; the run also has a check step)


class SecMirror:
    """A rate-enforcing SEC stand-in on 127.0.0.1 serving a replay folder: www under /www, data under /data."""

    def __init__(self, root: Path) -> None:
        self.server = RateEnforcingServer(LIMIT, 1.0, 0.0)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.origins = {SEC_WWW_ORIGIN: f"{self.base}/www", SEC_DATA_ORIGIN: f"{self.base}/data"}
        transport = ReplayTransport(root, EDGAR_ROUTES, origins=self.origins)

        def answer(path: str, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
            conditional = {k: v for k, v in headers.items() if k.lower() == "if-none-match"}
            response = transport.handle_request(httpx.Request("GET", self.base + path, headers=conditional))
            kept = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "etag")}
            return response.status_code, response.content, kept

        self.server.answer = answer
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stats(self) -> dict[str, object]:
        return httpx.get(f"{self.base}/__stats", timeout=10).json()


@pytest.fixture
def sec_mirror(tmp_path: Path) -> Iterator[tuple[SecMirror, tuple[str, ...], Path]]:
    root = tmp_path / "replay"
    tickers = synthetic_replay(root, BATCHES * PER_BATCH)
    mirror = SecMirror(root)
    mirror.thread.start()
    try:
        yield mirror, tickers, root
    finally:
        mirror.server.shutdown()
        mirror.server.server_close()


def _dagster(env: dict[str, str], argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster", *argv], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _payload_facts(root: Path, cik: str) -> int:
    """Facts in the company's served companyfacts payload: the rows Bronze must hold for it."""
    path = root / "edgar" / "companyfacts" / f"CIK{cik}.json.gz"
    doc = orjson.loads(gzip.decompress(path.read_bytes()))
    return sum(
        len(items)
        for concepts in doc["facts"].values()
        for body in concepts.values()
        for items in body.get("units", {}).values()
    )


def test_parallel_company_batches_stay_under_one_sec_budget(
    prod_env: dict[str, str],
    prod_dagster_home: Path,
    prod_environ: dict[str, str],  # this process reads the same instance (DAGSTER_POSTGRES_URL ...)
    redis_db: RedisDb,
    sec_mirror: tuple[SecMirror, tuple[str, ...], Path],
    tmp_path: Path,
) -> None:
    mirror, tickers, root = sec_mirror
    env = subprocess_env(
        prod_env,
        UNIVERSE=",".join(tickers),
        SEC_USER_AGENT="Lakehouse Tests tests@example.com",
        SEC_WWW_BASE_URL=mirror.origins[SEC_WWW_ORIGIN],
        SEC_DATA_BASE_URL=mirror.origins[SEC_DATA_ORIGIN],
        SEC_REQUESTS_PER_SECOND=str(LIMIT),
        RATE_LIMIT_REDIS_URL=f"redis://{redis_db.host}:{redis_db.port}/{redis_db.db}",
    )
    env.pop("REPLAY_DIR")  # live: every request goes over HTTP to the mirror

    # 1. the ticker map (from the mirror) registers the companies as partitions in the Postgres instance
    log = tmp_path / "tickers.log"
    in_process = '{"execution": {"config": {"in_process": {}}}}'
    tickers_run = ["asset", "materialize", "-m", "finance_assets.definitions", "-a", "defs"]
    tickers_run += ["--select", "bronze/sec_company_tickers", "--config-json", in_process]
    finish_process(_dagster(env, tickers_run, log), log, "bronze/sec_company_tickers", timeout=600)
    batches = [tickers[i * PER_BATCH : (i + 1) * PER_BATCH] for i in range(BATCHES)]
    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:
        registered = instance.get_dynamic_partitions("companies")
        assert set(tickers) <= set(registered)
        order = {t: registered.index(t) for t in tickers}
        assert all(order[b[-1]] - order[b[0]] == PER_BATCH - 1 for b in batches), "a batch must be a contiguous range"
        # scale the SEC pool out so every step of both runs fetches at once: the budget, not the pool, must hold
        instance.event_log_storage.set_concurrency_slots("sec_edgar", BATCHES * FETCH_STEPS_PER_RUN)
    before = mirror.stats()

    # 2. one run per batch, both at once; each run's two steps in their own processes (multiprocess executor)
    processes: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"batch-{i}.log" for i in range(BATCHES)]
    try:
        for batch, log in zip(batches, logs, strict=True):
            tags = json.dumps(range_tags(batch[0], batch[-1]))
            argv = ["job", "execute", "-m", "finance_assets.definitions", "-a", "defs", "-j", JOB, "--tags", tags]
            processes.append(_dagster(env, argv, log))
        for i, (process, log) in enumerate(zip(processes, logs, strict=True)):
            finish_process(process, log, f"{JOB} batch {i}", timeout=600)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:  # back to the template's 1
            instance.event_log_storage.delete_concurrency_limit("sec_edgar")
    after = mirror.stats()

    # 3. the server's view of the batches: under the budget, and not one 429
    arrivals = sorted(after["arrivals"][len(before["arrivals"]) :])  # type: ignore[index, arg-type]
    counts = {k: n - before["counts"].get(k, 0) for k, n in after["counts"].items()}  # type: ignore[union-attr, attr-defined]
    assert counts.get("429", 0) == 0, f"the SEC stand-in answered 429 {counts['429']} times: {counts}"
    assert max_in_window(arrivals) <= LIMIT
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert rate <= LIMIT, f"combined {rate:.2f} requests/s"
    assert len(arrivals) >= 2 * len(tickers)  # at least submissions + companyfacts per company

    # 4. the runs (Postgres run storage) ran in parallel: both succeeded, each step in a process of its own
    # (multiprocess executor: not the run's process, not another step's), steps of both runs at the same time
    with dg.DagsterInstance.from_config(str(prod_dagster_home)) as instance:
        runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(job_name=JOB))]
        assert len(runs) == BATCHES and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        ranges = [tuple(r.tags[f"dagster/asset_partition_range_{end}"] for end in ("start", "end")) for r in runs]
        assert sorted(ranges) == sorted((b[0], b[-1]) for b in batches)
        windows: list[tuple[float, float]] = []
        for run in runs:
            events = instance.all_logs(run.run_id)
            run_pids = {
                e.dagster_event.pid
                for e in events
                if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_START
            }
            step_pids = {
                e.step_key: e.dagster_event.pid
                for e in events
                if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
            }
            assert len(step_pids) >= 2 and len(set(step_pids.values())) == len(step_pids), step_pids
            assert not set(step_pids.values()) & run_pids, (run_pids, step_pids)
            for stat in instance.get_run_step_stats(run.run_id):
                assert stat.start_time and stat.end_time
                windows.append((stat.start_time, stat.end_time))
    edges = sorted([(s, 1) for s, _ in windows] + [(e, -1) for _, e in windows])
    running, most = 0, 0
    for _, delta in edges:
        running += delta
        most = max(most, running)
    assert most >= 3, f"at most {most} steps ran at once: {windows}"

    # 5. every company landed with every fact of the payload the mirror served
    settings = Settings.from_env(prod_env)
    catalog = SqlCatalog(CATALOG_NAME, **settings.catalog_properties())
    facts = pl.from_arrow(catalog.load_table("bronze.edgar_company_facts").scan().to_arrow())
    assert isinstance(facts, pl.DataFrame)
    rows = dict(facts.group_by("ticker").len().iter_rows())
    ciks = dict(facts.select("ticker", "cik").unique().iter_rows())
    assert set(rows) == set(tickers)
    assert all(rows[t] == _payload_facts(root, ciks[t]) for t in tickers)
    print(
        f"\n{BATCHES} runs, {len(windows)} step processes, {len(arrivals)} requests in "
        f"{arrivals[-1] - arrivals[0]:.1f}s: {rate:.2f} req/s, max {max_in_window(arrivals)} in 1 s, answers {counts}; "
        f"{most} steps at once"
    )
