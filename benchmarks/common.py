"""What every benchmark shares: the figure it reports, the machine it ran on, the table and the JSON file.

A benchmark module exposes ``NAME``, ``DESCRIPTION`` and ``run(quick: bool) -> Result``; one that has a curve
also exposes ``plot(result: Result) -> matplotlib Figure`` (start from :func:`new_plot`), drawn from the result
alone, so ``python -m benchmarks`` writes ``results/<name>.png`` after each run and ``--plots`` redraws it from
the recorded JSON (benchmarks/README.md embeds the PNGs). Each figure is
a **ratio measured in the same run** against a floor (the least work that produces the same thing), a
ceiling (a limit imposed on us) or a peer (another implementation), so machines of different speed
still agree on what the number means. ``passed`` is None for informational rows and skipped peers.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Plot

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
KEY_PACKAGES = ("httpx", "orjson", "pyarrow", "polars", "pandas", "numpy", "pyiceberg", "dagster")


@dataclass(frozen=True)
class Figure:
    """One row of the table: ``value`` measured, ``ratio`` to ``against`` (a floor, ceiling or peer)."""

    name: str
    value: float | None
    unit: str
    against: str
    ratio: float | None
    target: str
    passed: bool | None
    note: str = ""


@dataclass
class Result:
    name: str
    description: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0
    load_avg: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after: was the machine quiet?
    crashed: bool = False

    @property
    def passed(self) -> bool:
        return not self.crashed and all(f.passed is not False for f in self.figures)


def machine_facts() -> dict[str, Any]:
    """CPU count and model, memory, Python, key package versions and the git commit of the checkout."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    versions = {}
    for package in KEY_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "git_commit": git_output("rev-parse", "HEAD"),
        "git_dirty_files": len((git_output("status", "--porcelain") or "").splitlines()),
    }


def git_output(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def write_result(result: Result, machine: dict[str, Any], path: Path | None = None) -> Path:
    """``results/<name>.json`` (or ``path``): the figures, the raw details and the machine they were measured on."""
    path = path or RESULTS_DIR / f"{result.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": result.name,
        "description": result.description,
        "quick": result.quick,
        "started_at": result.started_at,
        "duration_s": round(result.duration_s, 2),
        "load_avg_1m_before_after": list(result.load_avg),
        "passed": result.passed,
        "machine": machine,
        "figures": [asdict(f) for f in result.figures],
        "details": result.details,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    tmp.replace(path)
    return path


def plot_path(name: str) -> Path:
    """Where benchmark ``name`` draws its curve: ``results/<name>.png``, beside its JSON."""
    return RESULTS_DIR / f"{name}.png"


def new_plot(width: float = 9, height: float = 5, rows: int = 1, cols: int = 1) -> tuple[Plot, Any]:
    """A matplotlib Figure and its axes, built without pyplot (no global registry, no display: headless anywhere,
    as finance_assets/ml/plots.py draws the model's figures)."""
    from matplotlib.figure import Figure as Plot

    fig = Plot(figsize=(width, height))
    return fig, fig.subplots(rows, cols)


def draw(module: Any, result: Result) -> Path | None:
    """``module.plot(result)`` saved as ``results/<name>.png``; None for a benchmark without a curve."""
    plot = getattr(module, "plot", None)
    if plot is None or result.crashed:
        return None
    return save_plot(plot(result), plot_path(result.name))


def save_plot(fig: Plot, path: Path) -> Path:
    """``fig`` as a PNG at ``path`` (written whole, then renamed: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
    return path


def read_result(path: Path) -> tuple[Result, dict[str, Any]]:
    """A result document written by :func:`write_result`, and the machine facts it carries."""
    doc = orjson.loads(path.read_bytes())
    result = Result(
        name=doc["benchmark"],
        description=doc["description"],
        quick=doc["quick"],
        figures=[Figure(**f) for f in doc["figures"]],
        details=doc["details"],
        started_at=doc["started_at"],
        duration_s=doc["duration_s"],
        load_avg=tuple(doc["load_avg_1m_before_after"]),  # type: ignore[arg-type]
    )
    return result, doc["machine"]


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def render_table(results: Iterable[Result]) -> str:
    """ONE table for all benchmarks run: a row per figure (markdown, so it pastes into the README)."""
    header = ("benchmark", "figure", "value", "against", "ratio", "target", "result")
    rows: list[Sequence[str]] = []
    for result in results:
        if result.crashed:
            rows.append((result.name, "(the benchmark crashed: see its output above)", "-", "-", "-", "-", "CRASHED"))
        for f in result.figures:
            verdict = (
                "skipped"
                if f.passed is None and f.value is None
                else {True: "PASS", False: "FAIL"}.get(f.passed, "info")
            )
            value = f"{_fmt(f.value)} {f.unit}".strip() if f.value is not None else "-"
            label = f.name + (f" ({f.note})" if f.note else "")
            ratio = f"{_fmt(f.ratio)}x" if f.ratio is not None else "-"
            rows.append((result.name, label, value, f.against, ratio, f.target, verdict))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def machine_line(machine: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    commit = (machine.get("git_commit") or "unknown")[:12]
    dirty = f" (+{machine['git_dirty_files']} uncommitted files)" if machine.get("git_dirty_files") else ""
    return (
        f"{machine['cpu_count']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, Python {machine['python']}; "
        f"{packages}; commit {commit}{dirty}"
    )
