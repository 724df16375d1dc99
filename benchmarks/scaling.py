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

What runs is the demo's code path (named jobs launched through :mod:`finance_assets.launch`, company ranges
as a backfill splits them, runs recorded in a persistent DAGSTER_HOME), each **stage in a process of its
own** (:mod:`benchmarks._scaling_stage`), measured from outside: wall time, and RSS summed over the process
tree, sampled from /proc every 0.2 s. A stage's peak is its own (no stage inherits what an earlier one left
in the interpreter), as in a deployment where the run launcher gives every run a fresh process.

* bronze: ``sec_company_tickers``; EDGAR filings + XBRL facts through the job ``edgar_bulk_load`` from SEC's
  nightly ``submissions.zip``/``companyfacts.zip`` (the initial load of a market: the per-company API needs 2
  GETs per company at SEC's 10 requests/s, 34 minutes for 10,000 companies before any parsing), its company
  runs spread over two worker processes (the machine's 2 cores) with the prices backfill; FMP for the first
  company only (FMP is recorded for AAPL only: its files are copied under the first synthetic ticker); the
  recorded 13F filings (a fixed set, as the demo loads them). In replay the archives are built from the
  recordings before the stage starts (``archive_build_s``: live they are a download).
* dbt: the ``transform`` job (every dbt model).
* features: the ``features`` job (feature tables, Feast registry, online store).
* incremental (on the largest lakehouse): a day on which 50 companies, spread over the universe, restated
  (every companyfacts value of theirs moves 1 %): ``bronze_edgar_companies`` for them (what the
  ``edgar_refresh_changed`` sensor launches), the ``transform`` job (its company models rebuild only the
  companies whose Bronze changed) and the ``features`` job; the rows each table's new Iceberg snapshots
  added and deleted are recorded (``rows_written``).

ML is not part of it (see ``end_to_end``). Stage times and peaks, the slowest dbt nodes and the payloads
per asset (``bronze.raw_payloads``) are in the JSON. ``SCALING_PROFILE=1`` also runs each stage under
cProfile and records its 25 most expensive functions (the main thread only; costs ~1.5x).

Figures: seconds per company for each universe (info); the ratio of the per-company time of the largest
universe to that of the smallest synthetic one (target <= 1.25: linear or better); 1,000 companies under 10
minutes; the issue's targets at 10,000 companies: Bronze -> Gold (wall time without the features stage)
under 30 minutes and peak RSS under 4 GiB. Sizes not measured in a run are **extrapolated** linearly from
the two largest measured ones (fixed cost + N x marginal cost), marked as such and not pass/fail; the
incremental day under 2 minutes.
The plot beside the JSON (``scaling.png``, :func:`plot`; ``python -m benchmarks --plots scaling`` redraws it)
shows wall time and peak RSS per stage against the number of companies, with the targets drawn in.

Full run (hours; run it on a quiet machine): ``uv run python -m benchmarks scaling``.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from benchmarks._proctree import TreeRun, run_measured
from benchmarks.common import REPO, RESULTS_DIR, Figure, Result, git_output
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
CEILING_INCREMENTAL_S = 120.0  # ... and a day on which 50 companies changed in under 2 minutes, end to end
LINEAR_TARGET = 1.25
PRICES_START = "2022-06-01"
FULL_SIZES = (100, 1000, 3000, 10_000)
QUICK_SIZES = (100,)
STAGES = ("bronze", "dbt", "features")

PREPARE = r"""
from finance_assets.cli import init
from finance_assets.core.settings import Settings
from finance_assets.transform.project import prepare_manifest
init(Settings.from_env())
prepare_manifest(force=True)
"""
CHANGED_COMPANIES = 50  # issue 16: "a day where 50 companies changed"
CHANGED_FACTOR = 1.01  # the changed companies' values move by 1 % (every fact of theirs is rewritten)


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


def _synthetic(i: int) -> tuple[str, str, int, float, str]:
    """The ``i``-th re-keyed company: its source, ticker, CIK, value factor and name."""
    sources = list(SOURCES)
    source = sources[i % len(sources)]
    factor = 0.5 + (i * 0.618033988749895) % 1.0
    return source, f"SYN{i:04d}", 9_000_000 + i, factor, f"SYNTHETIC {i} ({source} x{factor:.3f})"


def _facts_sources(real: Path) -> dict[str, dict[str, Any]]:
    return {
        t: orjson.loads(_read(next((real / "edgar" / "companyfacts").glob(f"CIK{c:010d}.json*"))))
        for t, c in SOURCES.items()
    }


def _write_facts(edgar: Path, source_doc: dict[str, Any], i: int, change: float = 1.0) -> None:
    """The companyfacts payload of the ``i``-th company (``change`` moves every value: a restatement)."""
    _, _, cik, factor, name = _synthetic(i)
    doc = dict(source_doc)
    doc["facts"] = orjson.loads(orjson.dumps(source_doc["facts"]))
    doc["cik"], doc["entityName"] = cik, name
    _scale_facts(doc, factor * change)
    (edgar / "companyfacts" / f"CIK{cik:010d}.json.gz").write_bytes(gzip.compress(orjson.dumps(doc), compresslevel=1))


def change_companies(root: Path, tickers: tuple[str, ...], n: int) -> tuple[str, ...]:
    """A day on which ``n`` companies (spread over the universe) restated: their companyfacts values move 1 %."""
    real = replay_dir()
    facts_src = _facts_sources(real)
    step = max(1, len(tickers) // n)
    changed = []
    for i in range(0, len(tickers), step)[:n]:
        source = _synthetic(i)[0]
        _write_facts(root / "edgar", facts_src[source], i, CHANGED_FACTOR)
        changed.append(tickers[i])
    return tuple(changed)


_SOURCES: dict[str, Any] = {}


def _load_sources() -> None:
    """Per worker process: the five recorded companies' payloads and price files, read once."""
    real = replay_dir()
    _SOURCES["facts"] = _facts_sources(real)
    _SOURCES["subs"] = {
        t: orjson.loads((real / "edgar" / "submissions" / f"CIK{c:010d}.json").read_bytes()) for t, c in SOURCES.items()
    }
    prices = real / "prices" / "yahoo_daily_2003_2023"
    _SOURCES["prices"] = {
        t: (prices / f"{t}.csv").read_text().splitlines() for t in SOURCES if (prices / f"{t}.csv").is_file()
    }


def _write_company(root: Path, i: int) -> tuple[str, int, str]:
    """The ``i``-th re-keyed company's companyfacts, filing index and prices under ``root``."""
    source, ticker, cik, factor, name = _synthetic(i)
    edgar = root / "edgar"
    _write_facts(edgar, _SOURCES["facts"][source], i)
    sub = dict(_SOURCES["subs"][source])
    sub |= {"cik": str(cik), "name": name, "tickers": [ticker], "exchanges": ["Nasdaq"]}
    (edgar / "submissions" / f"CIK{cik:010d}.json").write_bytes(orjson.dumps(sub))
    lines = _SOURCES["prices"].get(source)
    if lines:
        header = lines[0].replace(f'"{source}.', f'"{ticker}.')
        out = [header]
        for line in lines[1:]:
            cells = line.split(",")
            nums = [f"{float(c) * factor:.6g}" if c not in ("NA", "") else c for c in cells[1:6]]
            adjusted = cells[6] if cells[6] in ("NA", "") else f"{float(cells[6]) * factor:.6g}"
            volume = cells[5]  # volume: not scaled
            out.append(",".join([cells[0], *nums[:4], volume, adjusted]))
        (root / "prices" / "yahoo_daily_2003_2023" / f"{ticker}.csv").write_text("\n".join(out) + "\n")
    return ticker, cik, name


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

    tickers_doc = orjson.loads((real / "edgar" / "company_tickers.json").read_bytes())
    exchange_doc = orjson.loads((real / "edgar" / "company_tickers_exchange.json").read_bytes())
    # the payloads are independent: written by one process per core (10,000 companies are ~20 GB of JSON)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=spawn, initializer=_load_sources) as pool:
        written = list(pool.map(_write_company, [root] * n, range(n), chunksize=max(1, n // 40)))
    new = [ticker for ticker, _, _ in written]
    for ticker, cik, name in written:
        tickers_doc[str(len(tickers_doc))] = {"cik_str": cik, "ticker": ticker, "title": name}
        exchange_doc["data"].append([cik, name, ticker, "Nasdaq"])
    (edgar / "company_tickers.json").write_bytes(orjson.dumps(tickers_doc))
    (edgar / "company_tickers_exchange.json").write_bytes(orjson.dumps(exchange_doc))
    # FMP: recorded for AAPL only; the first synthetic company (an AAPL copy) gets AAPL's files
    for endpoint in (real / "fmp").iterdir():
        (root / "fmp" / endpoint.name).mkdir()
        for f in endpoint.glob("AAPL__*"):
            shutil.copyfile(f, root / "fmp" / endpoint.name / f.name.replace("AAPL__", f"{new[0]}__", 1))
    return tuple(new)


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


def _measure_stage(stage: str, env: dict[str, str], log: Path) -> dict[str, Any]:
    """``stage`` in a process of its own (:mod:`benchmarks._scaling_stage`): wall, peak tree RSS, its RESULT."""
    measured: TreeRun = run_measured(
        [sys.executable, "-m", "benchmarks._scaling_stage", stage], env=env, cwd=REPO, log=log
    )
    text = log.read_text(errors="replace")
    payload = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), None)
    if measured.returncode != 0 or payload is None:
        raise RuntimeError(f"{stage}: exited {measured.returncode}:\n{text[-4000:]}")
    return {
        "wall_s": measured.wall_s,
        "peak_tree_rss_bytes": measured.peak_rss_bytes,
        "max_single_process_rss_bytes": measured.max_single_rss_bytes,
        "peak_processes": measured.peak_processes,
        **payload,
    }


def _prepare(env: dict[str, str], replay: Path, home: Path, log: Path) -> float:
    """Not measured: the lakehouse's catalog and dbt manifest, and SEC's archives as the replay builds them
    from the recordings (live, they are a download: ``archive_build_s`` is replay's cost, not the product's)."""
    import subprocess
    import time

    from finance_assets.edgar.bulk import ARCHIVES, BulkArchiveReplay

    with log.open("ab") as out:
        subprocess.run([sys.executable, "-c", PREPARE], env=env, cwd=REPO, stdout=out, stderr=out, check=True)
    started = time.monotonic()
    replay_bulk = BulkArchiveReplay(replay, home / "http_cache" / "replay_bulk")
    for name in ARCHIVES:
        replay_bulk.archive(name)
    return time.monotonic() - started


def _run_entry(companies: int, stages: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """One universe's entry of ``details.runs``: totals over its stage processes, each stage's own figures."""
    wall = sum(st["wall_s"] for st in stages.values())
    peak = max(st["peak_tree_rss_bytes"] for st in stages.values())
    flat: dict[str, Any] = {}
    for name, st in stages.items():
        flat[f"{name}_s"] = st["wall_s"]
        flat[f"{name}_peak_tree_rss_bytes"] = st["peak_tree_rss_bytes"]
        flat[name] = {k: v for k, v in st.items() if k not in ("failures", "wall_s", "peak_tree_rss_bytes")}
    return {
        "companies": companies,
        "wall_s": wall,
        "per_company_s": wall / companies,
        "peak_tree_rss_bytes": peak,
        "max_single_process_rss_bytes": max(st["max_single_process_rss_bytes"] for st in stages.values()),
        "stages": flat,
        "failures": [f for st in stages.values() for f in st["failures"]],
        **extra,
    }


def measure_universe(
    label: str, replay: Path, universe: tuple[str, ...], scratch: Path, *, changed: int = 0
) -> dict[str, dict[str, Any]]:
    """Bronze, dbt and features for ``universe``, each stage its own process; then, with ``changed``, the
    incremental day on the same lakehouse. Returns ``{label: entry}`` (and ``{"incremental": entry}``)."""
    home = scratch / f"lakehouse-{label}"
    extra = {"UNIVERSE": ",".join(universe), "PRICES_START": PRICES_START}
    profile_dir = scratch / f"profile-{label}"
    if os.environ.get("SCALING_PROFILE") == "1":
        profile_dir.mkdir()
        extra["SCALING_PROFILE_DIR"] = str(profile_dir)
    env = demo_env(home, replay, **extra)
    log = scratch / f"scaling-{label}-{{}}.log"
    build_s = _prepare(env, replay, home, Path(str(log).format("prepare")))
    stages = {stage: _measure_stage(stage, env, Path(str(log).format(stage))) for stage in STAGES}
    if profile_dir.is_dir():
        for stage, prof in ((p.stem, p) for p in sorted(profile_dir.glob("*.prof"))):
            stages[stage]["profile"] = _profile_top(prof)
            prof.unlink()
    runs = {label: _run_entry(len(universe), stages, archive_build_s=build_s)}
    if changed:
        tickers = change_companies(replay, universe, changed)
        day = _measure_stage("incremental", env | {"SCALING_CHANGED": ",".join(tickers)}, Path(str(log).format("day")))
        if profile_dir.is_dir():
            for prof in profile_dir.glob("*.prof"):
                day["profile"] = _profile_top(prof)
        runs["incremental"] = _run_entry(len(universe), {"incremental": day}, changed_companies=len(tickers))
    shutil.rmtree(home, ignore_errors=True)
    return runs


def sizes(quick: bool) -> tuple[int, ...]:
    """The synthetic universes to measure: ``SCALING_SIZES`` (e.g. ``100,1000``) or the mode's default."""
    configured = os.environ.get("SCALING_SIZES")
    if configured:
        return tuple(int(n) for n in configured.split(",") if n.strip())
    return QUICK_SIZES if quick else FULL_SIZES


def bronze_to_gold_s(r: dict[str, Any]) -> float:
    """Wall time without the features stage: what the issue's "Bronze -> Gold" target times."""
    return r["wall_s"] - r["stages"].get("features_s", 0.0)


def kept_runs() -> dict[str, dict[str, Any]]:
    """With ``SCALING_KEEP=1``, the runs of the recorded result (each with its ``measured_at`` and ``git_commit``),
    so that one size can be added or re-measured (``SCALING_SIZES=10000 SCALING_KEEP=1``) without repeating
    the others: the hours a full run takes are not always there in one piece."""
    path = RESULTS_DIR / f"{NAME}.json"
    if os.environ.get("SCALING_KEEP") != "1" or not path.is_file():
        return {}
    return json.loads(path.read_text()).get("details", {}).get("runs", {})


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        if "replay" not in kept_runs():
            runs |= measure_universe("replay", replay_dir(), REPLAY_UNIVERSE, scratch)
        measured_sizes = sizes(quick)
        for n in measured_sizes:
            root = scratch / f"replay-{n}"
            universe = synthetic_replay(root, n)
            # the incremental day runs on the largest lakehouse (copies of the replay's payloads: ours to change)
            changed = min(CHANGED_COMPANIES, n // 2) if n == max(measured_sizes) else 0
            runs |= measure_universe(str(n), root, universe, scratch, changed=changed)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for r in runs.values():
        r |= {"measured_at": result.started_at, "git_commit": git_output("rev-parse", "HEAD")}
    for key, r in kept_runs().items():  # SCALING_KEEP=1: sizes recorded earlier and not measured now
        runs.setdefault(key, r)
    day = runs.pop("incremental", None)
    for key, r in runs.items():
        failed = len(r["failures"])
        st = r["stages"]
        peaks = ", ".join(
            f"{name} {st[f'{name}_peak_tree_rss_bytes'] / 2**20:.0f}"
            for name in STAGES
            if f"{name}_peak_tree_rss_bytes" in st
        )
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
                    f"wall {r['wall_s']:.0f}s = bronze {st['bronze_s']:.0f}s + dbt {st['dbt_s']:.0f}s "
                    f"+ features {st.get('features_s', 0):.0f}s + startup; peak RSS "
                    f"{r['peak_tree_rss_bytes'] / 2**20:.0f} MiB ({peaks} MiB); {failed} failed step(s)"
                ),
            )
        )
    synthetic = sorted((r["companies"], key) for key, r in runs.items() if key != "replay")
    top = synthetic[-1][1] if synthetic else "replay"
    # linear or better: the largest universe's per-company time against the smallest synthetic one (the replay's
    # five companies are all fixed cost)
    base = synthetic[0][1] if len(synthetic) > 1 else "replay"
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
    if day is not None:
        st = day["stages"]["incremental"]
        written = st.get("rows_written", {})
        facts = written.get("bronze.edgar_company_facts", {})
        total_added = sum(t["added_records"] for t in written.values())
        result.figures.append(
            Figure(
                f"incremental day: {day['changed_companies']} of {day['companies']:,} companies changed, end to end",
                round(day["wall_s"], 1),
                "s",
                f"ceiling {CEILING_INCREMENTAL_S:.0f} s",
                round(day["wall_s"] / CEILING_INCREMENTAL_S, 3),
                "<= 1x",
                day["wall_s"] <= CEILING_INCREMENTAL_S and not day["failures"],
                note=(
                    f"bronze {st['bronze_s']:.0f}s + dbt {st['dbt_s']:.0f}s + features {st['features_s']:.0f}s "
                    f"+ startup; peak RSS {day['peak_tree_rss_bytes'] / 2**20:.0f} MiB; Bronze facts rows added "
                    f"{facts.get('added_records', 0):,} of {facts.get('table_records', 0):,}; "
                    f"{total_added:,} rows added over {len(written)} tables; {len(day['failures'])} failure(s)"
                ),
            )
        )
        runs["incremental"] = day
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
            "per_company_ratio_vs_smallest": LINEAR_TARGET,
        },
    }
    return result


def plot(result: Result) -> Any:
    """Wall time (left) and peak RSS (right) of each stage against companies, the issue's targets drawn in."""
    from benchmarks.common import new_plot

    runs = sorted(
        (r for key, r in result.details.get("runs", {}).items() if key != "incremental"), key=lambda r: r["companies"]
    )
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
