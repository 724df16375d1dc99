"""companyfacts payload -> Bronze Arrow table: facts/s and MB/s against the JSON-decoding floor and peers.

Input: every recorded ``edgar/companyfacts/*.json[.gz]`` under REPLAY_DIR (default ``../shared/replay``),
decompressed in memory before timing. One *pass* turns all of them into tables; passes are interleaved
round-robin between the contenders after a warm-up pass. A ratio is the median over rounds of the
ratio within a round (the contenders of one round run back to back, so they share whatever else the
machine is doing); speeds (facts/s, MB/s) are from the best pass. Every pass is in the JSON.

* floor: ``orjson.loads`` of the same bytes (nothing can produce the table without decoding the JSON);
* ours: :func:`finance_assets.edgar.parse.parse_company_facts` (decode included). Target: <= 2x floor;
* peer: a naive pandas version (``json.loads`` + one dict per fact + ``pd.DataFrame``);
* peer: edgartools (``EntityFactsParser.parse_company_facts``, and + ``to_dataframe()``) when a Python with
  edgartools is available: ``EDGARTOOLS_PYTHON``, else ``$TMPDIR/edgartools-venv/bin/python`` (create it
  with ``python -m benchmarks --setup-edgartools``). It runs in that separate venv (it is not in the lock)
  with its own orjson floor measured in the same process; skipped, and said so, when absent.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import BENCH_DIR, REPO, Figure, Result

NAME = "companyfacts_parse"
DESCRIPTION = "companyfacts JSON -> Bronze Arrow table vs orjson.loads floor, naive pandas and edgartools"

FULL_ROUNDS = 15
QUICK_ROUNDS = 5
TARGET_X_FLOOR = 2.0
EDGARTOOLS_VENV = Path(tempfile.gettempdir()) / "edgartools-venv"


def replay_dir() -> Path:
    configured = os.environ.get("REPLAY_DIR")
    return Path(configured) if configured else (REPO.parent / "shared" / "replay").resolve()


def payload_files(root: Path) -> list[Path]:
    folder = root / "edgar" / "companyfacts"
    files = sorted(
        p
        for p in folder.iterdir()
        if (p.name.endswith(".json") or p.name.endswith(".json.gz")) and ".trimmed." not in p.name
    )
    if not files:
        raise FileNotFoundError(f"no companyfacts payloads under {folder} (set REPLAY_DIR)")
    return files


def load_payloads(files: list[Path]) -> list[tuple[str, bytes]]:
    out = []
    for path in files:
        raw = path.read_bytes()
        out.append((path.name.split(".")[0], gzip.decompress(raw) if path.suffix == ".gz" else raw))
    return out


def naive_pandas(payload: bytes) -> Any:
    """What a first attempt looks like: a dict per fact, then a DataFrame."""
    import pandas as pd

    doc = json.loads(payload)
    rows = []
    for taxonomy, concepts in doc["facts"].items():
        for concept, body in concepts.items():
            label = body.get("label")
            for unit, facts in body.get("units", {}).items():
                for fact in facts:
                    rows.append(
                        {
                            "cik": doc["cik"],
                            "entity_name": doc.get("entityName"),
                            "taxonomy": taxonomy,
                            "concept": concept,
                            "label": label,
                            "unit": unit,
                            **fact,
                        }
                    )
    return pd.DataFrame(rows)


def edgartools_python() -> Path | None:
    configured = os.environ.get("EDGARTOOLS_PYTHON")
    candidate = Path(configured) if configured else EDGARTOOLS_VENV / "bin" / "python"
    if not candidate.exists():
        return None
    probe = subprocess.run([str(candidate), "-c", "import edgar, orjson"], capture_output=True, text=True, timeout=120)
    return candidate if probe.returncode == 0 else None


def setup_edgartools() -> int:
    """Create ``$TMPDIR/edgartools-venv`` with edgartools + orjson from the package registry (never the lock)."""
    import shutil

    uv = shutil.which("uv")
    if uv is None:
        print("uv is not on PATH; create a venv with edgartools and orjson and set EDGARTOOLS_PYTHON", file=sys.stderr)
        return 2
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(EDGARTOOLS_VENV)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(EDGARTOOLS_VENV)}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    subprocess.run([uv, "pip", "install", "--quiet", "edgartools", "orjson"], check=True, env=env, cwd=EDGARTOOLS_VENV)
    print(f"edgartools installed in {EDGARTOOLS_VENV}")
    return 0


def time_passes(methods: dict[str, Callable[[], int]], rounds: int) -> tuple[dict[str, int], dict[str, list[float]]]:
    counts = {name: fn() for name, fn in methods.items()}  # warm-up pass, and the facts each produced
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            gc.collect()
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return counts, times


def run(quick: bool = False) -> Result:
    from finance_assets.edgar.parse import parse_company_facts

    rounds = QUICK_ROUNDS if quick else FULL_ROUNDS
    result = Result(NAME, DESCRIPTION, quick)
    files = payload_files(replay_dir())
    payloads = load_payloads(files)
    megabytes = sum(len(b) for _, b in payloads) / 1e6

    def floor() -> int:
        return sum(len(orjson.loads(b)["facts"]) for _, b in payloads)

    def ours() -> int:
        return sum(parse_company_facts(b, ticker=name).num_rows for name, b in payloads)

    def pandas_naive() -> int:
        return sum(len(naive_pandas(b)) for _, b in payloads)

    counts, times = time_passes({"floor": floor, "ours": ours, "pandas": pandas_naive}, rounds)
    facts = counts["ours"]
    if counts["pandas"] != facts:
        raise AssertionError(f"naive pandas produced {counts['pandas']} rows, parse_company_facts {facts}")
    median = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}

    def paired(a: str, b: str) -> float:
        """Median over rounds of time(a) / time(b) within the round."""
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    result.details = {
        "payloads": [{"file": p.name, "bytes": len(b)} for p, (_, b) in zip(files, payloads, strict=True)],
        "megabytes": round(megabytes, 3),
        "facts": facts,
        "rounds": rounds,
        "seconds_per_pass": times,
        "median_s": median,
        "best_s": best,
        "paired_median_ratio": {"ours/floor": paired("ours", "floor"), "pandas/ours": paired("pandas", "ours")},
    }

    def rate(seconds: float) -> tuple[float, str]:
        return facts / seconds, f"{megabytes / seconds:.0f} MB/s"

    floor_rate, floor_mb = rate(best["floor"])
    ours_rate, ours_mb = rate(best["ours"])
    pandas_rate, pandas_mb = rate(best["pandas"])
    x_floor = paired("ours", "floor")
    pandas_x_ours = paired("pandas", "ours")
    result.figures += [
        Figure(
            "orjson.loads (floor)",
            floor_rate,
            "facts/s",
            "floor",
            1.0,
            "-",
            None,
            f"{floor_mb}, {len(payloads)} payloads, {megabytes:.1f} MB, {facts:,} facts",
        ),
        Figure(
            "parse_company_facts -> Arrow",
            ours_rate,
            "facts/s",
            "time / floor",
            x_floor,
            f"<= {TARGET_X_FLOOR:g}x",
            x_floor <= TARGET_X_FLOOR,
            f"{ours_mb}, {rounds} rounds; best-of {best['ours'] / best['floor']:.2f}x",
        ),
        Figure(
            "naive pandas (json + dict rows + DataFrame)",
            pandas_rate,
            "facts/s",
            "time / ours",
            pandas_x_ours,
            "> 1x (ours faster)",
            pandas_x_ours > 1.0,
            f"{pandas_mb}, {paired('pandas', 'floor'):.1f}x floor",
        ),
    ]

    python = edgartools_python()
    if python is None:
        reason = "edgartools not installed: set EDGARTOOLS_PYTHON or run python -m benchmarks --setup-edgartools"
        result.details["edgartools"] = {"skipped": reason}
        result.figures.append(Figure("edgartools EntityFactsParser", None, "", "time / ours", None, "-", None, reason))
        return result
    proc = subprocess.run(
        [str(python), str(BENCH_DIR / "_edgartools_parse.py"), str(rounds), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tempfile.gettempdir(),  # never this checkout on its sys.path
    )
    if proc.returncode != 0:
        reason = f"edgartools run failed: {proc.stderr.strip().splitlines()[-1:]}"
        result.details["edgartools"] = {"skipped": reason, "stderr": proc.stderr[-2000:]}
        result.figures.append(Figure("edgartools EntityFactsParser", None, "", "time / ours", None, "-", None, reason))
        return result
    theirs = orjson.loads(proc.stdout.strip().splitlines()[-1])
    result.details["edgartools"] = theirs
    # edgartools ran in another process: compare each side's x-floor, both measured within their own rounds.
    for key, label in (("objects", "fact objects"), ("dataframe", "+ to_dataframe()")):
        their_x_floor = theirs["paired_x_floor"][key]
        result.figures.append(
            Figure(
                f"edgartools {theirs['version']} ({label})",
                theirs["facts"][key] / theirs["best"][key],
                "facts/s",
                "x-floor / ours",
                their_x_floor / x_floor,
                "> 1x (ours faster)",
                their_x_floor > x_floor,
                f"{their_x_floor:.1f}x its own orjson floor; separate venv",
            )
        )
    return result
