"""Bronze -> Gold -> features for growing universes: wall time and peak memory per stage, is it linear?

Universes: the replay universe (AAPL, MSFT, NVDA, TSM, MRVL) and synthetic universes of 100, 1,000, 3,000
and 10,000 companies (``--quick``: replay + 100; ``SCALING_SIZES=100,1000`` picks the synthetic sizes). A
synthetic company is a real recorded one **re-keyed**: new CIK (9,000,000 + i), new ticker (``SYN0000``...),
its companyfacts values and prices multiplied by a factor in [0.5, 1.5), written into a temporary replay
folder laid out like ``../shared/replay`` (companyfacts, submissions, yahoo_daily prices CSVs, and
``company_tickers*.json`` listing the new tickers next to the real ones; the recorded submissions, which
the 13F filings need, and every other EDGAR folder are copies of the real recordings, the other prices
symlinks). Sources rotate over the
five replay companies, so the mix of payload sizes is the replay universe's.

What runs is the demo's code path (``finance_assets.pipeline.bronze_stage``, ``dbt_stage``, then the
``features`` job, into a persistent DAGSTER_HOME, exactly as ``make demo`` launches them), in a fresh process
measured from outside (wall time; RSS summed over the process tree, sampled from /proc every 0.2 s, and the
peak taken per stage from the stage boundaries the child prints): ``sec_company_tickers``;
``edgar_filings`` + ``edgar_company_facts`` as backfill runs of up to 100 companies each; the FMP tables
for the first company only (FMP is recorded for AAPL only: its files are copied under the first
synthetic ticker); ``prices_daily`` as one range run in a second process alongside; the recorded 13F
filings (a fixed set, as the demo loads them); the dbt build (every dbt model); the feature tables, Feast
registry and online store. ML is not part of it (see
``end_to_end``). Stage times and peaks, the slowest dbt nodes, the seconds of every Dagster step (summed
over runs) and the payloads fetched per asset (``bronze.raw_payloads``) are in the JSON: the Bronze stage
is bounded by SEC's rate limit in replay too (every request takes a slot of the 9.7/s budget), so
``sec_rate_floor_s`` = SEC payloads / 9.7 is the least it can take. ``SCALING_PROFILE=1`` also runs each
stage of the child under cProfile and records its 25 most expensive functions (the main thread only;
costs ~1.5x).

Figures: seconds per company for each universe (info); the ratio of the per-company time of the largest
universe to that of the 100-company one (target <= 1.25: linear or better); 1,000 companies under 10
minutes; the issue's targets at 10,000 companies: Bronze -> Gold (wall time without the features stage)
under 30 minutes and peak RSS under 4 GiB. Sizes not measured in a run are **extrapolated** linearly from
the two largest measured ones (fixed cost + N x marginal cost), marked as such and not pass/fail.
The plot beside the JSON (``scaling.png``, :func:`plot`; ``python -m benchmarks --plots scaling`` redraws it)
shows wall time and peak RSS per stage against the number of companies, with the targets drawn in.

Full run (hours; run it on a quiet machine): ``uv run python -m benchmarks scaling``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks._proctree import TreeRun, run_measured
from benchmarks.common import REPO, Figure, Result
from benchmarks.end_to_end import demo_env, replay_dir

NAME = "scaling"
DESCRIPTION = (
    "Bronze -> Gold -> features (Dagster runs, dbt build, features job) for the replay universe and 100 / 1,000 / "
    "3,000 / 10,000 re-keyed companies"
)

REPLAY_UNIVERSE = ("AAPL", "MSFT", "NVDA", "TSM", "MRVL")
SOURCES = {"AAPL": 320193, "MSFT": 789019, "NVDA": 1045810, "TSM": 1046179, "MRVL": 1835632}
CEILING_1000_S = 600.0
TARGET_COMPANIES = 10_000
CEILING_10000_S = 30 * 60.0  # issue 16: the whole market Bronze -> Gold in under 30 minutes on 2 cores
CEILING_RSS_BYTES = 4 * 2**30  # ... with a peak under 4 GiB
LINEAR_TARGET = 1.25
PRICES_START = "2022-06-01"
FULL_SIZES = (100, 1000, 3000, 10_000)
QUICK_SIZES = (100,)
STAGES = ("bronze", "dbt", "features")
SEC_RATE = 10.0 / 1.03  # the SEC budget as the limiter spaces it (core/ratelimit.py: 3 % margin)
SEC_ASSETS = ("bronze/sec_company_tickers", "bronze/edgar_filings", "bronze/edgar_company_facts")

CHILD = r"""
import json, os, sys, time
t0 = time.monotonic()
from finance_assets.cli import init
from finance_assets.core.settings import Settings
settings = Settings.from_env()
init(settings)
import dagster as dg
from finance_assets.pipeline import bronze_stage, dbt_stage, holdings_stage, run_stage
from finance_assets.launch import plan
from finance_assets.transform.project import prepare_manifest
prepare_manifest(force=True)
from finance_assets.definitions import build_definitions
defs = build_definitions(settings)
instance = dg.DagsterInstance.get()
log = lambda line: print(line, flush=True)
failures, stages = [], {"startup_s": time.monotonic() - t0}
profile_dir = os.environ.get("SCALING_PROFILE_DIR")

