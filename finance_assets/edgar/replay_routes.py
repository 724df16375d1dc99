"""How live SEC EDGAR URLs map onto the recorded files under a replay root (``../shared/replay``).

Kept next to the EDGAR source, not in the generic client, so every source owns its own URL layout.
Unrecorded resources (an unknown CIK, AAPL's second submissions page) resolve to no file and the
transport answers 404, exactly as EDGAR does; ``*.trimmed.json`` copies are never served.

SEC's bulk archives (``companyfacts.zip``, ``submissions.zip``) are not recorded as such: in replay they are
built from the recorded per-company payloads by :class:`finance_assets.edgar.bulk.BulkArchiveReplay`, which
answers those two URLs and hands every other EDGAR URL to these routes.
"""

from __future__ import annotations

import re
from pathlib import Path

from finance_assets.core.replay import ReplayRoute, ReplayTransport, replay_templates
from finance_assets.edgar.holdings_reference import recorded_documents

SEC_WWW = "www.sec.gov"
SEC_DATA = "data.sec.gov"

EDGAR_ROUTES: tuple[ReplayRoute, ...] = (
    # https://www.sec.gov/files/company_tickers.json (+ _exchange, _mf)
    ReplayRoute(
        SEC_WWW,
        re.compile(r"/files/(?P<name>company_tickers(?:_exchange|_mf)?\.json)"),
        replay_templates("edgar/{name}"),
    ),
    # https://data.sec.gov/api/xbrl/companyfacts/CIK##########.json
    ReplayRoute(
        SEC_DATA,
        re.compile(r"/api/xbrl/companyfacts/(?P<file>CIK\d{10}\.json)"),
        replay_templates("edgar/companyfacts/{file}"),
    ),
    # https://data.sec.gov/submissions/CIK##########.json and extra pages CIK##########-submissions-001.json
    ReplayRoute(
        SEC_DATA,
        re.compile(r"/submissions/(?P<file>CIK\d{10}(?:-submissions-\d{3})?\.json)"),
        replay_templates("edgar/submissions/{file}"),
    ),
    # https://www.sec.gov/files/dera/data/financial-statement-data-sets/2009q3.zip (SEC's quarterly FSDS zips)
    ReplayRoute(
        SEC_WWW,
        re.compile(r"/files/dera/data/financial-statement-data-sets/(?P<file>\d{4}q[1-4]\.zip)"),
        replay_templates("edgar/financial-statement-data-sets/{file}"),
    ),
    # https://data.sec.gov/api/xbrl/companyconcept/CIK##########/us-gaap/AccountsPayableCurrent.json
    ReplayRoute(
        SEC_DATA,
        re.compile(r"/api/xbrl/companyconcept/(?P<cik>CIK\d{10})/(?P<taxonomy>[\w-]+)/(?P<tag>\w+)\.json"),
        replay_templates("edgar/companyconcept/{cik}__{taxonomy}__{tag}.json"),
    ),
    # https://data.sec.gov/api/xbrl/frames/us-gaap/AccountsPayableCurrent/USD/CY2019Q1I.json
    ReplayRoute(
        SEC_DATA,
        re.compile(
            r"/api/xbrl/frames/(?P<taxonomy>[\w-]+)/(?P<tag>\w+)/(?P<unit>[\w-]+)/(?P<period>CY\d{4}(?:Q[1-4]I?)?)\.json"
        ),
        replay_templates("edgar/frames/{taxonomy}__{tag}__{unit}__{period}.json"),
    ),
    # https://www.sec.gov/Archives/edgar/data/1894188/000189418823000007/primary_doc.xml: the documents of the
    # 13F-HR filings in edgar/13f/, by manager CIK, accession folder and EDGAR document name (see
    # edgar/holdings_reference.py). Folder listings (index.json) and full submissions (.txt) are not recorded.
    ReplayRoute(
        SEC_WWW,
        re.compile(r"/Archives/edgar/data/(?P<cik>\d{1,10})/(?P<folder>\d{18})/(?P<document>[^/]+)"),
        recorded_documents,
    ),
)


def edgar_replay_transport(root: Path) -> ReplayTransport:
    """A transport answering EDGAR URLs from ``root`` (laid out like ``../shared/replay``)."""
    return ReplayTransport(root, EDGAR_ROUTES)
