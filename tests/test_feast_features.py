"""Feast over the Gold lakehouse: point-in-time joins, Dagster materialization, serving and reproducible exports.

Every expectation is computed here from the Gold tables (DuckDB as-of joins written in this file), never
from Feast's output. The lakehouse is the session fixture of tests/gold_fixtures.py (replay, dbt through
Dagster); the feature assets run on it once per module, through Dagster.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import polars as pl
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import REPO_ROOT, GoldLakehouse, session_env

from finance_assets.core.loopback import free_port, running

pytestmark = pytest.mark.slow

FUNDAMENTALS_TTL_DAYS = 456  # feature_repo/features.py
PRICES_TTL_DAYS = 7
PRICE_COLUMNS = [
    "close",
    "adj_close",
    "volume",
    "return_1d",
    "log_return_1d",
    "momentum_21d",
    "momentum_63d",
    "momentum_126d",
    "momentum_252d",
    "realized_vol_20d",
    "realized_vol_60d",
    "vwap_20d",
    "volume_zscore_20d",
    "distance_from_52w_high",
    "beta_252d",
    "momentum_5d",
    "momentum_12_1",
    "realized_vol_120d",
    "idiosyncratic_vol_252d",
    "rsi_14d",
    "max_return_21d",
    "log_dollar_volume_20d",
    "amihud_illiquidity_20d",
]
FUNDAMENTAL_COLUMNS = [
    "period_type",
    "fiscal_year",
    "fiscal_period",
    "currency",
    "filed_at",
    "report_lag_days",
    "revenue",
    "net_income",
    "eps_diluted",
    "shares_diluted",
    "revenue_12m",
    "gross_profit_12m",
    "operating_income_12m",
    "net_income_12m",
    "operating_cash_flow_12m",
    "capex_12m",
    "free_cash_flow_12m",
    "total_assets",
    "current_assets",
    "cash_and_equivalents",
    "total_liabilities",
    "current_liabilities",
    "long_term_debt",
    "stockholders_equity",
    "shares_outstanding",
]
RATIO_COLUMNS = [
    "gross_margin",
    "operating_margin",
    "net_margin",
    "return_on_equity",
    "return_on_assets",
    "working_capital",
    "current_ratio",
    "quick_ratio",
    "debt_to_equity",
    "asset_turnover",
    "free_cash_flow",
    "fcf_margin",
    "revenue_growth_yoy",
    "eps_growth_yoy",
    "price_close",
    "market_cap",
    "enterprise_value",
    "pe_ratio",
    "pb_ratio",
    "earnings_yield",
]
# feature set v2: computed from the period's statements and the ratios' market_cap (no column of Gold)
DERIVED_RATIOS = {
    "book_to_market": "case when r.market_cap > 0 then f.stockholders_equity / r.market_cap end",
    "sales_to_price": "case when r.market_cap > 0 then f.revenue_12m / r.market_cap end",
    "fcf_yield": "case when r.market_cap > 0 then f.free_cash_flow_12m / r.market_cap end",
    "accruals": "case when f.total_assets > 0 then (f.net_income_12m - f.operating_cash_flow_12m) / f.total_assets end",
}
SIGNAL_COLUMNS = [
    "late_filing_notices_365d",
    "amendments_365d",
    "restatements_365d",
    "restatement_filings_365d",
    "late_filing_notices_total",
    "amendments_total",
    "restatements_total",
]
SECTOR_COLUMNS = ["sic", "sector", "sector_code"]
VIEWS = {
    "price_features": PRICE_COLUMNS,
    "fundamentals": FUNDAMENTAL_COLUMNS,
    "financial_ratios": [*RATIO_COLUMNS, *DERIVED_RATIOS],
    "filing_signals": SIGNAL_COLUMNS,
    "company_sectors": SECTOR_COLUMNS,
}
UNKNOWN = "ZZZZ"
V1 = "return_model_v1"  # the service whose tables these export tests pin


@dataclass
class FeastLakehouse:
    gold: GoldLakehouse
    first_run: dg.ExecuteInProcessResult

    def materialize(
        self, selection: list[str] | None = None, *, full_refresh: bool = False
    ) -> dg.ExecuteInProcessResult:
        from finance_assets.features.assets import OnlineFeaturesConfig, feature_selection

        selection = selection or feature_selection()
        ops = {"features__feast_online_features": OnlineFeaturesConfig(full_refresh=full_refresh)}
        return dg.materialize(
            list(self.gold.defs.assets or []),
            selection=selection,
            instance=self.gold.instance,
            resources=self.gold.defs.resources,
            run_config=dg.RunConfig(ops=ops if "features/feast_online_features" in selection else {}),
            raise_on_error=False,
        )

    def store(self, **kwargs: Any) -> Any:
        from finance_assets.core.settings import Settings
        from finance_assets.resources import resources_for

        return resources_for(Settings.from_env(), secrets="values")["feast"].store(**kwargs)


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    assert events, f"{key} was not materialized"
    return {k: getattr(v, "value", v) for k, v in events[-1].materialization.metadata.items()}


@pytest.fixture(scope="module")
def feast_lakehouse(gold_lakehouse: GoldLakehouse) -> Iterator[FeastLakehouse]:
    """The Gold session lakehouse with the feature layer materialized once through Dagster (replay mode)."""
    with contextmanager(session_env)(gold_lakehouse.env):
        lakehouse = FeastLakehouse(gold=gold_lakehouse, first_run=None)  # type: ignore[arg-type]
        # full refresh: another module of the session may have materialized the feature layer already
        lakehouse.first_run = lakehouse.materialize(full_refresh=True)
        failures = [e.step_key for e in lakehouse.first_run.get_step_failure_events()]
        assert lakehouse.first_run.success, f"feature assets failed: {failures}"
        yield lakehouse


# ---- independent expectations, from Gold ------------------------------------------------------------------
def _gold_sql(gold: GoldLakehouse) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in (
        "income_statement",
        "balance_sheet",
        "cash_flow",
        "financial_ratios",
        "price_features",
        "filing_signals",
        "company_sectors",
    ):
        con.register(table, gold.read(f"gold.{table}").to_arrow())
    # The period each filing date makes "latest": the three statements of a period joined, public once the
    # last of them is (greatest filed_at); per filing date the latest period end, then the most complete
    # row, then a quarter; a filing that only brought an older period changes nothing.
    con.execute(
        """
        create temp view fundamentals_known as
        with periods as (
            select ticker, period_type, period_end,
                   greatest(i.filed_at, b.filed_at, c.filed_at) as filed_at,
                   coalesce(i.fiscal_year, b.fiscal_year, c.fiscal_year) as fiscal_year,
                   coalesce(i.fiscal_period, b.fiscal_period, c.fiscal_period) as fiscal_period,
                   coalesce(i.currency, b.currency, c.currency) as currency,
                   i.revenue, i.net_income, i.eps_diluted, i.shares_diluted,
                   if(period_type = 'FY', i.revenue, i.revenue_ttm) as revenue_12m,
                   if(period_type = 'FY', i.gross_profit, i.gross_profit_ttm) as gross_profit_12m,
                   if(period_type = 'FY', i.operating_income, i.operating_income_ttm) as operating_income_12m,
                   if(period_type = 'FY', i.net_income, i.net_income_ttm) as net_income_12m,
                   if(period_type = 'FY', c.operating_cash_flow, c.operating_cash_flow_ttm) as operating_cash_flow_12m,
                   if(period_type = 'FY', c.capex, c.capex_ttm) as capex_12m,
                   if(period_type = 'FY', c.free_cash_flow, c.free_cash_flow_ttm) as free_cash_flow_12m,
                   b.total_assets, b.current_assets, b.cash_and_equivalents, b.total_liabilities,
                   b.current_liabilities, b.long_term_debt, b.stockholders_equity, b.shares_outstanding
            from income_statement as i
            full join balance_sheet as b using (ticker, period_type, period_end)
            full join cash_flow as c using (ticker, period_type, period_end)
        ),
        ranked as (
            select *,
                   (revenue_12m is not null)::int + (net_income_12m is not null)::int
                   + (operating_cash_flow_12m is not null)::int + (total_assets is not null)::int
                   + (stockholders_equity is not null)::int as completeness
            from periods
            where filed_at is not null
            qualify row_number() over (
                partition by ticker, filed_at
                order by period_end desc, completeness desc, (period_type = 'Q') desc
            ) = 1
        )
        select *, (filed_at - period_end)::bigint as report_lag_days, filed_at::timestamp as ts
        from ranked
        qualify period_end >= coalesce(
            max(period_end) over (
                partition by ticker order by filed_at rows between unbounded preceding and 1 preceding
            ),
            period_end
        )
        """
    )
    return con


def expected_features(gold: GoldLakehouse, entities: pd.DataFrame) -> pd.DataFrame:
    """Every feature of the four views for each entity row: as-of joins in DuckDB on the Gold tables."""
    con = _gold_sql(gold)
    ents = entities.assign(ts=entities["event_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None))
    con.register("ents", ents[["row_id", "ticker", "ts"]])
    prices = ", ".join(
        f"case when e.ts - p.trade_date::timestamp <= interval {PRICES_TTL_DAYS} days then p.{c} end as {c}"
        for c in PRICE_COLUMNS
    )
    fundamentals = ", ".join(
        f"case when e.ts - f.ts <= interval {FUNDAMENTALS_TTL_DAYS} days then f.{c} end as {c}"
        for c in FUNDAMENTAL_COLUMNS
    )
    known = f"case when e.ts - f.ts <= interval {FUNDAMENTALS_TTL_DAYS} days then"
    columns = {**{c: f"r.{c}" for c in RATIO_COLUMNS}, **DERIVED_RATIOS}
    ratios = ", ".join(f"{known} {sql} end as {c}" for c, sql in columns.items())
    window = "s.signal_date::timestamp > e.ts - interval 365 days"
    late = "s.signal_type = 'late_filing_notice'"
    signals = f"""
        select e.row_id,
          case when count(s.ticker) > 0 then count(*) filter (where {late} and {window}) end
            as late_filing_notices_365d,
          case when count(s.ticker) > 0 then count(*) filter (where s.signal_type = 'amendment' and {window}) end
            as amendments_365d,
          case when count(s.ticker) > 0 then count(*) filter (where s.signal_type = 'restatement' and {window}) end
            as restatements_365d,
          case when count(s.ticker) > 0
               then count(distinct s.accession_number) filter (where s.signal_type = 'restatement' and {window}) end
            as restatement_filings_365d,
          case when count(s.ticker) > 0 then count(*) filter (where s.signal_type = 'late_filing_notice') end
            as late_filing_notices_total,
          case when count(s.ticker) > 0 then count(*) filter (where s.signal_type = 'amendment') end
            as amendments_total,
          case when count(s.ticker) > 0 then count(*) filter (where s.signal_type = 'restatement') end
            as restatements_total
        from ents as e
        left join filing_signals as s on s.ticker = e.ticker and s.signal_date::timestamp <= e.ts
        group by e.row_id
    """
    return con.sql(
        f"""
        with p as (
            select e.row_id, {prices}
            from ents as e asof left join price_features as p on p.ticker = e.ticker and p.trade_date::timestamp <= e.ts
        ),
        f as (
            select e.row_id, {fundamentals}, {ratios}
            from ents as e
            asof left join fundamentals_known as f on f.ticker = e.ticker and f.ts <= e.ts
            left join financial_ratios as r
              on r.ticker = f.ticker and r.period_type = f.period_type and r.period_end = f.period_end
        ),
        s as ({signals}),
        c as (
            select e.row_id, c.sic, c.sector, c.sector_code
            from ents as e left join company_sectors as c on c.ticker = e.ticker
        )
        select e.row_id, e.ticker, p.* exclude (row_id), f.* exclude (row_id), s.* exclude (row_id),
               c.* exclude (row_id)
        from ents as e join p using (row_id) join f using (row_id) join s using (row_id) join c using (row_id)
        order by e.row_id
        """
    ).df()


def _value(v: Any) -> Any:
    if v is None or (not isinstance(v, str | list | dict) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.date() if v.tzinfo is None or v == v.normalize() else v
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def assert_same_values(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    mismatches = []
    for column in columns:
        for i, (a, e) in enumerate(zip(actual[column], expected[column], strict=True)):
            a, e = _value(a), _value(e)
            same = (a is None and e is None) or (
                a is not None
                and e is not None
                and (math.isclose(a, e, rel_tol=1e-9, abs_tol=1e-12) if isinstance(e, float) else a == e)
            )
            if not same:
                mismatches.append((column, expected["ticker"][i], actual["event_timestamp"][i], a, e))
    assert not mismatches, f"{len(mismatches)} mismatches, e.g. {mismatches[:5]}"


def entity_rows(gold: GoldLakehouse, seed: int = 7) -> pd.DataFrame:
    """A few hundred (ticker, timestamp) rows: random days, and the days around filings and data ends."""
    known = _gold_sql(gold).sql("select ticker, filed_at from fundamentals_known").pl()
    rng = random.Random(seed)
    rows: set[tuple[str, datetime]] = set()
    for ticker in sorted(known.get_column("ticker").unique()):
        filed = sorted(known.filter(ticker=ticker).get_column("filed_at"))
        first = filed[0]
        for d in (first - timedelta(days=400), first - timedelta(days=1), first, first + timedelta(days=1)):
            rows.add((ticker, datetime(d.year, d.month, d.day)))
        for d in rng.sample(filed, min(8, len(filed))):  # the day before, of and after a filing
            for offset in (-1, 0, 1):
                x = d + timedelta(days=offset)
                rows.add((ticker, datetime(x.year, x.month, x.day)))
    tickers = [*sorted(known.get_column("ticker").unique()), UNKNOWN]
    start = date(2008, 1, 1).toordinal()
    for _ in range(220):
        d = date.fromordinal(rng.randint(start, date(2026, 10, 1).toordinal()))
        hour = rng.choice((0, 0, 0, 16))  # some intraday stamps
        rows.add((rng.choice(tickers), datetime(d.year, d.month, d.day, hour)))
    for ticker in ("AAPL", "MSFT", "NVDA"):  # around the end of the price series (TTL)
        for d in (date(2023, 10, 27), date(2023, 10, 30), date(2023, 11, 3), date(2023, 11, 4)):
            rows.add((ticker, datetime(d.year, d.month, d.day)))
    frame = pd.DataFrame(sorted(rows), columns=["ticker", "event_timestamp"])
    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize("UTC")
    frame["row_id"] = range(len(frame))
    return frame


def historical(store: Any, entities: pd.DataFrame) -> pd.DataFrame:
    refs = [f"{view}:{column}" for view, columns in VIEWS.items() for column in columns]
    out = store.get_historical_features(entity_df=entities, features=refs).to_df()
    return out.sort_values("row_id").reset_index(drop=True)


# ---- point in time ----------------------------------------------------------------------------------------
def test_historical_features_equal_an_independent_asof_join(feast_lakehouse: FeastLakehouse) -> None:
    entities = entity_rows(feast_lakehouse.gold)
    assert len(entities) >= 300
    actual = historical(feast_lakehouse.store(), entities)
    expected = expected_features(feast_lakehouse.gold, entities)
    assert list(actual["row_id"]) == list(expected["row_id"])  # no entity row dropped or duplicated
    for columns in VIEWS.values():
        assert_same_values(actual, expected, columns)
    # the sample covers what matters: before any filing, filing days, unknown tickers, stale prices
    assert actual["revenue_12m"].isna().any() and actual["revenue_12m"].notna().sum() > 100
    assert actual.loc[actual["ticker"] == UNKNOWN, VIEWS["fundamentals"]].isna().all().all()
    assert actual["momentum_21d"].notna().sum() > 20


def test_no_row_sees_a_fundamental_before_it_was_filed(feast_lakehouse: FeastLakehouse) -> None:
    gold = feast_lakehouse.gold
    entities = entity_rows(gold, seed=11)
    actual = historical(feast_lakehouse.store(), entities)
    seen = actual[actual["filed_at"].notna()]
    assert len(seen) > 100
    days = seen["event_timestamp"].dt.tz_convert("UTC").dt.date
    assert (pd.to_datetime(seen["filed_at"]).dt.date <= days).all()
    # around AAPL's filings: the day before shows the previous report, the filing day and after the new one
    filings = sorted(
        _gold_sql(gold).sql("select filed_at from fundamentals_known where ticker = 'AAPL'").pl()["filed_at"]
    )
    first, later = filings[0], filings[-3]
    probe = pd.DataFrame(
        {
            "ticker": "AAPL",
            "event_timestamp": pd.to_datetime(
                [first - timedelta(days=1), first, later - timedelta(days=1), later, later + timedelta(days=1)]
            ).tz_localize("UTC"),
        }
    )
    probe["row_id"] = range(len(probe))
    got = historical(feast_lakehouse.store(), probe)
    filed = [_value(v) for v in got["filed_at"]]
    assert filed[0] is None and got.loc[0, VIEWS["fundamentals"]].isna().all()  # before the first filing
    assert filed[1] == first
    assert filed[2] == filings[-4] and filed[3] == later and filed[4] == later


# ---- Dagster ----------------------------------------------------------------------------------------------
def _online(store: Any, tickers: list[str]) -> dict[str, list[Any]]:
    refs = [f"{view}:{column}" for view, columns in VIEWS.items() for column in columns]
    return store.get_online_features(features=refs, entity_rows=[{"ticker": t} for t in tickers]).to_dict()


def test_dagster_materialization_is_recorded_and_idempotent(feast_lakehouse: FeastLakehouse) -> None:
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings

    first = feast_lakehouse.first_run
    registry = _metadata(first, "features/feast_registry")
    online = _metadata(first, "features/feast_online_features")
    assert registry["feature_views"] == sorted([*VIEWS, "return_model_predictions"])
    assert registry["feature_services"] == ["return_model_serving", "return_model_v1", "return_model_v2"]
    assert set(online["intervals"]) == set(VIEWS) and online["online_store"] == "sqlite"
    assert online["rows_written"]["price_features"] == 4  # AAPL, MSFT, NVDA, ^GSPC
    assert set(online["iceberg/snapshots"]) == {
        "gold.price_features",
        "gold.fundamental_features",
        "gold.ratio_features",
        "gold.filing_signal_features",
        "gold.company_sectors",
    }
    fundamentals = _metadata(first, "gold/fundamental_features")
    assert set(fundamentals["upstream_snapshots"]) == {"gold.income_statement", "gold.balance_sheet", "gold.cash_flow"}

    tickers = ["AAPL", "MSFT", "NVDA", "TSM", "MRVL", "SNOW", UNKNOWN]
    with contextmanager(session_env)(feast_lakehouse.gold.env):
        before = _online(feast_lakehouse.store(), tickers)
        again = feast_lakehouse.materialize()
        assert again.success
        after = _online(feast_lakehouse.store(), tickers)
        lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
        read_snapshots = _metadata(again, "features/feast_online_features")["iceberg/snapshots"]
        current = {t: str(lakehouse.current_snapshot_id(t)) for t in read_snapshots}
    rerun = _metadata(again, "features/feast_registry")
    assert rerun["applied"] is False and rerun["changes"] == []
    assert rerun["registry_fingerprint"] == registry["registry_fingerprint"]
    assert after == before  # same online values
    assert read_snapshots == current  # the snapshots Feast read are the tables' current ones


def test_registry_is_reapplied_when_the_definitions_change(
    feast_lakehouse: FeastLakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finance_assets.features import assets as feature_assets
    from finance_assets.features.store import load_definitions

    def edited() -> Any:
        repo = load_definitions()
        view = next(v for v in repo.feature_views if v.name == "fundamentals")
        view.description = f"{view.description} (edited)"
        return repo

    original = _metadata(feast_lakehouse.first_run, "features/feast_registry")["registry_fingerprint"]
    with contextmanager(session_env)(feast_lakehouse.gold.env):
        monkeypatch.setattr(feature_assets, "load_definitions", edited)
        changed = _metadata(feast_lakehouse.materialize(["features/feast_registry"]), "features/feast_registry")
        assert feast_lakehouse.store().get_feature_view("fundamentals").description.endswith("(edited)")
        monkeypatch.undo()
        restored = _metadata(feast_lakehouse.materialize(["features/feast_registry"]), "features/feast_registry")
        assert not feast_lakehouse.store().get_feature_view("fundamentals").description.endswith("(edited)")
    assert changed["applied"] is True and changed["changes"] == ["update feature view fundamentals"]
    assert changed["registry_fingerprint"] != original
    assert restored["changes"] == ["update feature view fundamentals"]
    assert restored["registry_fingerprint"] == original


# ---- serving ------------------------------------------------------------------------------------------------
def latest_gold_rows(gold: GoldLakehouse, ticker: str) -> dict[str, Any]:
    """What the online store must hold for ``ticker``: its latest Gold rows (the online store has no TTL)."""
    con = _gold_sql(gold)
    today = pd.Timestamp(date.today(), tz="UTC")
    last_filed = con.execute(
        f"select max(filed_at) from fundamentals_known where ticker = '{ticker}' and filed_at <= current_date"
    ).fetchall()[0][0]
    stamps = [today, pd.Timestamp(last_filed, tz="UTC")]
    entities = pd.DataFrame({"ticker": [ticker, ticker], "event_timestamp": stamps, "row_id": [0, 1]})
    now, at_filing = (row.to_dict() for _, row in expected_features(gold, entities).iterrows())
    expected = {c: now[c] for c in (*SIGNAL_COLUMNS, *SECTOR_COLUMNS)}
    expected |= {c: at_filing[c] for c in (*FUNDAMENTAL_COLUMNS, *RATIO_COLUMNS, *DERIVED_RATIOS)}
    price = con.sql(f"select * from price_features where ticker = '{ticker}' order by trade_date desc limit 1").df()
    expected |= {c: price[c].iloc[0] if len(price) else None for c in PRICE_COLUMNS}
    return expected


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


@contextmanager
def feature_server(env: dict[str, str], log: Path, timeout: float = 300) -> Iterator[str]:
    """``python -m finance_assets.features serve`` on a free loopback port; stopped by PID (its group)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        *(sys.executable, "-m", "finance_assets.features", "serve"),
        *("--host", "127.0.0.1", "--port", str(port), "--max-requests", "0", "--no-access-log"),
    ]
    env = {**os.environ, **env}
    with running("feast serve", argv, log, ready=f"{base}/health", timeout=timeout, env=env, cwd=REPO_ROOT):
        yield base


