"""Timed edgartools parse of companyfacts payloads; runs in a separate venv that has edgartools and orjson.

Invoked by :mod:`benchmarks.companyfacts_parse` as ``<edgartools python> _edgartools_parse.py ROUNDS FILE...``;
imports nothing from this project. Prints one JSON object: per-pass seconds for the orjson floor, for
``orjson.loads`` + ``EntityFactsParser.parse_company_facts`` (fact objects) and for that + ``to_dataframe()``.
"""

from __future__ import annotations

import gc
import gzip
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from edgar.entity.parser import EntityFactsParser


def main(argv: list[str]) -> int:
    rounds = int(argv[0])
    payloads = []
    for name in argv[1:]:
        raw = Path(name).read_bytes()
        payloads.append(gzip.decompress(raw) if name.endswith(".gz") else raw)

    def floor() -> int:
        return sum(len(orjson.loads(p)["facts"]) for p in payloads)

    def objects() -> int:
        total = 0
        for p in payloads:
            facts = EntityFactsParser.parse_company_facts(orjson.loads(p))
            total += len(facts) if facts is not None else 0
        return total

    def frames() -> int:
        total = 0
        for p in payloads:
            facts = EntityFactsParser.parse_company_facts(orjson.loads(p))
            total += len(facts.to_dataframe()) if facts is not None else 0
        return total

    methods: dict[str, Callable[[], int]] = {"floor": floor, "objects": objects, "dataframe": frames}
    counts = {name: fn() for name, fn in methods.items()}  # warm-up (imports, caches, mappings)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            gc.collect()
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    out: dict[str, Any] = {
        "version": metadata.version("edgartools"),
        "facts": counts,
        "seconds": times,
        "median": {name: statistics.median(t) for name, t in times.items()},
        "best": {name: min(t) for name, t in times.items()},
        # median over rounds of time(method) / time(floor) within the round
        "paired_x_floor": {
            name: statistics.median(a / b for a, b in zip(t, times["floor"], strict=True)) for name, t in times.items()
        },
    }
    print(orjson.dumps(out).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
