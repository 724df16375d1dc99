"""Small factories for data checks that run on the frame an asset just wrote.

A check is a spec (declared on the asset, so it shows in the UI before the first run) plus an evaluator.
Assets yield the results right after their output is stored, so a red check describes exactly the
partition that was materialised, and ``blocking`` checks stop downstream assets from running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

Metadata = dict[str, Any]
Evaluator = Callable[[pl.DataFrame], tuple[bool, Metadata]]
# A check of a run over several partitions may need to know which ones it covers (e.g. each has rows).
PartitionEvaluator = Callable[[pl.DataFrame, Sequence[str]], tuple[bool, Metadata]]


SIGNIFICANT_DIGITS = 4


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits, inside dicts, lists and JSON
    metadata too: the UI shows 0.1235, not 0.12345678901234567. Python's ``round`` counts decimals, not
    significant digits (a rank IC of 0.000012 would become 0.0); ``float(f"{x:.4g}")`` keeps the magnitude.
    Non-finite floats and everything that is not a float pass through unchanged."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dg.JsonMetadataValue):  # records before tuples: Dagster's values are NamedTuples
        return dg.MetadataValue.json(rounded(value.data, digits))
    if isinstance(value, dg.FloatMetadataValue):
        return dg.MetadataValue.float(rounded(value.value, digits)) if value.value is not None else value
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, Mapping):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def readable(metadata: Mapping[str, Any]) -> Metadata:
    """Asset/check metadata as people read it: floats rounded (:func:`rounded`), dicts and lists as JSON
    (Dagster would otherwise store a nested float unrounded, or refuse the value)."""
    out: Metadata = {}
    for key, value in metadata.items():
        value = rounded(value)
        out[key] = dg.MetadataValue.json(value) if isinstance(value, dict | list) else value
    return out


@dataclass(frozen=True)
class FrameCheck:
    name: str
    description: str
    evaluate: Evaluator = field(compare=False)
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    blocking: bool = False
    per_partition: PartitionEvaluator | None = field(default=None, compare=False)

    def spec(self, asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(name=self.name, asset=asset_key, description=self.description, blocking=self.blocking)

    def result(
        self, asset_key: dg.AssetKey, frame: pl.DataFrame, partition_keys: Sequence[str] | None = None
    ) -> dg.AssetCheckResult:
        if self.per_partition is not None and partition_keys is not None:
            passed, metadata = self.per_partition(frame, partition_keys)
        else:
            passed, metadata = self.evaluate(frame)
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=self.name,
            passed=bool(passed),
            severity=self.severity,
            metadata=readable(metadata),
        )


def specs(asset_key: dg.AssetKey, checks: Iterable[FrameCheck]) -> list[dg.AssetCheckSpec]:
    return [c.spec(asset_key) for c in checks]


def results(
    asset_key: dg.AssetKey,
    frame: pl.DataFrame,
    checks: Iterable[FrameCheck],
    *,
    partition_keys: Sequence[str] | None = None,
) -> list[dg.AssetCheckResult]:
    """Every check on the frame a run wrote; ``partition_keys``: the partitions the run covered."""
    return [c.result(asset_key, frame, partition_keys) for c in checks]


def results_by_partition(
    asset_key: dg.AssetKey, parts: Iterable[tuple[str, pl.DataFrame]], checks: Sequence[FrameCheck]
) -> list[dg.AssetCheckResult]:
    """Every check over partitions seen one at a time (memory bounded by one partition's frame).

    For checks whose verdict over the whole is the conjunction of the verdicts per partition (a row-level rule,
    a key unique within a partition, each partition non-empty): a check passes when it passes for every
    partition; its metadata is the first failing partition's (else the last one's), with ``failing_partitions``.
    """
    failing: dict[str, list[str]] = {c.name: [] for c in checks}
    shown: dict[str, Metadata] = {c.name: {} for c in checks}
    for key, frame in parts:
        for check in checks:
            if check.per_partition is not None:
                passed, metadata = check.per_partition(frame, [key])
            else:
                passed, metadata = check.evaluate(frame)
            if not failing[check.name]:  # the first failure's metadata stays
                shown[check.name] = metadata
            if not passed:
                failing[check.name].append(key)
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=check.name,
            passed=not failing[check.name],
            severity=check.severity,
            metadata=readable({**shown[check.name], "failing_partitions": ", ".join(failing[check.name]) or "none"}),
        )
        for check in checks
    ]


def warning(asset_key: dg.AssetKey, name: str, passed: bool, metadata: Mapping[str, Any]) -> dg.AssetCheckResult:
    """A WARN check result whose metadata reads as people read it (for checks computed outside a FrameCheck)."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=readable(metadata),
    )


def _sample(frame: pl.DataFrame, n: int = 5) -> str:
    return str(frame.head(n).to_dicts())


def unique_key(*columns: str, blocking: bool = True) -> FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        dupes = frame.group_by(list(columns)).len().filter(pl.col("len") > 1)
        return dupes.is_empty(), {"duplicate_keys": dupes.height, "sample": _sample(dupes)}

    return FrameCheck(
        name=f"unique_{'_'.join(columns)}" if len(columns) <= 3 else "unique_key",
        description=f"One row per ({', '.join(columns)}).",
        evaluate=evaluate,
        blocking=blocking,
    )


def non_empty(
    *, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR, partition_column: str = "ticker"
) -> FrameCheck:
    """Rows were written; in a run over several partitions, for every one of them."""

    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        return frame.height > 0, {"rows": frame.height}

    def per_partition(frame: pl.DataFrame, keys: Sequence[str]) -> tuple[bool, Metadata]:
        present = set(frame.get_column(partition_column).unique().to_list()) if frame.height else set()
        empty = [k for k in keys if k not in present]
        return not empty, {"rows": frame.height, "empty_partitions": ", ".join(empty) or "none"}

    return FrameCheck(
        "non_empty", "The materialised partition has rows.", evaluate, severity=severity, per_partition=per_partition
    )


def matches(column: str, pattern: str, *, name: str | None = None, blocking: bool = False) -> FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        bad = frame.filter(~pl.col(column).cast(pl.String).str.contains(pattern) | pl.col(column).is_null())
        return bad.is_empty(), {"violations": bad.height, "sample": _sample(bad.select(column).unique())}

    return FrameCheck(name or f"{column}_format", f"Every {column} matches {pattern}.", evaluate, blocking=blocking)


def no_rows_where(
    name: str,
    description: str,
    predicate: pl.Expr,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    show: Sequence[str] | None = None,
) -> FrameCheck:
    """Fails when any row satisfies ``predicate`` (the rows a data engineer would want to see)."""

    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        bad = frame.filter(predicate)
        sample = bad.select(show) if show else bad
        return bad.is_empty(), {"violations": bad.height, "sample": _sample(sample)}

    return FrameCheck(name, description, evaluate, severity=severity)


def not_in_future(column: str, *, slack_days: int = 2) -> FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        limit = date.today() + timedelta(days=slack_days)
        bad = frame.filter(pl.col(column) > limit)
        return bad.is_empty(), {"violations": bad.height, "max": str(frame.get_column(column).max())}

    return FrameCheck(f"{column}_not_in_future", f"No {column} after today.", evaluate)