def test_feature_server_answers_with_latest_gold_rows_within_ttl_and_nulls_for_unknown(
    feast_lakehouse: FeastLakehouse, tmp_path: Path
) -> None:
    """AAPL's latest Gold rows where they are younger than their view's TTL, null (OUTSIDE_MAX_AGE) where older."""
    gold = feast_lakehouse.gold
    service = feast_lakehouse.store().get_feature_service("return_model_v1")
    view_of = {f.name: p.name for p in service.feature_view_projections for f in p.features}
    ttl_days = {"price_features": PRICES_TTL_DAYS, "fundamentals": FUNDAMENTALS_TTL_DAYS}
    ttl_days["financial_ratios"] = FUNDAMENTALS_TTL_DAYS
    expected = latest_gold_rows(gold, "AAPL")
    with feature_server(gold.env, tmp_path / "serve.log") as base:
        body = _post(
            f"{base}/get-online-features",
            {"feature_service": "return_model_v1", "entities": {"ticker": ["AAPL", UNKNOWN]}},
        )
    now = datetime.now(UTC)
    columns = body["metadata"]["feature_names"]
    assert columns[0] == "ticker" and sorted(columns[1:]) == sorted(view_of)
    results = dict(zip(columns, body["results"], strict=True))
    assert results["ticker"]["values"] == ["AAPL", UNKNOWN]
    assert all(r["values"][1] is None for name, r in results.items() if name != "ticker")  # nulls, no error
    for name, view in view_of.items():
        stamp = datetime.fromisoformat(results[name]["event_timestamps"][0].replace("Z", "+00:00"))
        got, status = results[name]["values"][0], results[name]["statuses"][0]
        if now - stamp > timedelta(days=ttl_days[view]):
            assert (got, status) == (None, "OUTSIDE_MAX_AGE"), name  # never served as current
            continue
        want = _value(expected[name])
        if name == "filed_at":  # a UnixTimestamp feature: ISO-8601 over HTTP
            assert got == f"{want.isoformat()}T00:00:00Z", (got, want)
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-9), name
        else:
            assert got == want, name


