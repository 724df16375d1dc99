"""FMP payloads (recorded, real) -> one schema per table, the replay rule, and the fetch plan's reading of answers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import polars as pl
import pytest

from finance_assets.core.http import SourceClient, SourceUnavailableError
from finance_assets.fmp.parse import (
    BALANCE,
    CASH_FLOW,
    INCOME,
    KEY_METRICS,
    PROFILE,
    RATIOS,
    TABLES,
    PayloadShapeError,
    TableSpec,
    merge,
    normalize,
    records,
    snake,
)
from finance_assets.fmp.replay_routes import FMP_ROUTES, fmp_replay_transport, limit_order
from finance_assets.fmp.source import FmpSession, fetch_plan

pytestmark = pytest.mark.timeout(60)

REPLAY = Path(__file__).resolve().parents[2] / "shared" / "replay"
FMP = REPLAY / "fmp"
SECRET = "FMP-SENTINEL-7f3a9c"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _load(relative: str) -> list[dict[str, Any]]:
    return records(json.loads((FMP / relative).read_text()))


def _normalize(spec: TableSpec, relative: str, ticker: str = "AAPL"):
    api = "stable" if "__stable" in relative else "v3"
    return normalize(spec, _load(relative), ticker=ticker, api=api, payload_sha256="f" * 64, fetched_at=NOW)


# ---- both shapes, one schema ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "stable_file", "v3_file"),
    [
        (
            BALANCE,
            "balance-sheet-statement/AAPL__stable__annual_limit1.json",
            "balance-sheet-statement/AAPL__v3__annual_limit12.json",
        ),
        (
            INCOME,
            "income-statement/AAPL__stable__annual_limit1.json",
            "income-statement/AAPL__v3__annual_limit120.json",
        ),
        (
            CASH_FLOW,
            "cash-flow-statement/AAPL__stable__annual_limit1.json",
            "cash-flow-statement/AAPL__v3__quarter_limit5.json",
        ),
    ],
    ids=["balance_sheet", "income_statement", "cash_flow"],
)
def test_stable_and_v3_payloads_normalise_to_the_same_columns_and_dtypes(
    spec: TableSpec, stable_file: str, v3_file: str
) -> None:
    stable, legacy = _normalize(spec, stable_file), _normalize(spec, v3_file)

    assert stable.frame.schema == legacy.frame.schema == pl.Schema(spec.schema)
    assert stable.frame.columns[:4] == ["ticker", "date", "period", "fiscal_year"]
    assert stable.frame.columns[-3:] == ["api", "payload_sha256", "fetched_at"]
    assert stable.frame.schema["date"] == pl.Date and stable.frame.schema["fiscal_year"] == pl.Int32
    assert all(
        stable.frame.schema[f.column] == pl.Float64
        for f in spec.fields
        if f.column
        not in {
            "date",
            "period",
            "fiscal_year",
            "reported_currency",
            "cik",
            "filing_date",
            "accepted_date",
            "link",
            "final_link",
        }
    )
    # every field of the real payloads is mapped or knowingly ignored, and every value parsed
    for result in (stable, legacy):
        assert result.unmapped_fields == ()
        assert result.unreadable_values == 0
        assert result.symbol_mismatches == 0
    assert stable.frame.get_column("api").to_list() == ["stable"]
    assert set(legacy.frame.get_column("api")) == {"v3"}

    # header fields whose names differ between the shapes land in the same columns
    raw_stable, raw_v3 = _load(stable_file)[0], _load(v3_file)[0]
    first_stable, first_v3 = stable.frame.row(0, named=True), legacy.frame.row(0, named=True)
    assert first_stable["fiscal_year"] == int(raw_stable["fiscalYear"])
    assert first_v3["fiscal_year"] == int(raw_v3["calendarYear"])
    assert first_stable["filing_date"] == date.fromisoformat(raw_stable["filingDate"])
    assert first_v3["filing_date"] == date.fromisoformat(raw_v3["fillingDate"])
    assert first_v3["accepted_date"] == datetime.fromisoformat(raw_v3["acceptedDate"])
    assert first_v3["period"] == raw_v3["period"] and first_stable["period"] == "FY"
    assert first_v3["cik"] == raw_v3["cik"] == "0000320193"


def test_metric_tables_and_profile_have_fixed_schemas() -> None:
    for spec, relative in [
        (KEY_METRICS, "key-metrics/AAPL__stable__annual_limit1.json"),
        (RATIOS, "ratios/AAPL__stable__annual_limit1.json"),
        (PROFILE, "profile/AAPL__v3.json"),
    ]:
        result = _normalize(spec, relative)
        assert result.frame.schema == pl.Schema(spec.schema)
        assert result.unmapped_fields == () and result.unreadable_values == 0
        assert spec.empty().schema == result.frame.schema  # an uncovered company writes the same schema
    for spec in TABLES:
        assert len(set(spec.columns)) == len(spec.columns), f"{spec.table} has a duplicate column"
        assert all(c == c.lower() and " " not in c for c in spec.columns)


def test_field_name_differences_are_mapped_explicitly() -> None:
    cash = _load("cash-flow-statement/AAPL__v3__quarter_limit5.json")[0]
    row = _normalize(CASH_FLOW, "cash-flow-statement/AAPL__v3__quarter_limit5.json").frame.row(0, named=True)
    assert row["net_cash_provided_by_investing_activities"] == cash["netCashUsedForInvestingActivites"]
    assert row["net_cash_provided_by_financing_activities"] == cash["netCashUsedProvidedByFinancingActivities"]
    assert row["other_investing_activities"] == cash["otherInvestingActivites"]
    assert row["net_dividends_paid"] == cash["dividendsPaid"]
    assert row["common_stock_issuance"] == cash["commonStockIssued"]
    assert row["debt_repayment"] == cash["debtRepayment"]  # v3-only item
    assert row["link"] == cash["link"]

    income = _load("income-statement/AAPL__v3__annual_limit120.json")[0]
    assert (
        _normalize(INCOME, "income-statement/AAPL__v3__annual_limit120.json").frame.row(0, named=True)["eps_diluted"]
        == income["epsdiluted"]
    )
    stable_income = _load("income-statement/AAPL__stable__annual_limit1.json")[0]
    assert (
        _normalize(INCOME, "income-statement/AAPL__stable__annual_limit1.json").frame.row(0, named=True)["eps_diluted"]
        == stable_income["epsDiluted"]
    )

    balance = _load("balance-sheet-statement/AAPL__v3__annual_limit12.json")[0]
    b = _normalize(BALANCE, "balance-sheet-statement/AAPL__v3__annual_limit12.json").frame.row(0, named=True)
    assert b["other_total_stockholders_equity"] == balance["othertotalStockholdersEquity"]
    assert b["total_assets"] == balance["totalAssets"] == 352_755_000_000

    # the profile's `exchange` means different things in the two shapes
    profile = _load("profile/AAPL__v3.json")[0]
    p = _normalize(PROFILE, "profile/AAPL__v3.json").frame.row(0, named=True)
    assert (p["exchange"], p["exchange_full_name"]) == (profile["exchangeShortName"], profile["exchange"])
    assert p["market_cap"] == profile["mktCap"] and p["full_time_employees"] == int(profile["fullTimeEmployees"])

    # v3 key metrics / ratios (no recordings: the shape documented by FMP) map onto the stable names
    v3_metrics = {
        "symbol": "AAPL",
        "date": "2022-09-24",
        "calendarYear": "2022",
        "period": "FY",
        "enterpriseValueOverEBITDA": 19.5,
        "roe": 1.75,
        "researchAndDdevelopementToRevenue": 0.066,
        "daysOfInventoryOnHand": 8.1,
        "peRatio": 24.4,
    }
    m = normalize(KEY_METRICS, [v3_metrics], ticker="AAPL", api="v3", payload_sha256="0", fetched_at=NOW)
    r = m.frame.row(0, named=True)
    assert (r["ev_to_ebitda"], r["return_on_equity"], r["research_and_development_to_revenue"]) == (19.5, 1.75, 0.066)
    assert r["days_of_inventory_outstanding"] == 8.1 and m.unmapped_fields == ()  # peRatio: knowingly ignored
    assert snake("evToEBITDA") == "ev_to_ebitda" and snake("netIncomePerEBT") == "net_income_per_ebt"


def test_unmapped_fields_and_unreadable_values_are_reported_not_dropped_silently() -> None:
    rows = copy.deepcopy(_load("income-statement/AAPL__stable__annual_limit1.json"))
    rows[0]["brandNewFmpField"] = 1.0
    rows[0]["revenue"] = "n/a"
    rows[0]["symbol"] = "AAPL.MX"
    result = normalize(INCOME, rows, ticker="AAPL", api="stable", payload_sha256="0", fetched_at=NOW)
    assert result.unmapped_fields == ("brandNewFmpField",)
    assert result.unreadable_values == 1 and result.frame.get_column("revenue").to_list() == [None]
    assert result.symbol_mismatches == 1


def test_merge_prefers_stable_on_overlap_and_keeps_duplicates_within_one_api() -> None:
    stable = _normalize(BALANCE, "balance-sheet-statement/AAPL__stable__annual_limit1.json").frame
    v3_rows = copy.deepcopy(_load("balance-sheet-statement/AAPL__v3__annual_limit12.json"))
    overlap = copy.deepcopy(v3_rows[0]) | {"date": "2024-09-28", "calendarYear": "2024", "totalAssets": 1.0}
    legacy = normalize(BALANCE, [overlap, *v3_rows], ticker="AAPL", api="v3", payload_sha256="0", fetched_at=NOW)

    merged = merge(BALANCE, [("v3", legacy.frame), ("stable", stable)])
    assert merged.height == 13
    fy2024 = merged.filter(pl.col("date") == date(2024, 9, 28))
    assert fy2024.height == 1 and fy2024.row(0, named=True)["api"] == "stable"
    assert fy2024.row(0, named=True)["total_assets"] == 364_980_000_000
    assert merged.get_column("date").is_sorted(descending=True)

    doubled = merge(BALANCE, [("v3", legacy.frame), ("v3", legacy.frame)])
    assert doubled.height == 2 * legacy.frame.height  # the blocking unique check sees these
    assert merge(BALANCE, []).schema == pl.Schema(BALANCE.schema)


def test_an_fmp_error_object_is_not_mistaken_for_data() -> None:
    with pytest.raises(PayloadShapeError, match="Limit Reach"):
        records({"Error Message": "Limit Reach . Please upgrade your plan or visit our documentation"})
    with pytest.raises(PayloadShapeError):
        records([1, 2, 3])
    assert records([]) == []


# ---- replay rule --------------------------------------------------------------------------------------


def _served(url: str) -> tuple[int, bytes]:
    with httpx.Client(transport=fmp_replay_transport(REPLAY)) as client:
        response = client.get(url)
    return response.status_code, response.content


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "/stable/balance-sheet-statement?symbol=AAPL&period=annual&limit=40",
            "balance-sheet-statement/AAPL__stable__annual_limit1.json",
        ),
        (
            "/api/v3/balance-sheet-statement/AAPL?period=annual&limit=40",
            "balance-sheet-statement/AAPL__v3__annual_limit12.json",
        ),
        (
            "/api/v3/balance-sheet-statement/AAPL?period=annual&limit=12",
            "balance-sheet-statement/AAPL__v3__annual_limit12.json",
        ),
        (
            "/api/v3/balance-sheet-statement/AAPL?period=annual&limit=500",
            "balance-sheet-statement/AAPL__v3__annual_limit120.json",
        ),
        # nothing recorded with k <= 5: the smallest larger recording, served verbatim
        (
            "/api/v3/balance-sheet-statement/AAPL?period=annual&limit=5",
            "balance-sheet-statement/AAPL__v3__annual_limit12.json",
        ),
        # no period: annual, as both APIs default; no limit: the largest recording
        ("/api/v3/income-statement/ZNGA", "income-statement/ZNGA__v3__annual_limit120.json"),
        (
            "/api/v3/cash-flow-statement/AAPL?period=quarter&limit=160",
            "cash-flow-statement/AAPL__v3__quarter_limit5.json",
        ),
        ("/api/v3/profile/AAPL", "profile/AAPL__v3.json"),
        ("/stable/ratios-ttm?symbol=AAPL", "ratios-ttm/AAPL__stable.json"),
        (
            "/stable/historical-price-eod/full?symbol=AAPL&from=2023-01-01&to=2023-01-10",
            "historical-price-eod-full/AAPL__stable__2023-01-01_2023-01-10.json",
        ),
    ],
)
def test_replay_serves_the_recording_the_rule_picks(url: str, expected: str) -> None:
    status, body = _served(
        f"https://financialmodelingprep.com{url}&apikey={SECRET}"
        if "?" in url
        else f"https://financialmodelingprep.com{url}?apikey={SECRET}"
    )
    assert status == 200
    assert body == (FMP / expected).read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        "/stable/balance-sheet-statement?symbol=MSFT&period=annual&limit=40",  # company not recorded
        "/api/v3/balance-sheet-statement/AAPL?period=quarter&limit=160",  # period not recorded
        "/stable/cash-flow-statement?symbol=AAPL&period=quarter&limit=160",  # other api's quarter is not used
        "/stable/profile?symbol=AAPL",  # only v3 recorded
        "/api/v3/balance-sheet-statement/AAPL?period=weekly&limit=4",
        "/api/v3/balance-sheet-statement/..%2F..%2Fedgar?limit=4",
    ],
)
def test_replay_answers_404_when_nothing_matching_was_recorded(url: str) -> None:
    assert _served(f"https://financialmodelingprep.com{url}")[0] == 404


def test_limit_preference_order() -> None:
    assert limit_order(3, maximum=6) == [3, 2, 1, 4, 5, 6]
    assert limit_order(None, maximum=3) == [3, 2, 1]
    assert limit_order(10**9, maximum=3) == [3, 2, 1]
    assert {r.host for r in FMP_ROUTES} == {"financialmodelingprep.com"}


# ---- the fetch plan against answers FMP gives live ----------------------------------------------------


def _session(handler: Any, *, max_retries: int = 0) -> tuple[FmpSession, list[str]]:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return handler(request)

    client = SourceClient(
        source="fmp",
        user_agent="finance-lakehouse tests",
        rate_per_second=1000,
        max_retries=max_retries,
        backoff_base=0.0,
        transport=httpx.MockTransport(record),
    )
    return FmpSession(client, SECRET), seen


def test_legacy_403_disables_v3_for_the_step_and_plan_limits_are_reported() -> None:
    stable_rows = (FMP / "balance-sheet-statement/AAPL__stable__annual_limit1.json").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v3/"):
            return httpx.Response(403, json={"Error Message": "Legacy Endpoint : Due to Legacy endpoints ..."})
        if request.url.params.get("period") == "quarter":
            return httpx.Response(402, text="Premium Query Parameter: 'period' is not available under your plan")
        return httpx.Response(200, content=stable_rows, headers={"content-type": "application/json"})

    session, seen = _session(handler)
    payloads = fetch_plan(session, BALANCE, "AAPL", {"annual": 40, "quarter": 160})
    assert [(p.api, p.period, len(p.rows)) for p in payloads] == [("stable", "annual", 1)]
    outcomes = [(a.api, a.period, a.outcome) for a in session.attempts]
    assert outcomes == [
        ("stable", "annual", "ok"),
        ("v3", "annual", "legacy_retired"),
        ("stable", "quarter", "not_in_plan"),
        ("v3", "quarter", "skipped"),  # not asked again after the 403
    ]
    assert len(seen) == 3
    assert all(f"apikey={SECRET}" in url for url in seen)  # the key is sent as FMP expects ...
    text = repr(session) + repr(session.attempts) + repr(payloads)
    assert SECRET not in text and "apikey=***" in text  # ... and reported redacted only


def test_a_free_plan_limit_refusal_is_retried_once_with_the_free_page_size() -> None:
    body = (FMP / "income-statement/AAPL__stable__annual_limit1.json").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v3/"):
            return httpx.Response(403, json={"Error Message": "Legacy Endpoint : no longer supported"})
        if int(request.url.params["limit"]) > 5:
            return httpx.Response(402, text="Premium Query Parameter: 'limit' value must be between 0 and 5")
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    session, seen = _session(handler)
    payloads = fetch_plan(session, INCOME, "AAPL", {"annual": 40, "quarter": 160})
    assert [(p.api, p.period) for p in payloads] == [("stable", "annual"), ("stable", "quarter")]
    assert [(a.api, a.outcome, a.refused_param) for a in session.attempts] == [
        ("stable", "not_in_plan", "limit"),
        ("stable", "ok", None),
        ("v3", "legacy_retired", None),
        ("stable", "not_in_plan", "limit"),
        ("stable", "ok", None),
        ("v3", "skipped", None),
    ]
    assert [httpx.URL(u).params["limit"] for u in seen] == ["40", "5", "5", "160", "5"]


def test_a_full_stable_page_skips_v3() -> None:
    body = json.dumps([{"symbol": "AAPL", "date": f"{2024 - i}-09-28", "period": "FY"} for i in range(3)])

    session, seen = _session(lambda r: httpx.Response(200, text=body, headers={"content-type": "application/json"}))
    fetch_plan(session, RATIOS, "AAPL", {"annual": 3, "quarter": 3})
    assert [a.outcome for a in session.attempts] == ["ok", "skipped", "ok", "skipped"]
    assert all("/stable/" in url for url in seen)


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, {"Error Message": "Invalid API KEY. Feel free to create a Free API Key"}, dg.Failure, "FMP_API_KEY"),
        (200, {"Error Message": "Invalid API KEY. Feel free to create a Free API Key"}, dg.Failure, "FMP_API_KEY"),
        (200, {"Error Message": "Limit Reach . Please upgrade your plan"}, dg.Failure, "Limit Reach"),
        (500, {"error": "boom"}, SourceUnavailableError, "HTTP 500"),
        (429, {"Error Message": "Too many requests"}, SourceUnavailableError, "HTTP 429"),
    ],
)
def test_key_problems_and_outages_fail_the_step_with_the_key_redacted(
    status: int, body: dict[str, str], error: type[Exception], match: str
) -> None:
    session, seen = _session(lambda r: httpx.Response(status, json=body, headers={"retry-after": "0"}), max_retries=1)
    with pytest.raises(error, match=match) as raised:
        fetch_plan(session, INCOME, "AAPL", {"annual": 40, "quarter": 160})
    assert seen and all(f"apikey={SECRET}" in url for url in seen)
    exc = raised.value
    rendered = f"{exc}{exc!r}{getattr(exc, 'description', '')}{getattr(exc, 'metadata', '')}{exc.__cause__!r}"
    assert SECRET not in rendered
    assert "apikey=***" in rendered or isinstance(exc, dg.Failure)
