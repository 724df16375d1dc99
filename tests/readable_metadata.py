"""What "metadata renders as people read it" means, as one test helper (issue 19.3).

The Dagster UI shows asset and check metadata as stored: a float with 17 digits, a Python repr
(``<Foo object at 0x...>``, ``Reference(name='ticker')``, ``EqualTo(...)``), a dict dumped as text or a relative
link (resolved against Dagster's own UI) reads as noise. :func:`problems` walks (where, value) pairs and names
each offence; the tests that materialise real assets assert it finds none. Floats are allowed at most
:data:`SIGNIFICANT_DIGITS` significant digits (``core.checks.rounded``), integers any number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

import dagster as dg

from finance_assets.core.checks import SIGNIFICANT_DIGITS

# a repr of an object, or of a pyiceberg expression / dataclass-like value (Name(field=...))
REPR = re.compile(r"<[^<>]*\bobject at 0x[0-9a-f]+>|\b(?:Reference|EqualTo|In|And|Or|Not|GreaterThan\w*|LessThan\w*)\(")


def significant_digits(number: float) -> int:
    """Significant digits of ``number`` as Python prints it (``repr``): 0.0001235 has 4, 123500.0 has 4."""
    if not math.isfinite(number) or number == 0:
        return 0
    mantissa = re.sub(r"e.*$", "", repr(abs(number)))
    digits = mantissa.replace(".", "").lstrip("0")
    if "." in mantissa and mantissa.endswith(".0"):  # 123500.0: the trailing ".0" is not a digit
        digits = mantissa[:-2].lstrip("0")
    return len(digits.rstrip("0")) if digits else 0


def floats(value: Any) -> Iterator[float]:
    """Every float in a JSON-like value (dicts and lists)."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from floats(item)


def problems(entries: Iterable[tuple[str, Any]]) -> list[str]:
    """Every unreadable value among ``entries`` ((where, MetadataValue) pairs), one line each."""
    found: list[str] = []
    for where, value in entries:
        raw: Any = None  # the numbers people read: floats, and floats inside JSON (tables and schemas hold none)
        if isinstance(value, dg.FloatMetadataValue):
            raw = value.value
        elif isinstance(value, dg.JsonMetadataValue):
            raw = value.data
        elif isinstance(value, float):
            raw = value
        for number in floats(raw):
            if significant_digits(number) > SIGNIFICANT_DIGITS:
                found.append(f"{where}: float {number!r} has more than {SIGNIFICANT_DIGITS} significant digits")
        if isinstance(value, dg.UrlMetadataValue) and not re.match(r"https?://", value.url or ""):
            found.append(f"{where}: relative link {value.url!r}")
        texts: list[str] = []
        if isinstance(value, dg.TextMetadataValue):
            texts = [value.text]
        elif isinstance(value, dg.MarkdownMetadataValue):
            texts = [value.md_str]
        elif isinstance(value, dg.JsonMetadataValue):
            texts = list(_strings(value.data))
        for text in texts:
            if REPR.search(text or ""):
                found.append(f"{where}: a repr {text[:100]!r}")
        if isinstance(value, dg.TextMetadataValue) and (value.text or "").lstrip().startswith(("{", "[{", "{'")):
            found.append(f"{where}: a dict dumped as text {value.text[:100]!r}")
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def instance_metadata(instance: dg.DagsterInstance) -> Iterator[tuple[str, Any]]:
    """(where, value) of every materialization and check evaluation metadata value in ``instance``'s runs."""
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.is_step_materialization:
                materialization = event.step_materialization_data.materialization
                for key, value in materialization.metadata.items():
                    yield f"{materialization.asset_key.to_user_string()} {key}", value
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                for key, value in evaluation.metadata.items():
                    yield f"{evaluation.asset_key.to_user_string()} check {evaluation.check_name} {key}", value
