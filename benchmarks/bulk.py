"""SEC's bulk companyfacts.zip -> per-company Bronze Arrow frames: MB/s against the orjson floor, and memory.

The archive holds N re-keyed real companies (the method of ``benchmarks/scaling.py``: each recorded
companyfacts payload copied under a new CIK with its values scaled), built with
:func:`finance_assets.edgar.bulk.build_archive` exactly as the replay route builds SEC's archive. Then,
interleaved over rounds:

* floor: every member read from the zip (inflate) and decoded with ``orjson.loads``: the least any reader
  of the archive must do, on the same bytes;
* ours: :func:`finance_assets.edgar.bulk.iter_company_facts`, every company's frame in the Bronze schema
  of ``bronze.edgar_company_facts`` (inflate + decode + Arrow), one company at a time.

MB are the members' uncompressed JSON bytes. The ratio is the median over rounds of ours / floor within
the round (target <= 2x, the per-company parser's target). Memory: the peak RSS growth (sampled from /proc)
while parsing the largest company alone, then during a whole pass of ours over the archive; target: the
pass grows at most 2x what one company does (memory follows one company, not the archive).

``BULK_COMPANIES`` sets N (full 10,000, the issue's figure: ~20 GB of JSON, about an hour with the build, on
a quiet machine; quick 50). From 3,000 companies on, each side is timed over one pass (the ratio of one
pass each instead of the median over rounds).
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import orjson

from benchmarks.common import Figure, Result
from benchmarks.scaling import synthetic_replay

NAME = "bulk"
DESCRIPTION = "companyfacts.zip of N re-keyed companies -> Bronze Arrow frames vs orjson floor (MB/s, memory)"

FULL_COMPANIES = 10_000
QUICK_COMPANIES = 50
FULL_ROUNDS, QUICK_ROUNDS = 3, 2
TARGET_X_FLOOR = 2.0
MEMORY_TARGET_X_ONE = 2.0
PAGE = os.sysconf("SC_PAGE_SIZE")
# from this size on, one pass each (the floor, then ours, measured while its memory is sampled): at 10,000
# companies a pass over ~20 GB of JSON takes minutes, and the page cache cannot hold the archive anyway
SINGLE_PASS_COMPANIES = 3000


def companies(quick: bool) -> int:
    configured = os.environ.get("BULK_COMPANIES")
    return int(configured) if configured else (QUICK_COMPANIES if quick else FULL_COMPANIES)


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class PeakRss:
    """Peak resident memory of this process while the block runs, sampled every 20 ms."""

    def __enter__(self) -> PeakRss:
        self.start = _rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            self._stop.wait(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def run(quick: bool) -> Result:
    from finance_assets.edgar.bulk import build_recorded_archive, iter_company_facts
    from finance_assets.edgar.parse import parse_company_facts

    n = companies(quick)
    rounds = QUICK_ROUNDS if quick else FULL_ROUNDS
    result = Result(NAME, DESCRIPTION, quick)
    scratch = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    try:
        started = time.monotonic()
        synthetic_replay(scratch / "replay", n)
        archive = build_recorded_archive(scratch / "replay", "companyfacts", scratch / "companyfacts.zip")
        shutil.rmtree(scratch / "replay", ignore_errors=True)
        build_s = time.monotonic() - started
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if i.filename.endswith(".json")]
        megabytes = sum(i.file_size for i in infos) / 1e6
        largest = max(i.file_size for i in infos)

        def floor() -> int:
            with zipfile.ZipFile(archive) as zf:
                for info in infos:
                    orjson.loads(zf.read(info.filename))
            return len(infos)

        def ours() -> int:
            rows = 0
            for company in iter_company_facts(archive):
                if company.table is None:
                    raise RuntimeError(company.error)
                rows += company.table.num_rows
            return rows

        with zipfile.ZipFile(archive) as zf:
            biggest = max(infos, key=lambda i: i.file_size).filename
            gc.collect()
            with PeakRss() as one:
                parse_company_facts(zf.read(biggest), ticker="ONE")
        gc.collect()
        times: dict[str, list[float]] = {"floor": [], "ours": []}
        with PeakRss() as memory:
            t = time.perf_counter()
            facts = ours()  # the warm-up pass; at market size, the one timed pass
            whole_pass_s = time.perf_counter() - t
        if n >= SINGLE_PASS_COMPANIES:
            rounds = 1
            t = time.perf_counter()
            floor()
            times["floor"].append(time.perf_counter() - t)
            times["ours"].append(whole_pass_s)
        else:
            floor()
        for _ in range(rounds if n < SINGLE_PASS_COMPANIES else 0):
            for name, fn in (("floor", floor), ("ours", ours)):
                gc.collect()
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ratio = statistics.median(o / f for o, f in zip(times["ours"], times["floor"], strict=True))
    best = {k: min(v) for k, v in times.items()}
    mib = 2**20
    result.figures += [
        Figure(
            f"orjson floor: {n:,} members read + decoded",
            round(megabytes / best["floor"], 1),
            "MB/s",
            "floor",
            1.0,
            "-",
            None,
            note=f"{megabytes:,.0f} MB of JSON in a {archive_size_mb(infos):,.0f} MB zip",
        ),
        Figure(
            "iter_company_facts -> Bronze Arrow frames",
            round(megabytes / best["ours"], 1),
            "MB/s",
            "time / floor",
            round(ratio, 3),
            f"<= {TARGET_X_FLOOR:g}x",
            ratio <= TARGET_X_FLOOR,
            note=f"{facts:,} fact rows, {n / best['ours']:,.0f} companies/s, {rounds} rounds",
        ),
        Figure(
            "peak RSS growth while reading the whole archive",
            round(memory.growth / mib),
            "MiB",
            f"one company ({one.growth / mib:.0f} MiB)",
            round(memory.growth / max(one.growth, 1), 2),
            f"<= {MEMORY_TARGET_X_ONE:g}x",
            memory.growth <= MEMORY_TARGET_X_ONE * max(one.growth, largest),
            note=f"archive {megabytes:,.0f} MB of JSON; largest member {largest / mib:.0f} MiB",
        ),
    ]
    result.details = {
        "companies": n,
        "megabytes_json": megabytes,
        "zip_megabytes": archive_size_mb(infos),
        "largest_member_bytes": largest,
        "facts": facts,
        "rounds": rounds,
        "seconds_per_pass": times,
        "archive_build_s": build_s,
        "peak_rss_growth_bytes": memory.growth,
        "one_company_rss_growth_bytes": one.growth,
        "rss_before_bytes": memory.start,
    }
    return result


def archive_size_mb(infos: list[zipfile.ZipInfo]) -> float:
    return sum(i.compress_size for i in infos) / 1e6
