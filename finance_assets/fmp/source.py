"""Talking to Financial Modeling Prep: the resource, the API key, and the fetch plan.

**Key.** ``FMP_API_KEY`` reaches the session through :class:`~finance_assets.fmp.resources.FmpResource`
(which says how an unset key fails only the FMP steps) and is sent the way FMP expects, as the ``apikey``
query parameter. The shared client redacts ``apikey`` from every URL it reports (exceptions, logs, the HTTP
cache, :class:`~finance_assets.core.http.FetchResult.url`), so archived-payload index rows and
materialisation metadata only ever see ``apikey=***``.

**Rate.** All FMP clients of the deployment share one budget at ``FMP_REQUESTS_PER_MINUTE`` (default
300, FMP's Starter plan; see ``core/ratelimit.py``); the deployment runs one FMP step at a time (pool
``fmp``). A 429 is retried after its ``Retry-After`` by the shared client; when retries run out the step
fails and the partition is left as it was (a daily quota is exhausted: re-run tomorrow). Daily quotas are the plan's: an
asset makes at most 4 requests per company (6 on the free plan, 2 for the profile).

**Fetch plan**, per table and company, for ``period`` = annual then quarter:

1. ``stable`` first (``/stable/<endpoint>?symbol=T&period=P&limit=N``): the API FMP supports. FMP's
   free plan refuses ``limit`` above 5 (402 "Premium Query Parameter: 'limit'"): then the request is
   repeated once with ``limit=5``, the most recent periods that plan serves.
2. Legacy ``v3`` (``/api/v3/<endpoint>/T?period=P&limit=N``) only to fill what stable did not return:
   skipped when stable already returned a full page (``>= N`` rows). Keys issued after 2025-08-31 get
   ``403 Legacy Endpoint`` there: that is read as "v3 not available for this key", noted, and v3 is not
   asked again in the step. ``use_legacy_v3=False`` turns it off altogether.
3. Both answers are normalised to one schema and merged per ``(ticker, date, period)``, stable winning.

What each answer means:

* 200 with rows: data. 200 ``[]`` or 404 (replay's answer for anything not recorded): no data.
* 402, or 403 from stable, or an FMP ``{"Error Message": "...Premium..."}``: the key's plan does not
  include this endpoint or parameter (e.g. ``period=quarter`` on the free plan): no data, reported.
* 401 / "Invalid API KEY": the step fails (nothing will work with that key).
* 429 / 5xx / timeouts after retries, malformed JSON, any other error: the step fails, so a partial
  answer never replaces a complete partition.

A company FMP does not cover at all therefore materialises an empty partition (the table keeps its
schema), says so in the metadata (``fmp_coverage``), logs a warning and turns the WARN ``non_empty``
check red; other companies and assets are unaffected. Everything returned is archived raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import dagster as dg

from finance_assets.core.http import (
    FetchResult,
    MalformedPayloadError,
    NotFoundError,
    SourceAuthError,
    SourceClient,
    SourceError,
)
from finance_assets.core.redaction import REDACTED
from finance_assets.fmp.parse import Api, PayloadShapeError, TableSpec, records
from finance_assets.fmp.replay_routes import FMP_HOST

FMP_BASE_URL = f"https://{FMP_HOST}"
FMP_USER_AGENT = "finance-lakehouse/0.1 (fmp fundamentals)"
PERIOD_PARAMS: tuple[str, ...] = ("annual", "quarter")

# Outcomes of one planned request, as reported in metadata.
OK, EMPTY, NOT_FOUND, NOT_ENTITLED, LEGACY_RETIRED, SKIPPED = (
    "ok",
    "empty",
    "not_found",
    "not_in_plan",
    "legacy_retired",
    "skipped",
)
_PLAN_WORDS = ("premium", "subscription", "restricted", "upgrade", "exclusive")
_PREMIUM_PARAM = re.compile(r"premium query parameter:[^']*?\\?'(\w+)\\?'", re.IGNORECASE)
#: FMP's free plan refuses statement requests with ``limit`` above 5 ("Premium Query Parameter: 'limit'").
FREE_PLAN_LIMIT = 5


@dataclass(frozen=True)
class Payload:
    api: Api
    period: str | None
    rows: list[dict[str, Any]]
    result: FetchResult


@dataclass(frozen=True)
class Attempt:
    """One planned request and what came of it; ``url`` is always the redacted form."""

    api: Api
    period: str | None
    url: str
    outcome: str
    rows: int = 0
    detail: str = ""
    refused_param: str | None = None  # from FMP's "Premium Query Parameter: '<param>'" answers


class FmpSession:
    """One step's conversation with FMP: the client, the key, the v3 availability, the request log."""

    def __init__(self, client: SourceClient, api_key: str, *, use_legacy_v3: bool = True) -> None:
        self._client = client
        self._api_key = api_key
        self.v3_disabled: str | None = None if use_legacy_v3 else "disabled by configuration (use_legacy_v3=False)"
        self.attempts: list[Attempt] = []

    def __repr__(self) -> str:  # never the key
        return f"FmpSession(client={self._client!r}, v3_disabled={self.v3_disabled!r})"

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        # Real FMP keys are 32 characters; short values (replay's placeholder "replay") are no secret
        # and replacing them would garble ordinary words in messages.
        return text.replace(self._api_key, REDACTED) if len(self._api_key) >= 8 else text

    @staticmethod
    def request(
        api: Api, endpoint: str, ticker: str, period: str | None, limit: int | None
    ) -> tuple[str, dict[str, str]]:
        """URL and query parameters (without the key) of one FMP call in ``api``'s shape."""
        params: dict[str, str] = {}
        if period is not None:
            params["period"] = period
        if limit is not None:
            params["limit"] = str(limit)
        if api == "stable":
            return f"{FMP_BASE_URL}/stable/{endpoint}", {"symbol": ticker, **params}
        return f"{FMP_BASE_URL}/api/v3/{endpoint}/{quote(ticker, safe='')}", params

    def skip(self, api: Api, endpoint: str, ticker: str, period: str | None, limit: int | None, why: str) -> None:
        url, params = self.request(api, endpoint, ticker, period, limit)
        shown = f"{url}?{urlencode(params)}" if params else url
        self.attempts.append(Attempt(api, period, shown, SKIPPED, detail=why))

    def fetch(
        self, api: Api, endpoint: str, ticker: str, period: str | None = None, limit: int | None = None
    ) -> Payload | None:
        """GET one endpoint; None when FMP has nothing for it (or not for this key). See the module doc."""
        if api == "v3" and self.v3_disabled:
            self.skip(api, endpoint, ticker, period, limit, f"v3 {self.v3_disabled}")
            return None
        url, params = self.request(api, endpoint, ticker, period, limit)
        try:
            doc, result = self._client.get_json(url, params={**params, "apikey": self._api_key})
        except NotFoundError as exc:
            self.attempts.append(Attempt(api, period, exc.url, NOT_FOUND, detail="HTTP 404"))
            return None
        except SourceAuthError as exc:
            return self._refused(api, period, exc.url, exc.status, self._scrub(str(exc)))
        except SourceError as exc:
            if exc.status == 402:
                return self._refused(api, period, exc.url, 402, self._scrub(str(exc)))
            raise
        try:
            rows = records(doc)
        except PayloadShapeError as exc:
            message = self._scrub(str(exc))
            lowered = message.lower()
            if "invalid api key" in lowered:
                return self._refused(api, period, result.url, 401, message)
            if "legacy endpoint" in lowered:
                return self._refused(api, period, result.url, 403, message)
            if "limit reach" not in lowered and any(word in lowered for word in _PLAN_WORDS):
                return self._refused(api, period, result.url, 402, message)
            if "limit reach" in lowered:  # the key's quota: every company of the run would get the same answer
                raise dg.Failure(
                    description=f"FMP answered {result.url} with an error instead of data: {message}",
                    metadata={"url": result.url, "http_status": result.status},
                ) from None
            # anything else is this company's malformed payload: it fails its own partition (CompanyStep)
            raise MalformedPayloadError(
                f"fmp: GET {result.url} returned a malformed payload: {message}", "fmp", result.url, result.status
            ) from None
        if not rows:
            self.attempts.append(Attempt(api, period, result.url, EMPTY, detail="[]"))
            return None
        self.attempts.append(Attempt(api, period, result.url, OK, rows=len(rows), detail=result.sha256[:12]))
        return Payload(api, period, rows, result)

    def _refused(self, api: Api, period: str | None, url: str, status: int | None, message: str) -> None:
        if status == 401:
            raise dg.Failure(
                description=(
                    f"FMP rejected the API key (HTTP 401) for {url}. Check FMP_API_KEY: it must be a valid "
                    "key from financialmodelingprep.com (the other assets do not need it)."
                ),
                metadata={"url": url, "detail": message[:300]},
            )
        if api == "v3" and status == 403:
            # Keys issued after 2025-08-31 get "403 Legacy Endpoint" for all of v3: stop asking.
            self.v3_disabled = f"not available for this key (HTTP 403 on {url})"
            self.attempts.append(Attempt(api, period, url, LEGACY_RETIRED, detail=message[:200]))
            return None
        param = match[1].lower() if (match := _PREMIUM_PARAM.search(message)) else None
        self.attempts.append(
            Attempt(api, period, url, NOT_ENTITLED, detail=f"HTTP {status}: {message[-200:]}", refused_param=param)
        )
        return None