def stage(name, work):
    print(f"STAGE {name} start {time.time():.3f}", flush=True)
    t = time.monotonic()
    profiler = None
    if profile_dir:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    try:
        return work()
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_dir, f"{name}.prof"))
        stages[f"{name}_s"] = time.monotonic() - t
        print(f"STAGE {name} end {time.time():.3f}", flush=True)

# FMP is recorded for AAPL only (copied under the first synthetic ticker): the others would only 404
fmp = settings.universe.split(",")[:1]
# Bronze as the demo loads it: the sources, then the 13F filings (the holdings models read their tables)
def bronze():
    return bronze_stage(settings, defs, instance, log, fmp_tickers=fmp) + holdings_stage(settings, defs, instance, log)

failures += stage("bronze", bronze)
failures += stage("dbt", lambda: dbt_stage(defs, instance, log))
failures += stage("features", lambda: run_stage(defs, instance, "features", plan(defs, instance, "features"), log))
from finance_assets.transform.project import DBT_PROJECT_DIR
latest = max((DBT_PROJECT_DIR / "target").glob("*/run_results.json"), key=lambda p: p.stat().st_mtime, default=None)
slowest = []
if latest is not None:
    nodes = json.loads(latest.read_text())["results"]
    slowest = sorted(((r["unique_id"], round(r["execution_time"], 1)) for r in nodes), key=lambda x: -x[1])[:12]
stages["dbt_slowest_nodes"] = slowest
# where the time of the Dagster steps went (summed over runs; the prices run overlaps the EDGAR runs)
steps = {}
for record in instance.get_run_records():
    for stat in instance.get_run_step_stats(record.dagster_run.run_id):
        if stat.start_time and stat.end_time:
            steps[stat.step_key] = steps.get(stat.step_key, 0.0) + stat.end_time - stat.start_time
stages["step_seconds"] = {k: round(v, 1) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])}
# what was fetched: one row of bronze.raw_payloads per payload (each took a slot of its source's budget)
try:
    from finance_assets.core.names import RAW_PAYLOADS_TABLE
    from finance_assets.resources import resources_for
    index = resources_for(settings, secrets="values")["lakehouse"].lakehouse().read(RAW_PAYLOADS_TABLE)
    stages["payloads_by_asset"] = dict(index.group_by("asset_key").len().sort("asset_key").iter_rows())
except Exception as exc:
    stages["payloads_by_asset"] = {"error": repr(exc)}
