"""The 13F stage of ``make demo``: what to materialise, in order, before the dbt build.

Like ``finance_assets.ml.demo``, these return ``(selection, options)`` pairs for the pipeline's run helper
(options: ``partition_range`` and ``label``), so the stage is wired where the other stages are:

    if not settings.replay:                      # live: find every 13F-HR of the managers first
        for selection, options in discovery_runs(instance):
            failures += _run(instance, selection, log=log, **options)
    for selection, options in document_runs(instance):
        failures += _run(instance, selection, log=log, **options)
    for line in skipped_documents():
        log(line)

Replay loads the recorded filings of ``edgar/holdings_reference.py``; the managers' submissions indexes are
not recorded, so discovery is skipped there (it would answer 404 for each). Live, discovery registers every
13F-HR/13F-HR/A of those managers and the document runs load them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from finance_assets.edgar.holdings import split_filing_key
from finance_assets.edgar.holdings_assets import (
    COVER_PAGES_KEY,
    FILINGS_KEY,
    FILINGS_PER_RUN,
    HOLDINGS_KEY,
    register_filings,
    register_managers,
    thirteenf_filings_partitions,
    thirteenf_managers,
)
from finance_assets.edgar.holdings_reference import REFERENCE_13F_FILINGS, UNPLACED_13F_DOCUMENTS

#: The managers of every recorded 13F document with a cover page (Abacus Wealth's accession is unknown,
#: but its CIK is on its cover page: live, discovery finds its filings).
REFERENCE_13F_MANAGERS: tuple[str, ...] = (*dict.fromkeys(f.cik for f in REFERENCE_13F_FILINGS), "0001978011")
DISCOVERY_SELECTION = [FILINGS_KEY.to_user_string()]
DOCUMENT_SELECTION = [COVER_PAGES_KEY.to_user_string(), HOLDINGS_KEY.to_user_string()]


def partition_ranges(order: Sequence[str], wanted: Sequence[str], per_run: int) -> list[tuple[str, str]]:
    """``wanted`` as the fewest (first, last) ranges of consecutive keys in ``order``, at most ``per_run`` each."""
    position = {key: i for i, key in enumerate(order)}
    indexes = sorted({position[k] for k in wanted if k in position})
    ranges: list[tuple[str, str]] = []
    start = previous = -1
    for i in indexes:
        if start < 0 or i != previous + 1 or i - start >= per_run:
            if start >= 0:
                ranges.append((order[start], order[previous]))
            start = i
        previous = i
    if start >= 0:
        ranges.append((order[start], order[previous]))
    return ranges


def discovery_runs(instance: dg.DagsterInstance) -> list[tuple[list[str], dict[str, Any]]]:
    """Register the reference managers; the run(s) reading their submissions indexes (live only)."""
    register_managers(instance, REFERENCE_13F_MANAGERS)
    order = instance.get_dynamic_partitions(thirteenf_managers.name)
    return [
        (DISCOVERY_SELECTION, {"partition_range": span, "label": "bronze/edgar_13f_filings (13F managers)"})
        for span in partition_ranges(order, REFERENCE_13F_MANAGERS, FILINGS_PER_RUN)
    ]


def document_runs(instance: dg.DagsterInstance) -> list[tuple[list[str], dict[str, Any]]]:
    """Register the reference filings; the runs loading them and every filing found for their managers."""
    register_filings(instance, [f.key for f in REFERENCE_13F_FILINGS])
    order = instance.get_dynamic_partitions(thirteenf_filings_partitions.name)
    managers = set(REFERENCE_13F_MANAGERS)
    wanted = [key for key in order if split_filing_key(key)[0] in managers]
    return [
        (DOCUMENT_SELECTION, {"partition_range": span, "label": "bronze/edgar_13f_cover_pages + holdings"})
        for span in partition_ranges(order, wanted, FILINGS_PER_RUN)
    ]


def skipped_documents() -> list[str]:
    """One line per recorded 13F document that is not loaded, with the reason."""
    return [f"  skipped edgar/13f/{name}: {reason}" for name, reason in UNPLACED_13F_DOCUMENTS.items()]
