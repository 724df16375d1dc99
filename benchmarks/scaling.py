"""Bronze -> Gold for growing universes: wall time and peak memory, seconds per company, is it linear?

Universes: the replay universe (AAPL, MSFT, NVDA, TSM, MRVL) and synthetic universes of 100 and 1,000
companies (``--quick``: replay + 100). A synthetic company is a real recorded one **re-keyed**: new CIK
(9,000,000 + i), new ticker (``SYN0000``...), its companyfacts values and prices multiplied by a factor
in [0.5, 1.5), written into a temporary replay folder laid out like ``../shared/replay`` (companyfacts,
submissions, yahoo_daily prices CSVs, and ``company_tickers*.json`` listing the new tickers next to the
real ones; every other folder is a symlink to the real recordings). Sources rotate over the five replay
companies, so the mix of payload sizes is the replay universe's.

What runs is the demo's code path (``finance_assets.pipeline.bronze_stage`` then ``dbt_stage``, into a
persistent DAGSTER_HOME, exactly as ``make demo`` launches them), in a fresh process measured from
outside (wall time; RSS summed over the process tree, sampled from /proc): ``sec_company_tickers``;
``edgar_filings`` + ``edgar_company_facts`` as backfill runs of up to 100 companies each; the FMP tables
for the first company only (FMP is recorded for AAPL only: its files are copied under the first
synthetic ticker); ``prices_daily`` as one range run in a second process alongside; then the dbt build
(every dbt model). Features and ML are not part of it (see ``end_to_end``). Stage times and the slowest
dbt nodes are in the JSON. The Bronze stage is bounded by SEC's rate limit (~4 requests per company at
9.7/s: companyfacts, submissions and its extra pages), not by parsing (see ``companyfacts_parse``).

Figures: seconds per company for each universe (info), the peak RSS (info), the ratio of the per-company
time of the largest universe to that of the 100-company one (target <= 1.25: linear), and 1,000
companies under 10 minutes (ratio wall / 600 s <= 1). In ``--quick`` mode the 1,000-company row is a
linear **extrapolation** from the 100-company run (fixed cost + 1,000 x marginal cost), marked as such
and not a pass/fail.
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

from benchmarks._proctree import run_measured
from benchmarks.common import REPO, Figure, Result
from benchmarks.end_to_end import demo_env, replay_dir

NAME = "scaling"
DESCRIPTION = "Bronze -> Gold (Dagster runs + dbt build) for the replay universe, 100 and 1,000 re-keyed companies"

REPLAY_UNIVERSE = ("AAPL", "MSFT", "NVDA", "TSM", "MRVL")
SOURCES = {"AAPL": 320193, "MSFT": 789019, "NVDA": 1045810, "TSM": 1046179, "MRVL": 1835632}
CEILING_1000_S = 600.0
LINEAR_TARGET = 1.25
PRICES_START = "2022-06-01"

CHILD = r"""
import json, sys, time
t0 = time.monotonic()
from finance_assets.cli import init
from finance_assets.core.settings import Settings
settings = Settings.from_env()
init(settings)
import dagster as dg
from finance_assets.pipeline import bronze_stage, dbt_stage
from finance_assets.transform.project import prepare_manifest
prepare_manifest(force=True)
from finance_assets.definitions import build_definitions
defs = build_definitions(settings)
instance = dg.DagsterInstance.get()
log = lambda line: print(line, flush=True)
failures, stages = [], {"startup_s": time.monotonic() - t0}
t = time.monotonic()
# FMP is recorded for AAPL only (copied under the first synthetic ticker): the others would only 404
failures += bronze_stage(settings, defs, instance, log, fmp_tickers=settings.universe.split(",")[:1])
stages["bronze_s"] = time.monotonic() - t
t = time.monotonic()
failures += dbt_stage(defs, instance, log)
stages["dbt_s"] = time.monotonic() - t
from finance_assets.transform.project import DBT_PROJECT_DIR
latest = max((DBT_PROJECT_DIR / "target").glob("*/run_results.json"), key=lambda p: p.stat().st_mtime, default=None)
slowest = []
if latest is not None:
    nodes = json.loads(latest.read_text())["results"]
    slowest = sorted(((r["unique_id"], round(r["execution_time"], 1)) for r in nodes), key=lambda x: -x[1])[:12]