stages["total_in_process_s"] = time.monotonic() - t0
print("RESULT " + json.dumps({"stages": stages, "failures": failures}), flush=True)
"""


def _scale_facts(doc: dict[str, Any], factor: float) -> None:
    for concepts in doc.get("facts", {}).values():
        for body in concepts.values():
            for facts in body.get("units", {}).values():
                for fact in facts:
                    value = fact.get("val")
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        scaled = value * factor
                        fact["val"] = round(scaled) if isinstance(value, int) else scaled


def _read(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def synthetic_replay(root: Path, n: int) -> tuple[str, ...]:
    """A replay folder with ``n`` re-keyed companies; returns their tickers."""
    real = replay_dir()
    edgar = root / "edgar"
    for folder in ("companyfacts", "submissions"):
        (edgar / folder).mkdir(parents=True)
    # Copies, not symlinks: the replay transport serves no file that resolves outside its root (~12 MB).
    for entry in (real / "edgar").iterdir():
        if entry.name not in ("companyfacts", "submissions", "company_tickers.json", "company_tickers_exchange.json"):
            (shutil.copytree if entry.is_dir() else shutil.copyfile)(entry, edgar / entry.name)
    # the recorded filing indexes stay (the 13F managers' among them); re-keyed companies get new CIKs beside them
    for entry in (real / "edgar" / "submissions").iterdir():
        shutil.copyfile(entry, edgar / "submissions" / entry.name)
    (root / "fmp").mkdir()
    prices = root / "prices" / "yahoo_daily_2003_2023"
    prices.mkdir(parents=True)
    for entry in (real / "prices").iterdir():
        if entry.name != prices.name:
            (root / "prices" / entry.name).symlink_to(entry)
    (prices / "GSPC.csv").symlink_to(real / "prices" / prices.name / "GSPC.csv")

    facts_src = {
        t: orjson.loads(_read(next((real / "edgar" / "companyfacts").glob(f"CIK{c:010d}.json*"))))
        for t, c in SOURCES.items()
    }
    subs_src = {
        t: orjson.loads((real / "edgar" / "submissions" / f"CIK{c:010d}.json").read_bytes()) for t, c in SOURCES.items()
    }
    price_src = {t: (real / "prices" / prices.name / f"{t}.csv") for t in SOURCES}
    tickers_doc = orjson.loads((real / "edgar" / "company_tickers.json").read_bytes())
    exchange_doc = orjson.loads((real / "edgar" / "company_tickers_exchange.json").read_bytes())
    sources = list(SOURCES)
    new: list[str] = []
    for i in range(n):
        source = sources[i % len(sources)]
        ticker, cik = f"SYN{i:04d}", 9_000_000 + i
        factor = 0.5 + (i * 0.618033988749895) % 1.0
        name = f"SYNTHETIC {i} ({source} x{factor:.3f})"
        doc = dict(facts_src[source])
        doc["facts"] = orjson.loads(orjson.dumps(facts_src[source]["facts"]))
        doc["cik"], doc["entityName"] = cik, name
        _scale_facts(doc, factor)
        (edgar / "companyfacts" / f"CIK{cik:010d}.json.gz").write_bytes(
            gzip.compress(orjson.dumps(doc), compresslevel=1)
        )
        sub = dict(subs_src[source])
        sub |= {"cik": str(cik), "name": name, "tickers": [ticker], "exchanges": ["Nasdaq"]}
        (edgar / "submissions" / f"CIK{cik:010d}.json").write_bytes(orjson.dumps(sub))
        if price_src[source].is_file():
            lines = price_src[source].read_text().splitlines()
            header = lines[0].replace(f'"{source}.', f'"{ticker}.')
            out = [header]
            for line in lines[1:]:
                cells = line.split(",")
                nums = [f"{float(c) * factor:.6g}" if c not in ("NA", "") else c for c in cells[1:6]]
                adjusted = cells[6] if cells[6] in ("NA", "") else f"{float(cells[6]) * factor:.6g}"
                volume = cells[5]  # volume: not scaled
                out.append(",".join([cells[0], *nums[:4], volume, adjusted]))
            (prices / f"{ticker}.csv").write_text("\n".join(out) + "\n")
        tickers_doc[str(len(tickers_doc))] = {"cik_str": cik, "ticker": ticker, "title": name}
        exchange_doc["data"].append([cik, name, ticker, "Nasdaq"])
        new.append(ticker)
    (edgar / "company_tickers.json").write_bytes(orjson.dumps(tickers_doc))
    (edgar / "company_tickers_exchange.json").write_bytes(orjson.dumps(exchange_doc))
    # FMP: recorded for AAPL only; the first synthetic company (an AAPL copy) gets AAPL's files
    for endpoint in (real / "fmp").iterdir():
        (root / "fmp" / endpoint.name).mkdir()
        for f in endpoint.glob("AAPL__*"):
            shutil.copyfile(f, root / "fmp" / endpoint.name / f.name.replace("AAPL__", f"{new[0]}__", 1))
    return tuple(new)


def _stage_windows(text: str) -> dict[str, tuple[float, float]]:
    """``{stage: (start, end)}`` from the child's ``STAGE <name> start|end <time>`` lines."""
    edges: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("STAGE "):
            _, name, edge, at = line.split()
            edges.setdefault(name, {})[edge] = float(at)
    return {name: (e["start"], e["end"]) for name, e in edges.items() if "start" in e and "end" in e}