def test_redis_online_store_returns_nulls_for_an_unknown_ticker(
    feast_lakehouse: FeastLakehouse, tmp_path: Path
) -> None:
    """The same definitions on Redis (db 11, flushed before and after): PRESENT statuses, null values."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=11)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from finance_assets.features.store import load_definitions

    client.flushdb()
    try:
        with contextmanager(session_env)(feast_lakehouse.gold.env):
            store = feast_lakehouse.store(
                online_store={"type": "redis", "connection_string": "127.0.0.1:6379,db=11"},
                # its own registry: the materialization intervals of this store must not move the sqlite ones
                registry={"registry_type": "sql", "path": f"sqlite:///{tmp_path}/registry.db"},
            )
            repo = load_definitions()
            store.apply([*repo.entities, *repo.data_sources, *repo.feature_views, *repo.feature_services])
            # the Gold views (ml.predictions is written later, by the ML stage)
            store.materialize(datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC), feature_views=sorted(VIEWS))
            got = _online(store, ["AAPL", UNKNOWN])
            response = store.get_online_features(
                features=["price_features:momentum_21d"], entity_rows=[{"ticker": UNKNOWN}]
            ).to_dict(include_event_timestamps=False)
        expected = latest_gold_rows(feast_lakehouse.gold, "AAPL")
        for column in [c for columns in VIEWS.values() for c in columns]:
            assert got[column][1] is None, column  # unknown ticker: null values (Redis says PRESENT)
            want = _value(expected[column])
            if isinstance(want, float):
                assert got[column][0] == pytest.approx(want, rel=1e-9), column
            elif column != "filed_at":
                assert got[column][0] == want, column
        assert response["momentum_21d"] == [None]
    finally:
        client.flushdb()


# ---- reproducible training export ------------------------------------------------------------------------
def test_training_export_is_rebuilt_identically_from_recorded_snapshots(feast_lakehouse: FeastLakehouse) -> None:
    from finance_assets.core.iceberg import IcebergLakehouse
    from finance_assets.core.settings import Settings
    from finance_assets.features.sources import SnapshotPinError
    from finance_assets.features.training import build_training_frame

    days = pd.bdate_range("2022-06-01", "2023-10-27", freq="BME")
    entities = pd.DataFrame(
        [(t, d) for d in days for t in ("AAPL", "MSFT", "NVDA", "TSM")], columns=["ticker", "event_timestamp"]
    )
    entities["event_timestamp"] = entities["event_timestamp"].dt.tz_localize("UTC")
    entities["label"] = range(len(entities))  # extra columns ride along, in the caller's row order
    table = "gold.ratio_features"
    with contextmanager(session_env)(feast_lakehouse.gold.env):
        lakehouse = IcebergLakehouse.from_settings(Settings.from_env())
        store = feast_lakehouse.store()
        original = lakehouse.read(table)
        frame, snapshots = build_training_frame(entities, feature_service=V1, store=store, lakehouse=lakehouse)
        assert snapshots == {
            t: lakehouse.current_snapshot_id(t)
            for t in ("gold.fundamental_features", "gold.price_features", "gold.ratio_features")
        }
        assert list(frame["label"]) == list(entities["label"]) and frame["net_margin"].notna().sum() > 20
        try:
            # a new snapshot of one source table: the ratios change
            lakehouse.write(table, original.with_columns(pl.col("net_margin") * 2))
            now, now_snapshots = build_training_frame(entities, feature_service=V1, store=store, lakehouse=lakehouse)
            assert now_snapshots[table] != snapshots[table]
            assert not now["net_margin"].equals(frame["net_margin"])
            rebuilt, rebuilt_snapshots = build_training_frame(
                entities, feature_service=V1, snapshots=snapshots, store=store, lakehouse=lakehouse
            )
            assert rebuilt_snapshots == snapshots
            pd.testing.assert_frame_equal(rebuilt, frame)
            with pytest.raises(SnapshotPinError, match="do not cover"):
                build_training_frame(
                    entities, feature_service=V1, snapshots={table: snapshots[table]}, store=store, lakehouse=lakehouse
                )
        finally:
            lakehouse.write(table, original)  # other tests of the session read the original rows