def fetch_plan(session: FmpSession, spec: TableSpec, ticker: str, limits: dict[str, int]) -> list[Payload]:
    """Every response worth keeping for ``spec`` and ``ticker``, stable first (see the module doc)."""
    payloads: list[Payload] = []
    if not spec.periodic:
        first = session.fetch("stable", spec.endpoint, ticker)
        if first is not None:
            session.skip("v3", spec.endpoint, ticker, None, None, "stable answered")
            return [first]
        second = session.fetch("v3", spec.endpoint, ticker)
        return [second] if second is not None else []
    for period in PERIOD_PARAMS:
        limit = limits[period]
        stable = session.fetch("stable", spec.endpoint, ticker, period, limit)
        if stable is None and limit > FREE_PLAN_LIMIT and session.attempts[-1].refused_param == "limit":
            limit = FREE_PLAN_LIMIT  # the key's plan caps the page size: take what it allows
            stable = session.fetch("stable", spec.endpoint, ticker, period, limit)
        if stable is not None:
            payloads.append(stable)
            if len(stable.rows) >= limit:
                session.skip("v3", spec.endpoint, ticker, period, limit, f"stable returned a full page ({limit})")
                continue
        legacy = session.fetch("v3", spec.endpoint, ticker, period, limit)
        if legacy is not None:
            payloads.append(legacy)
    return payloads
