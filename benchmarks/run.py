"""Run benchmarks and print ONE table: ``python -m benchmarks [names...] [--quick]`` (or ``benchmarks/run.py``).

Each benchmark runs in a fresh Python process (no heap, threads or imports left over from the previous
one) and writes ``benchmarks/results/<name>.json`` (figures, raw measurements, machine facts); this
process collects them into the table. Exit status: 0 when every figure meets its target, 1 when one does
not, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import BENCHMARKS
from benchmarks.common import (
    REPO,
    RESULTS_DIR,
    Result,
    machine_facts,
    machine_line,
    read_result,
    render_table,
    write_result,
)


def run_one(name: str, quick: bool, out: Path) -> int:
    """In the child process: run benchmark ``name`` and write its result document to ``out``."""
    module = importlib.import_module(f"benchmarks.{name}")
    started, load_before = time.monotonic(), os.getloadavg()[0]
    result: Result = module.run(quick=quick)
    result.duration_s = time.monotonic() - started
    result.load_avg = (round(load_before, 2), round(os.getloadavg()[0], 2))
    write_result(result, machine_facts(), out)
    plots = getattr(module, "write_plots", None)  # a plot PNG per curve, beside the JSON (not with --no-write)
    if plots is not None:
        plots(result, out.parent)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="short durations, for a CI smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/<name>.json")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--setup-edgartools", action="store_true", help="install edgartools into a throwaway venv for the peer row"
    )
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)  # internal: run one benchmark here
    args = parser.parse_args(argv)
    if args.list:
        for name in BENCHMARKS:
            print(f"{name:<22}{importlib.import_module(f'benchmarks.{name}').DESCRIPTION}")
        return 0
    if args.setup_edgartools:
        from benchmarks.companyfacts_parse import setup_edgartools

        return setup_edgartools()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.child:
        [name] = args.names
        return run_one(name, args.quick, Path(args.child))

    results: list[Result] = []
    machine: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for name in args.names or BENCHMARKS:
            module = importlib.import_module(f"benchmarks.{name}")
            print(
                f"running {name}{' (quick)' if args.quick else ''}: {module.DESCRIPTION}", file=sys.stderr, flush=True
            )
            out = (Path(scratch) if args.no_write else RESULTS_DIR) / f"{name}.json"
            child = [sys.executable, "-m", "benchmarks.run", name, "--child", str(out)]
            code = subprocess.run([*child, *(["--quick"] if args.quick else [])], cwd=REPO).returncode
            if code != 0:
                print(f"  {name} crashed (exit status {code})", file=sys.stderr)
                results.append(Result(name, module.DESCRIPTION, args.quick, crashed=True))
                continue
            result, machine = read_result(out)
            results.append(result)
            if not args.no_write:
                print(f"  wrote {out.relative_to(REPO)}", file=sys.stderr)

    print(f"\nmachine: {machine_line(machine or machine_facts())}\n")
    print(render_table(results))
    loads = ", ".join(f"{r.name} {r.load_avg[0]:g} -> {r.load_avg[1]:g}" for r in results if not r.crashed)
    print(f"\nload average (1 min) before -> after, on {os.cpu_count()} CPUs: {loads}")
    failed = [r.name for r in results if not r.passed]
    verdict = f"benchmarks meeting every target: {len(results) - len(failed)} of {len(results)}"
    print("\n" + verdict + (f" (missed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
