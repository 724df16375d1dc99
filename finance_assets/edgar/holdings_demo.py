"""The 13F stage of ``make demo``: which filings to load, before the dbt build.

The pipeline launches the named jobs ``bronze_13f_managers`` (live only: find every 13F-HR of the managers)
and ``bronze_13f_filings`` over the partition keys these functions register and return, through the same
launch path as every other stage (:mod:`finance_assets.launch`).

Replay loads the recorded filings of ``edgar/holdings_reference.py``; the managers' submissions indexes are
not recorded, so discovery is skipped there (it would answer 404 for each). Live, discovery registers every
13F-HR/13F-HR/A of those managers and the document runs load them all.
"""

from __future__ import annotations

import dagster as dg

from finance_assets.edgar.holdings import split_filing_key
from finance_assets.edgar.holdings_assets import (
    register_filings,
    register_managers,
    thirteenf_filings_partitions,
)
from finance_assets.edgar.holdings_reference import REFERENCE_13F_FILINGS, UNPLACED_13F_DOCUMENTS

#: The managers of every recorded 13F document with a cover page (Abacus Wealth's accession is unknown,
#: but its CIK is on its cover page: live, discovery finds its filings).
REFERENCE_13F_MANAGERS: tuple[str, ...] = (*dict.fromkeys(f.cik for f in REFERENCE_13F_FILINGS), "0001978011")
MANAGERS_JOB = "bronze_13f_managers"
FILINGS_JOB = "bronze_13f_filings"


def manager_keys(instance: dg.DagsterInstance) -> list[str]:
    """Register the reference managers; their partition keys (the runs reading their submissions indexes)."""
    register_managers(instance, REFERENCE_13F_MANAGERS)
    return list(REFERENCE_13F_MANAGERS)


def filing_keys(instance: dg.DagsterInstance) -> list[str]:
    """Register the reference filings; the keys of those and of every filing found for their managers."""
    register_filings(instance, [f.key for f in REFERENCE_13F_FILINGS])
    managers = set(REFERENCE_13F_MANAGERS)
    order = instance.get_dynamic_partitions(thirteenf_filings_partitions.name)
    return [key for key in order if split_filing_key(key)[0] in managers]


def skipped_documents() -> list[str]:
    """One line per recorded 13F document that is not loaded, with the reason."""
    return [f"  skipped edgar/13f/{name}: {reason}" for name, reason in UNPLACED_13F_DOCUMENTS.items()]