def _profile_top(path: Path, n: int = 25) -> list[dict[str, Any]]:
    """The ``n`` functions with the most own time in a cProfile dump (with their cumulative time)."""
    import pstats

    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = file.split("site-packages/")[-1].split("/work/")[-1]
        rows.append({"function": f"{where}:{line}({func})", "calls": calls, "own_s": own, "cumulative_s": cumulative})
    rows.sort(key=lambda r: -r["own_s"])
    return [{**r, "own_s": round(r["own_s"], 2), "cumulative_s": round(r["cumulative_s"], 2)} for r in rows[:n]]


def _sec_payloads(stages: dict[str, Any]) -> int | None:
    payloads = stages.get("payloads_by_asset") or {}
    if "error" in payloads:
        return None
    return sum(int(n) for asset, n in payloads.items() if asset in SEC_ASSETS)


def measure_universe(label: str, replay: Path, universe: tuple[str, ...], scratch: Path) -> dict[str, Any]:
    home = scratch / f"lakehouse-{label}"
    extra = {"UNIVERSE": ",".join(universe), "PRICES_START": PRICES_START}
    profile_dir = scratch / f"profile-{label}"
    if os.environ.get("SCALING_PROFILE") == "1":
        profile_dir.mkdir()
        extra["SCALING_PROFILE_DIR"] = str(profile_dir)
    env = demo_env(home, replay, **extra)
    log = scratch / f"scaling-{label}.log"
    measured: TreeRun = run_measured([sys.executable, "-c", CHILD], env=env, cwd=REPO, log=log)
    text = log.read_text(errors="replace")
    payload = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), None)
    if measured.returncode != 0 or payload is None:
        raise RuntimeError(f"{label}: exited {measured.returncode}:\n{text[-4000:]}")
    shutil.rmtree(home, ignore_errors=True)
    stages = payload["stages"]
    for name, (start, end) in _stage_windows(text).items():
        stages[f"{name}_peak_tree_rss_bytes"] = measured.peak_between(start, end)
    sec = _sec_payloads(stages)
    if sec is not None:
        stages["sec_payloads"] = sec
        stages["sec_rate_floor_s"] = round(sec / SEC_RATE, 1)
    if profile_dir.is_dir():
        stages["profile"] = {p.stem: _profile_top(p) for p in sorted(profile_dir.glob("*.prof"))}
    return {
        "companies": len(universe),
        "wall_s": measured.wall_s,
        "per_company_s": measured.wall_s / len(universe),
        "peak_tree_rss_bytes": measured.peak_rss_bytes,
        "max_single_process_rss_bytes": measured.max_single_rss_bytes,
        "peak_processes": measured.peak_processes,
        **payload,
    }


def sizes(quick: bool) -> tuple[int, ...]:
    """The synthetic universes to measure: ``SCALING_SIZES`` (e.g. ``100,1000``) or the mode's default."""
    configured = os.environ.get("SCALING_SIZES")
    if configured:
        return tuple(int(n) for n in configured.split(",") if n.strip())
    return QUICK_SIZES if quick else FULL_SIZES


