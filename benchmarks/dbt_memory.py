"""Peak memory of the dbt build as the universe grows: sources streamed into DuckDB vs read whole in Python.

For each universe size N (re-keyed real companies, the method of ``benchmarks/scaling.py``), Bronze is
built once through the demo's code path (``finance_assets.pipeline.bronze_stage``: Dagster runs over the
replayed sources, not measured), then the same ``dbt build`` (every model, seed and test of
``dbt_project/``) runs twice in a fresh process each, measured from outside (peak RSS summed over the
process tree, sampled from /proc; wall time):

* **before**: the plugin's two data paths as they were: each source read whole with
  ``scan().to_arrow()`` (what dbt-duckdb's built-in iceberg plugin does) and copied into DuckDB, each
  model's Parquet read whole before the Iceberg write (``benchmarks/_dbt_arrow_plugin.py``);
* **after**: the production plugin: sources streamed into DuckDB batch by batch
  (``finance_assets.transform.dbt_plugin.stream_scan``), models written from their Parquet in bounded
  chunks (``finance_assets.core.iceberg.ArrowChunks``), DuckDB spilling to ``temp_directory``.

Both use the same profile otherwise (the benchmark writes a copy whose plugin module differs for
*before*), with DuckDB's ``memory_limit`` at ``DBT_DUCKDB_MEMORY_LIMIT`` (default here 1GB; the profile's
default is 2GB). After streaming, a build's peak is about the dbt process (~0.5 GiB) + DuckDB's limit +
one chunk, so a smaller limit shows the plateau at universe sizes this shared machine can build.

Figures: peak RSS of each build (info); after / before at the largest N (target < 1); the growth of the
peak per 100 companies, after against before, over the whole range (info: it includes the rise until
DuckDB's buffer pool reaches its limit) and between the two largest sizes (target: at most a quarter of
before's growth there, i.e. at scale memory no longer follows the number of companies). The DuckDB spill
left after each build and the slowest nodes are in the JSON.

``DBT_MEMORY_SIZES`` (e.g. ``100,300``) overrides the sizes: full 100, 300, 600; quick 20, 60.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._proctree import run_measured
from benchmarks.common import REPO, Figure, Result, new_plot
from benchmarks.end_to_end import demo_env
from benchmarks.scaling import PRICES_START, synthetic_replay

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Plot

NAME = "dbt_memory"
DESCRIPTION = "dbt build peak RSS vs companies: sources streamed into DuckDB vs scan().to_arrow() (before)"

FULL_SIZES = (100, 300, 600)
QUICK_SIZES = (20, 60)
GROWTH_TARGET = 0.25  # after's growth per company at most this fraction of before's
DUCKDB_MEMORY_LIMIT = os.environ.get("DBT_DUCKDB_MEMORY_LIMIT", "1GB")
DBT_PROJECT_DIR = REPO / "dbt_project"
VARIANTS = {"before": "benchmarks._dbt_arrow_plugin", "after": "finance_assets.transform.dbt_plugin"}

BRONZE_CHILD = r"""
import json, time
t0 = time.monotonic()
from finance_assets.cli import init
from finance_assets.core.settings import Settings
settings = Settings.from_env()
init(settings)
import dagster as dg
from finance_assets.pipeline import bronze_stage
failures = bronze_stage(settings, dg.DagsterInstance.get(), lambda line: print(line, flush=True),
                        fmp_tickers=settings.universe.split(",")[:1])