stages["dbt_slowest_nodes"] = slowest
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
    for entry in (real / "edgar").iterdir():
        if entry.name not in ("companyfacts", "submissions", "company_tickers.json", "company_tickers_exchange.json"):
            (edgar / entry.name).symlink_to(entry)
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


def measure_universe(label: str, replay: Path, universe: tuple[str, ...], scratch: Path) -> dict[str, Any]:
    home = scratch / f"lakehouse-{label}"
    env = demo_env(home, replay, UNIVERSE=",".join(universe), PRICES_START=PRICES_START)
    log = scratch / f"scaling-{label}.log"
    measured = run_measured([sys.executable, "-c", CHILD], env=env, cwd=REPO, log=log)
    text = log.read_text(errors="replace")
    payload = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), None)
    if measured.returncode != 0 or payload is None:
        raise RuntimeError(f"{label}: exited {measured.returncode}:\n{text[-4000:]}")
    shutil.rmtree(home, ignore_errors=True)
    return {
        "companies": len(universe),
        "wall_s": measured.wall_s,
        "per_company_s": measured.wall_s / len(universe),
        "peak_tree_rss_bytes": measured.peak_rss_bytes,
        "max_single_process_rss_bytes": measured.max_single_rss_bytes,
        "peak_processes": measured.peak_processes,
        **payload,
    }


def run(quick: bool) -> Result:
    result = Result(NAME, DESCRIPTION, quick)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        runs["replay"] = measure_universe("replay", replay_dir(), REPLAY_UNIVERSE, scratch)
        for n in (100,) if quick else (100, 1000):
            root = scratch / f"replay-{n}"
            universe = synthetic_replay(root, n)
            runs[str(n)] = measure_universe(str(n), root, universe, scratch)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for key, r in runs.items():
        failed = len(r["failures"])
        st = r["stages"]
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
                    f"wall {r['wall_s']:.0f}s = bronze {st['bronze_s']:.0f}s (EDGAR, FMP; prices alongside) + dbt "
                    f"{st['dbt_s']:.0f}s + startup; peak RSS "
                    f"{r['peak_tree_rss_bytes'] / 2**20:.0f} MiB; {failed} failed step(s)"
                ),
            )
        )
    top = "1000" if "1000" in runs else "100"
    base = "100" if top == "1000" else "replay"
    ratio = runs[top]["per_company_s"] / runs[base]["per_company_s"]
    result.figures.append(
        Figure(
            f"per-company time, {runs[top]['companies']} vs {runs[base]['companies']} companies",
            round(runs[top]["per_company_s"], 2),
            "s/company",
            f"{runs[base]['companies']} companies",
            round(ratio, 3),
            f"<= {LINEAR_TARGET}x (linear)" if top == "1000" else "- (fixed costs dominate 5)",
            ratio <= LINEAR_TARGET if top == "1000" else None,
        )
    )
    # marginal cost per company between the two smaller universes; fixed = what is left
    a, b = runs["replay"], runs["100"]
    marginal = (b["wall_s"] - a["wall_s"]) / (b["companies"] - a["companies"])
    fixed = a["wall_s"] - marginal * a["companies"]
    if "1000" in runs:
        wall = runs["1000"]["wall_s"]
        result.figures.append(
            Figure(
                "1,000 companies Bronze -> Gold wall time",
                round(wall, 0),
                "s",
                f"ceiling {CEILING_1000_S:.0f} s",
                round(wall / CEILING_1000_S, 3),
                "<= 1x",
                wall <= CEILING_1000_S and not runs["1000"]["failures"],
                note=f"peak RSS {runs['1000']['peak_tree_rss_bytes'] / 2**20:.0f} MiB on {os.cpu_count()} CPUs",
            )
        )
    else:
        projected = fixed + 1000 * marginal
        result.figures.append(
            Figure(
                "1,000 companies Bronze -> Gold wall time (EXTRAPOLATED, quick: not measured)",
                round(projected, 0),
                "s",
                f"ceiling {CEILING_1000_S:.0f} s",
                round(projected / CEILING_1000_S, 3),
                "<= 1x (measured in full mode)",
                None,
                note=f"fixed {fixed:.0f}s + 1000 x {marginal:.2f}s marginal (from replay and 100)",
            )
        )
    result.details = {"runs": runs, "marginal_s_per_company": marginal, "fixed_s": fixed, "prices_start": PRICES_START}
    return result