def bronze_to_gold_s(r: dict[str, Any]) -> float:
    """Wall time without the features stage: what the issue's "Bronze -> Gold" target times."""
    return r["wall_s"] - r["stages"].get("features_s", 0.0)


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        runs["replay"] = measure_universe("replay", replay_dir(), REPLAY_UNIVERSE, scratch)
        for n in sizes(quick):
            root = scratch / f"replay-{n}"
            universe = synthetic_replay(root, n)
            runs[str(n)] = measure_universe(str(n), root, universe, scratch)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for key, r in runs.items():
        failed = len(r["failures"])
        st = r["stages"]
        peaks = ", ".join(
            f"{name} {st[f'{name}_peak_tree_rss_bytes'] / 2**20:.0f}"
            for name in STAGES
            if f"{name}_peak_tree_rss_bytes" in st
        )
        floor = f" (SEC rate floor {st['sec_rate_floor_s']:.0f}s)" if "sec_rate_floor_s" in st else ""
        result.figures.append(
            Figure(
                f"{r['companies']} companies ({'replay' if key == 'replay' else 're-keyed'}): seconds per company",
                round(r["per_company_s"], 2),
                "s",
                "-",
                None,
                "-",
                None,
                note=(
                    f"wall {r['wall_s']:.0f}s = bronze {st['bronze_s']:.0f}s{floor} + dbt {st['dbt_s']:.0f}s "
                    f"+ features {st.get('features_s', 0):.0f}s + startup; peak RSS "
                    f"{r['peak_tree_rss_bytes'] / 2**20:.0f} MiB ({peaks} MiB); {failed} failed step(s)"
                ),
            )
        )
    synthetic = sorted((r["companies"], key) for key, r in runs.items() if key != "replay")
    top = synthetic[-1][1] if synthetic else "replay"
    base = "100" if "100" in runs and top != "100" else "replay"
    ratio = runs[top]["per_company_s"] / runs[base]["per_company_s"]
    graded = runs[top]["companies"] >= 1000
    result.figures.append(
        Figure(
            f"per-company time, {runs[top]['companies']} vs {runs[base]['companies']} companies",
            round(runs[top]["per_company_s"], 2),
            "s/company",
            f"{runs[base]['companies']} companies",
            round(ratio, 3),
            f"<= {LINEAR_TARGET}x (linear or better)" if graded else "- (fixed costs dominate small universes)",
            ratio <= LINEAR_TARGET if graded else None,
        )
    )
    # marginal cost per company between the two largest measured universes; fixed = what is left
    (n_a, a_key), (n_b, b_key) = sorted((r["companies"], k) for k, r in runs.items())[-2:]
    a, b = runs[a_key], runs[b_key]
    marginal = (bronze_to_gold_s(b) - bronze_to_gold_s(a)) / (n_b - n_a)
    fixed = bronze_to_gold_s(a) - marginal * n_a
    rss_marginal = (b["peak_tree_rss_bytes"] - a["peak_tree_rss_bytes"]) / (n_b - n_a)
    rss_fixed = a["peak_tree_rss_bytes"] - rss_marginal * n_a
    for companies, ceiling in ((1000, CEILING_1000_S), (TARGET_COMPANIES, CEILING_10000_S)):
        measured = runs.get(str(companies))
        if measured is not None:
            wall = bronze_to_gold_s(measured)
            passed: bool | None = wall <= ceiling and not measured["failures"]
            label, note = "", f"features {measured['stages'].get('features_s', 0):.0f}s more; {os.cpu_count()} CPUs"
        else:
            wall = fixed + companies * marginal
            passed, label = None, " (EXTRAPOLATED, not measured)"
            note = f"fixed {fixed:.0f}s + {companies} x {marginal:.3f}s marginal (from {n_a} and {n_b} companies)"
        result.figures.append(
            Figure(
                f"{companies:,} companies Bronze -> Gold wall time{label}",
                round(wall, 0),
                "s",
                f"ceiling {ceiling:.0f} s",
                round(wall / ceiling, 3),
                "<= 1x",
                passed,
                note=note,
            )
        )
    measured = runs.get(str(TARGET_COMPANIES))
    if measured is not None:
        peak, passed, label = measured["peak_tree_rss_bytes"], measured["peak_tree_rss_bytes"] <= CEILING_RSS_BYTES, ""
        note = "whole run, process tree"
    else:
        peak, passed = rss_fixed + TARGET_COMPANIES * rss_marginal, None
        label = " (EXTRAPOLATED, not measured)"
        note = f"linear from {n_a} and {n_b} companies: {rss_marginal / 2**20 * 1000:.0f} MiB per 1,000 companies"
    result.figures.append(
        Figure(
            f"{TARGET_COMPANIES:,} companies peak RSS{label}",
            round(peak / 2**20, 0),
            "MiB",
            f"ceiling {CEILING_RSS_BYTES / 2**30:.0f} GiB",
            round(peak / CEILING_RSS_BYTES, 3),
            "<= 1x",
            passed,
            note=note,
        )
    )
    result.details = {
        "runs": runs,
        "marginal_s_per_company": marginal,
        "fixed_s": fixed,
        "marginal_rss_bytes_per_company": rss_marginal,
        "prices_start": PRICES_START,
        "targets": {
            "companies": TARGET_COMPANIES,
            "bronze_to_gold_s": CEILING_10000_S,
            "peak_tree_rss_bytes": CEILING_RSS_BYTES,
            "per_company_ratio_vs_100": LINEAR_TARGET,
        },
    }
    return result


