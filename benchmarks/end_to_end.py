"""The whole demo, as ``make demo`` runs it: wall time and peak memory of the process tree.

``python -m finance_assets.cli demo`` in a fresh process, in replay mode (REPLAY_DIR, default
``../shared/replay``) into a fresh temporary LAKEHOUSE_HOME with the Makefile's environment: Bronze
(EDGAR, FMP, prices), the dbt build, feature tables + Feast registry + online store, and the ML stage.
The peak memory is the RSS summed over the process and every child (dbt, Feast, MLflow...), sampled
every 0.2 s from /proc.

The universe is the demo's default, ``recorded,sp500``: the 8 companies with recorded companyfacts plus the
482 S&P 500 members with recorded prices (487 tickers, SEC data for 9 of them). There is no floor for "the
whole graph", so the figures are against **ceilings**: 5 min of wall time on a 2-core machine (issue 13.6),
a quarter of the machine's memory, and at most 60 lines of console output (issue 19.1; the details go to
the log file the demo names). The load average before and after is recorded: the machine is shared.
``--quick`` runs the same demo (nothing shorter exercises the same path).

The lakehouse is kept at ``$TMPDIR/bench-lakehouse-e2e`` (replaced on every run) so that
``feast_online`` can serve its online store without building another one.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks._proctree import run_measured
from benchmarks.common import REPO, Figure, Result

NAME = "end_to_end"
DESCRIPTION = "`make demo` (cli demo, replay, fresh LAKEHOUSE_HOME): wall time and peak RSS of the process tree"

CEILING_S = 300.0
CONSOLE_LINES = 60
MEMORY_SHARE = 0.25
KEPT_HOME = Path(tempfile.gettempdir()) / "bench-lakehouse-e2e"
ENV_DROP = ("LAKEHOUSE_", "DAGSTER_HOME", "UNIVERSE", "PRICES_", "FEAST_", "MLFLOW_TRACKING_URI", "OPTUNA_")


def replay_dir() -> Path:
    configured = os.environ.get("REPLAY_DIR")
    return Path(configured) if configured else (REPO.parent / "shared" / "replay").resolve()


def demo_env(home: Path, replay: Path, **extra: str) -> dict[str, str]:
    """The Makefile's environment for ``make demo`` with LAKEHOUSE_HOME=home, nothing inherited that changes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP)}
    env |= {
        "UV_COMPILE_BYTECODE": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "POLARS_ICEBERG_PLANNER": "pyiceberg",
        "LAKEHOUSE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "REPLAY_DIR": str(replay),
    }
    return env | extra


def memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    shutil.rmtree(KEPT_HOME, ignore_errors=True)
    load_before = os.getloadavg()
    log = Path(tempfile.gettempdir()) / "bench-end-to-end.log"
    measured = run_measured(
        [sys.executable, "-m", "finance_assets.cli", "demo"],
        env=demo_env(KEPT_HOME, replay_dir()),
        cwd=REPO,
        log=log,
        timeout=6 * CEILING_S,  # a loaded shared machine still yields a figure (and a FAIL), not only a kill
    )
    load_after = os.getloadavg()
    console = log.read_text(errors="replace").splitlines()
    tail = console[-40:]
    ok = measured.returncode == 0
    mem_total = memory_bytes()
    ceiling_mem = mem_total * MEMORY_SHARE
    cpus = os.cpu_count()
    status = "" if ok else f"; demo exited {measured.returncode}"
    result.figures += [
        Figure(
            "demo wall time",
            round(measured.wall_s, 1),
            "s",
            f"ceiling {CEILING_S:.0f} s ({cpus} CPUs)",
            round(measured.wall_s / CEILING_S, 3),
            "<= 1x, demo exits 0",
            ok and measured.wall_s <= CEILING_S,
            note=f"{measured.wall_s / 60:.1f} min{status}",
        ),
        Figure(
            "demo peak RSS, process tree",
            round(measured.peak_rss_bytes / 2**20),
            "MiB",
            f"ceiling {MEMORY_SHARE:g} x {mem_total / 2**30:.1f} GiB",
            round(measured.peak_rss_bytes / ceiling_mem, 3),
            "<= 1x",
            measured.peak_rss_bytes <= ceiling_mem,
            note=f"up to {measured.peak_processes} processes; largest {measured.max_single_rss_bytes / 2**20:.0f} MiB",
        ),
        Figure(
            "demo console lines",
            len(console),
            "lines",
            f"ceiling {CONSOLE_LINES}",
            round(len(console) / CONSOLE_LINES, 3),
            "<= 1x",
            len(console) <= CONSOLE_LINES,
            note="stdout + stderr of `cli demo`; everything else is in the log file it names",
        ),
    ]
    result.details = {
        "command": "python -m finance_assets.cli demo",
        "lakehouse_home": str(KEPT_HOME),
        "replay_dir": str(replay_dir()),
        "returncode": measured.returncode,
        "universe": "recorded,sp500 (default)",
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in load_after],
        "wall_s": measured.wall_s,
        "peak_tree_rss_bytes": measured.peak_rss_bytes,
        "peak_processes": measured.peak_processes,
        "max_single_process_rss_bytes": measured.max_single_rss_bytes,
        "rss_samples": measured.samples,
        "log_tail": tail,
    }
    return result
