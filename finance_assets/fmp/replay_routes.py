"""How live Financial Modeling Prep URLs map onto the recorded files under a replay root (``../shared/replay``).

Live URLs (the ``apikey`` query parameter is ignored here; the recordings had it removed)::

    stable  https://financialmodelingprep.com/stable/<endpoint>?symbol=AAPL&period=annual&limit=40
    v3      https://financialmodelingprep.com/api/v3/<endpoint>/AAPL?period=annual&limit=40

Recorded files: ``fmp/<endpoint>/<TICKER>__<api>__<params>.json`` with ``api`` = ``stable`` | ``v3`` and

* periodic endpoints (income-statement, balance-sheet-statement, cash-flow-statement, key-metrics,
  ratios): ``<period>_limit<k>`` (``annual_limit1``, ``annual_limit12``, ``quarter_limit5`` ...);
* snapshot endpoints (profile, key-metrics-ttm, ratios-ttm ...): no ``__<params>`` part;
* ``historical-price-eod/full``: ``historical-price-eod-full/<T>__stable__<from>_<to>.json``.

**The replay rule for a periodic request** ``period=P&limit=N``: recordings exist only for the limits
someone happened to record, so an exact match is rare. The answer is the recording for the *same
endpoint, ticker, API and period* whose recorded limit ``k`` is

1. the largest ``k <= N`` (a recording that asked for no more rows than we do: everything in it is
   part of the live answer at its recording date; it may hold fewer rows than a live call would), else
2. the smallest ``k > N`` (every recording asked for more): served verbatim, so it can hold more rows
   than ``limit``; consumers must not rely on ``len(rows) <= limit``.

``period`` defaults to ``annual`` (both APIs' default; the v3 ``annual_limit120`` files were recorded
without a period parameter) and must be ``annual`` or ``quarter``. No ``limit`` gets the largest recording.
A recording of another API, period or ticker is never substituted, and nothing recorded is a 404, which
the FMP assets read as "FMP has no data for this company" (live FMP answers ``[]`` there).

The rule only needs file names, so it is expressed as an ordered candidate list for the shared
:class:`~finance_assets.core.replay.ReplayTransport` (which serves the first candidate that exists):
``k = N, N-1, ..., 1, N+1, ..., MAX_LIMIT``. That is at most ``MAX_LIMIT`` file lookups per request, a few
milliseconds, and keeps this module independent of where the replay root is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path

from finance_assets.core.replay import ReplayRoute, ReplayTransport, replay_templates

FMP_HOST = "financialmodelingprep.com"
PERIODIC_ENDPOINTS = frozenset(
    {"income-statement", "balance-sheet-statement", "cash-flow-statement", "key-metrics", "ratios"}
)
PERIOD_PARAMS = frozenset({"annual", "quarter"})
#: FMP caps ``limit`` at 1000 records; no recording asks for more.
MAX_LIMIT = 1000
_SYMBOL = re.compile(r"^[A-Za-z0-9.\-^]{1,15}$")


def _limit(params: Mapping[str, str]) -> int | None:
    raw = (params.get("limit") or "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def limit_order(limit: int | None, maximum: int = MAX_LIMIT) -> list[int]:
    """Recorded limits in the order the replay rule prefers them for a request with ``limit``."""
    if limit is None:
        return list(range(maximum, 0, -1))
    top = min(limit, maximum)
    return list(chain(range(top, 0, -1), range(top + 1, maximum + 1)))


def _candidates(endpoint: str, symbol: str, api: str, params: Mapping[str, str]) -> list[str]:
    if not _SYMBOL.match(symbol):
        return []
    base = f"fmp/{endpoint}/{symbol.upper()}__{api}"
    if endpoint not in PERIODIC_ENDPOINTS:
        return [f"{base}.json"]
    period = (params.get("period") or "annual").strip().lower()
    if period not in PERIOD_PARAMS:
        return []
    return [f"{base}__{period}_limit{k}.json" for k in limit_order(_limit(params))]


def _stable(match: re.Match[str], params: Mapping[str, str]) -> Sequence[str]:
    return _candidates(match["endpoint"], params.get("symbol", ""), "stable", params)


def _legacy_v3(match: re.Match[str], params: Mapping[str, str]) -> Sequence[str]:
    return _candidates(match["endpoint"], match["symbol"], "v3", params)


FMP_ROUTES: tuple[ReplayRoute, ...] = (
    # https://financialmodelingprep.com/stable/historical-price-eod/full?symbol=AAPL&from=2023-01-01&to=2023-01-10
    ReplayRoute(
        FMP_HOST,
        re.compile(r"/stable/historical-price-eod/full"),
        replay_templates("fmp/historical-price-eod-full/{symbol}__stable__{from}_{to}.json"),
    ),
    # https://financialmodelingprep.com/stable/<endpoint>?symbol=AAPL[&period=annual&limit=N]
    ReplayRoute(FMP_HOST, re.compile(r"/stable/(?P<endpoint>[a-z][a-z0-9-]*)"), _stable),
    # https://financialmodelingprep.com/api/v3/<endpoint>/AAPL[?period=annual&limit=N]
    ReplayRoute(FMP_HOST, re.compile(r"/api/v3/(?P<endpoint>[a-z][a-z0-9-]*)/(?P<symbol>[^/]+)"), _legacy_v3),
)


def fmp_replay_transport(root: Path) -> ReplayTransport:
    """A transport answering FMP URLs from ``root`` (laid out like ``../shared/replay``)."""
    return ReplayTransport(root, FMP_ROUTES)
