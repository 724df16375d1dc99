"""The 13F-HR filings this project loads in its demo and tests: real filings, identified from their submissions.

``../shared/replay/edgar/13f/`` holds the documents of a few real 13F-HR filings, extracted from their
full EDGAR submissions, but not the indexes that point at them (the managers' submissions index, the
filing folders' ``index.json``). Each filing's identity below (manager CIK, accession number, the EDGAR
names of its documents, filing date) is read from the original submission header, cited per filing, so
the document URLs are the ones EDGAR serves; nothing is inferred from the recorded file names.

One list, three uses:
- the demo registers these filings as ``thirteenf_filings`` partitions (live, it also discovers every other
  13F-HR of their managers from the submissions index);
- the filing loader takes the information table's name from here instead of asking the folder listing
  (the same code live and in replay: live, the name is the one EDGAR lists);
- the replay routes (``edgar/replay_routes.py``) serve each document URL from its recorded file.

Recorded documents that cannot be placed at an EDGAR URL are listed in :data:`UNPLACED_13F_DOCUMENTS`
with the reason; they are parsed in tests, never loaded (a CIK or accession number is never invented).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from finance_assets.edgar.holdings import PRIMARY_DOCUMENT, filing_key

RECORDED_13F_DIR = "edgar/13f"  # under the replay root


@dataclass(frozen=True)
class ReferenceFiling:
    manager: str
    cik: str
    accession: str
    period: date
    filing_date: date
    #: EDGAR document name -> recorded file under ``edgar/13f/`` (None: not recorded)
    documents: dict[str, str | None] = field(default_factory=dict)
    #: the information table's EDGAR document name, when known
    information_table: str | None = None
    source: str = ""

    @property
    def key(self) -> str:
        return filing_key(self.cik, self.accession)


REFERENCE_13F_FILINGS: tuple[ReferenceFiling, ...] = (
    ReferenceFiling(
        manager="LTS One Management LP",
        cik="0001894188",
        accession="0001894188-23-000007",
        period=date(2023, 9, 30),
        filing_date=date(2023, 11, 14),
        documents={
            PRIMARY_DOCUMENT: "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__primary_doc.xml",
            # The filer named its information table like EDGAR's own folder listing: live, this URL answers
            # with the listing and the loader reads the document from the full submission text instead.
            "index.xml": "LTS_ONE_MANAGEMENT_CIK0001894188__2023Q3__index.xml",
        },
        information_table="index.xml",
        source="dgunning/edgartools data/13F.0001894188-23-000007.txt (INFORMATION TABLE, FILENAME index.xml) "
        "and tests/test_thirteenf.py (filing_date 2023-11-14)",
    ),
    ReferenceFiling(
        manager="ACORN CREEK CAPITAL LLC",
        cik="0001994827",
        accession="0001951757-25-000093",  # submitted by filing agent 0001951757
        period=date(2024, 12, 31),
        filing_date=date(2025, 1, 22),
        documents={
            PRIMARY_DOCUMENT: "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__primary_doc.xml",
            "F_13F_AcornCreek_Q42024.xml": "ACORN_CREEK_CAPITAL_CIK0001994827__2024Q4__F_13F_AcornCreek_Q42024.xml",
        },
        information_table="F_13F_AcornCreek_Q42024.xml",
        source="dgunning/edgartools data/13f/0001951757-25-000093.nc (header: FILING-DATE 20250122, "
        "PERIOD 20241231, CIK 0001994827; documents primary_doc.xml, F_13F_AcornCreek_Q42024.xml)",
    ),
    ReferenceFiling(
        manager="METLIFE INC",
        cik="0001099219",
        accession="0001140361-23-013281",
        period=date(2021, 12, 31),
        filing_date=date(2023, 3, 23),
        # Only the cover page was recorded; the information table's name is not known here (live, the
        # folder listing names it; in replay the filing loads without holdings and says so).
        documents={PRIMARY_DOCUMENT: "METLIFE_CIK0001099219__2021Q4__primary_doc.xml"},
        source="dgunning/edgartools tests/test_thirteenf.py (MetLife13F: 13F-HR filed 2023-03-23, period "
        "2021-12-31, 6 holdings, total value 11019796) and data/metlife.13F-HR.primarydoc.xml",
    ),
)

UNPLACED_13F_DOCUMENTS: dict[str, str] = {
    "ABACUS_WEALTH__2020Q4__primary_doc.xml": (
        "cover page of Abacus Wealth Partners (CIK 0001978011), period 2020-12-31, but its accession number "
        "is not recorded, so it has no EDGAR URL; its information table is not recorded either"
    ),
    "unknown_manager__13F-HR.infotable.xml": (
        "information table without a cover page: no manager CIK, accession number, period or filing date, "
        "so its holdings can neither be placed nor checked against a cover page"
    ),
}


def reference_filing(key: str) -> ReferenceFiling | None:
    return next((f for f in REFERENCE_13F_FILINGS if f.key == key), None)


def recorded_document(cik: str, folder: str, document: str) -> str | None:
    """The recorded file (relative to the replay root) serving an EDGAR document URL, if any."""
    for filing in REFERENCE_13F_FILINGS:
        if int(filing.cik) == int(cik) and filing.accession.replace("-", "") == folder:
            recorded = filing.documents.get(document)
            return f"{RECORDED_13F_DIR}/{recorded}" if recorded else None
    return None


def recorded_documents(match: re.Match[str], _params: Mapping[str, str]) -> list[str]:
    """Replay resolver for ``/Archives/edgar/data/<cik>/<folder>/<document>`` (see ``edgar/replay_routes.py``)."""
    found = recorded_document(match["cik"], match["folder"], match["document"])
    return [found] if found else []