def plot(result: Result) -> Any:
    """Wall time (left) and peak RSS (right) of each stage against companies, the issue's targets drawn in."""
    from benchmarks.common import new_plot

    runs = sorted(result.details.get("runs", {}).values(), key=lambda r: r["companies"])
    companies = [r["companies"] for r in runs]
    mode = " (quick)" if result.quick else ""
    curves = {
        "wall": (
            "wall time (s)",
            CEILING_10000_S,
            "target: 10,000 Bronze -> Gold < 30 min",
            {
                "total (Bronze -> Gold)": [bronze_to_gold_s(r) for r in runs],
                **{name: [r["stages"].get(f"{name}_s") for r in runs] for name in STAGES},
                "SEC rate floor": [r["stages"].get("sec_rate_floor_s") for r in runs],
            },
        ),
        "rss": (
            "peak RSS of the process tree (GiB)",
            CEILING_RSS_BYTES / 2**30,
            "target: peak < 4 GiB",
            {
                "whole run": [r["peak_tree_rss_bytes"] / 2**30 for r in runs],
                **{
                    name: [(r["stages"].get(f"{name}_peak_tree_rss_bytes") or 0) / 2**30 or None for r in runs]
                    for name in STAGES
                },
            },
        ),
    }
    figure, axes = new_plot(width=14, height=5, cols=2)
    for ax, (name, (ylabel, target, target_label, series)) in zip(axes, curves.items(), strict=True):
        for label, values in series.items():
            points = [(c, v) for c, v in zip(companies, values, strict=True) if v is not None]
            if points:
                style = "--" if "floor" in label else "-"
                ax.plot(*zip(*points, strict=True), style, marker="o", label=label)
        if name == "wall":  # a target at one size: the point, and the linear budget through it (0.18 s/company)
            ax.plot([TARGET_COMPANIES], [target], "rX", markersize=10, label=target_label)
            span = [min(companies, default=TARGET_COMPANIES), TARGET_COMPANIES]
            ax.plot(span, [c * target / TARGET_COMPANIES for c in span], "r:", label="linear budget to the target")
            extrapolated = result.details.get("marginal_s_per_company"), result.details.get("fixed_s")
            if None not in extrapolated and companies and max(companies) < TARGET_COMPANIES:
                marginal, fixed = extrapolated
                span = [max(companies), TARGET_COMPANIES]
                ax.plot(span, [fixed + c * marginal for c in span], "C0--", label="total, extrapolated")
        else:  # a ceiling at every size
            ax.axhline(target, color="red", linestyle=":", label=target_label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("companies (re-keyed real filings)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"scaling{mode}: {ylabel.split(' (')[0]} by stage, {result.started_at[:10]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return figure
