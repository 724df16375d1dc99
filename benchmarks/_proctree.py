"""Run a command and measure its wall time and the peak RSS of its whole process tree (no psutil needed).

The RSS of the child and of every descendant is summed from ``/proc`` every ``interval`` seconds; the
peak of that sum is the figure. ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest single process)
is recorded too, as a cross-check that sampling did not miss a short spike of one process.
Every sample is kept (``TreeRun.series``: wall-clock time, bytes), so a caller that knows when each
stage of the child began and ended (e.g. from lines the child prints) can take the peak per stage.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss(pid: int) -> tuple[int, int]:
    """(bytes of RSS summed over ``pid`` and its descendants, number of processes)."""
    children = _children_map()
    total, count, stack = 0, 0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE
            count += 1
        except OSError:
            pass
        stack.extend(children.get(current, ()))
    return total, count


@dataclass
class TreeRun:
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    peak_processes: int
    max_single_rss_bytes: int  # ru_maxrss of the largest process reaped (getrusage RUSAGE_CHILDREN)
    samples: int
    series: list[tuple[float, int]]  # (time.time() of the sample, tree RSS bytes), one per sample

    def peak_between(self, start: float, end: float) -> int:
        """The largest tree RSS sampled in ``[start, end]`` (wall-clock ``time.time()`` seconds); 0 if none."""
        return max((rss for t, rss in self.series if start <= t <= end), default=0)


def run_measured(
    cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path, interval: float = 0.2, timeout: float | None = None
) -> TreeRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = [0, 0, 0]  # bytes, processes, samples
    series: list[tuple[float, int]] = []
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                rss, n = tree_rss(process.pid)
                series.append((time.time(), rss))
                peak[0], peak[1], peak[2] = max(peak[0], rss), max(peak[1], n), peak[2] + 1
                stop.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return TreeRun(code, wall, peak[0], peak[1], max(after, before) * 1024, peak[2], series)