print("RESULT " + json.dumps({"bronze_s": time.monotonic() - t0, "failures": failures}), flush=True)
"""


def sizes(quick: bool) -> tuple[int, ...]:
    configured = os.environ.get("DBT_MEMORY_SIZES")
    if configured:
        return tuple(sorted(int(n) for n in configured.split(",") if n.strip()))
    return QUICK_SIZES if quick else FULL_SIZES


def profiles_dir(scratch: Path, variant: str) -> Path:
    """A copy of the project's profiles.yml whose plugin module is the variant's."""
    text = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    production = VARIANTS["after"]
    if f"module: {production}" not in text:
        raise RuntimeError(f"dbt_project/profiles.yml no longer names {production}: update this benchmark")
    folder = scratch / f"profiles-{variant}"
    folder.mkdir(exist_ok=True)
    (folder / "profiles.yml").write_text(text.replace(f"module: {production}", f"module: {VARIANTS[variant]}"))
    return folder


def bronze_rows(home: Path) -> dict[str, int]:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("lakehouse", uri=f"sqlite:///{home}/catalog.db", warehouse=(home / "warehouse").as_uri())
    counts = {}
    for name in ("bronze.edgar_company_facts", "bronze.edgar_filings", "bronze.prices_daily"):
        snapshot = catalog.load_table(name).current_snapshot()
        counts[name] = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
    return counts


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def dbt_build(home: Path, replay: Path, scratch: Path, variant: str, label: str) -> dict[str, Any]:
    target = scratch / f"target-{label}-{variant}"
    env = demo_env(home, replay, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_DUCKDB_MEMORY_LIMIT=DUCKDB_MEMORY_LIMIT)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    dbt = str(Path(sys.executable).parent / "dbt")
    cmd = [
        dbt,
        "build",
        "--profiles-dir",
        str(profiles_dir(scratch, variant)),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    log = scratch / f"dbt-{label}-{variant}.log"
    spill = home / "dbt" / "spill"
    shutil.rmtree(spill, ignore_errors=True)
    measured = run_measured(cmd, env=env, cwd=DBT_PROJECT_DIR, log=log)
    results_file = target / "run_results.json"
    if measured.returncode != 0 or not results_file.exists():
        text = log.read_text(errors="replace")
        raise RuntimeError(f"dbt build ({variant}, {label}) exited {measured.returncode}:\n{text[-4000:]}")
    nodes = json.loads(results_file.read_text())["results"]
    statuses: dict[str, int] = {}
    for node in nodes:
        statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    slowest = sorted(((n["unique_id"], round(n["execution_time"], 1)) for n in nodes), key=lambda x: -x[1])[:8]
    return {
        "wall_s": measured.wall_s,
        "peak_tree_rss_bytes": measured.peak_rss_bytes,
        "max_single_process_rss_bytes": measured.max_single_rss_bytes,
        "statuses": statuses,
        "slowest_nodes": slowest,
        "spill_dir_bytes_after": folder_bytes(spill),
    }


def measure_size(n: int, scratch: Path) -> dict[str, Any]:
    root = scratch / f"replay-{n}"
    universe = synthetic_replay(root, n)
    home = scratch / f"lakehouse-{n}"
    env = demo_env(home, root, UNIVERSE=",".join(universe), PRICES_START=PRICES_START)
    log = scratch / f"bronze-{n}.log"
    bronze = run_measured([sys.executable, "-c", BRONZE_CHILD], env=env, cwd=REPO, log=log)
    text = log.read_text(errors="replace")
    payload = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), None)
    if bronze.returncode != 0 or payload is None:
        raise RuntimeError(f"bronze for {n} companies exited {bronze.returncode}:\n{text[-4000:]}")
    run: dict[str, Any] = {
        "companies": n,
        "bronze_wall_s": bronze.wall_s,
        "bronze_failures": payload["failures"],
        "bronze_rows": bronze_rows(home),
    }
    for variant in VARIANTS:
        # each variant starts from the same Bronze and an empty DuckDB engine file
        shutil.rmtree(home / "dbt", ignore_errors=True)
        run[variant] = dbt_build(home, root, scratch, variant, str(n))
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return run


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    scratch = Path(tempfile.mkdtemp(prefix="bench-dbt-memory-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        for n in sizes(quick):
            runs[str(n)] = measure_size(n, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.figures, growth = figures(runs)
    result.details = {
        "runs": runs,
        "growth_mib_per_100_companies": growth,
        "duckdb_memory_limit": DUCKDB_MEMORY_LIMIT,
        "prices_start": PRICES_START,
    }
    return result


def figures(runs: dict[str, dict[str, Any]]) -> tuple[list[Figure], dict[str, dict[str, float]]]:
    """The table rows from the raw runs (also used to re-derive a stored result's figures)."""
    mib = 2**20
    rows: list[Figure] = []
    for r in runs.values():
        facts = r["bronze_rows"]["bronze.edgar_company_facts"]
        for variant in VARIANTS:
            v = r[variant]
            rows.append(
                Figure(
                    f"dbt build peak RSS, {r['companies']} companies, {variant}",
                    round(v["peak_tree_rss_bytes"] / mib),
                    "MiB",
                    "-",
                    None,
                    "-",
                    None,
                    note=(
                        f"wall {v['wall_s']:.0f}s; {facts:,} fact rows in Bronze; nodes {v['statuses']}; "
                        f"spill left {v['spill_dir_bytes_after'] / mib:.0f} MiB"
                    ),
                )
            )
    ordered = sorted(runs.values(), key=lambda r: r["companies"])
    last = ordered[-1]
    ratio = last["after"]["peak_tree_rss_bytes"] / last["before"]["peak_tree_rss_bytes"]
    rows.append(
        Figure(
            f"peak RSS after / before, {last['companies']} companies",
            round(last["after"]["peak_tree_rss_bytes"] / mib),
            "MiB",
            "before",
            round(ratio, 3),
            "< 1x",
            ratio < 1,
        )
    )
    growth: dict[str, dict[str, float]] = {}
    # whole range (info: includes the rise until DuckDB reaches its memory limit) and the curve's tail
    # (the two largest sizes: does the peak still grow with the number of companies?)
    spans = {"range": (ordered[0], last), "tail": (ordered[-2], last)} if len(ordered) > 1 else {}
    for label, (low, high) in spans.items():
        companies = high["companies"] - low["companies"]
        growth[label] = {
            variant: (high[variant]["peak_tree_rss_bytes"] - low[variant]["peak_tree_rss_bytes"])
            / companies
            * 100
            / mib
            for variant in VARIANTS
        }
        before = growth[label]["before"]
        share = growth[label]["after"] / before if before > 0 else None
        tail = label == "tail"
        rows.append(
            Figure(
                f"peak RSS growth per 100 companies, {low['companies']} -> {high['companies']}, after",
                round(growth[label]["after"], 1),
                "MiB",
                f"before ({before:.0f} MiB)",
                round(share, 3) if share is not None else None,
                f"<= {GROWTH_TARGET:g}x" if tail else "-",
                (share is not None and share <= GROWTH_TARGET) if tail else None,
            )
        )
    return rows, growth


def plot(result: Result) -> Plot:
    """Peak RSS of the dbt build against the number of companies, before and after streaming, with wall times."""
    runs = result.details.get("runs", {})
    sizes = sorted(runs, key=int)
    fig, (memory, wall) = new_plot(10, 4.5, 1, 2)
    for label, style in (("before", "o--"), ("after", "o-")):
        points = [(int(s), runs[s][label]) for s in sizes if label in runs[s]]
        xs = [x for x, _ in points]
        memory.plot(xs, [r["peak_tree_rss_bytes"] / 2**20 for _, r in points], style, label=label)
        wall.plot(xs, [r["wall_s"] for _, r in points], style, label=label)
    limit = result.details.get("duckdb_memory_limit")
    memory.set_title(f"dbt build peak RSS (process tree; DuckDB limit {limit})")
    memory.set_xlabel("companies (re-keyed)")
    memory.set_ylabel("MiB")
    memory.set_ylim(bottom=0)
    wall.set_title("dbt build wall time")
    wall.set_xlabel("companies (re-keyed)")
    wall.set_ylabel("s")
    wall.set_ylim(bottom=0)
    for axes in (memory, wall):
        axes.legend()
        axes.grid(alpha=0.3)
    return fig
