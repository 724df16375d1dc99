"""Feature tables derived from Gold: one row per (ticker, event time), the grain Feast's as-of join needs.

Feast picks, per entity row, the latest source row with ``event_timestamp <= t``. The Gold statements and
ratios are one row per (ticker, period_type, period_end), so a 10-K publishes two rows at one ``filed_at``
(the FY row and the derived Q4 row) and a first XBRL filing publishes several periods at once: Feast would
pick among them arbitrarily. The tables here resolve that once, explicitly:

- :func:`fundamental_features` / :func:`ratio_features`: for each (ticker, filing date) the most recent fiscal
  period public on that date (latest ``period_end``; a quarter before a fiscal year with the same end, so
  quarterly filers stay on quarterly rows with trailing-twelve-month flows). A filing that only published
  an older period than one already public adds no row (the newer period stays the answer).
  ``filed_at`` is the greatest ``filed_at`` of the three statements of the period (the same stamp as
  ``gold.financial_ratios``): every value of a row was public on that date.
- :func:`filing_signal_features`: gold.filing_signals is an event log; the features are counts as of a
  date. Rows are emitted at every date where a count changes: on each event, and 365 days later when the
  event leaves the trailing-year window (those rows may lie in the future: they take effect then).

Event timestamps are the date at 00:00 UTC: a filing of day D is visible to entity rows stamped D or later
(the Gold convention: usable from ``filed_at`` on; decisions are taken at the close).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

EVENT_TIMESTAMP = "event_timestamp"
SIGNAL_WINDOW = timedelta(days=365)
SIGNAL_TYPES = ("late_filing_notice", "amendment", "restatement")

STATEMENT_KEYS = ("ticker", "period_type", "period_end")
# value as first reported for the period's own flows, and the 12-month flows (FY: the year; Q: TTM)
FLOW_ITEMS = {
    "income_statement": ("revenue", "gross_profit", "operating_income", "net_income"),
    "cash_flow": ("operating_cash_flow", "capex", "free_cash_flow"),
}
PERIOD_ITEMS = {"income_statement": ("revenue", "net_income", "eps_diluted", "shares_diluted")}
BALANCE_ITEMS = (
    "total_assets",
    "current_assets",
    "cash_and_equivalents",
    "total_liabilities",
    "current_liabilities",
    "long_term_debt",
    "stockholders_equity",
    "shares_outstanding",
)
RATIO_COLUMNS = (
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
    "price_date",
    "price_close",
    "market_cap",
    "enterprise_value",
    "pe_ratio",
    "pb_ratio",
    "earnings_yield",
)


def event_timestamp(column: str) -> pl.Expr:
    """A date column as the UTC midnight timestamp Feast joins on."""
    return pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(EVENT_TIMESTAMP)


COMPLETENESS_ITEMS = (
    "revenue_12m",
    "net_income_12m",
    "operating_cash_flow_12m",
    "total_assets",
    "stockholders_equity",
)


def latest_known_period(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (ticker, filed_at): the most recent period public on ``filed_at`` (see module doc).

    Among the periods of one filing date: the latest ``period_end``, then the row with the most of
    :data:`COMPLETENESS_ITEMS` (a 20-F filer's FY row beats its balance-sheet-only Q4 row), then a quarter
    before a fiscal year (a 10-K filer's Q4 row carries the year as TTM and keeps its series quarterly).
    """
    if rows.is_empty():
        return rows
    completeness = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in COMPLETENESS_ITEMS])
    per_day = (
        rows.with_columns(_complete=completeness, _quarter=(pl.col("period_type") == "Q").cast(pl.Int64))
        .sort("ticker", "filed_at", "period_end", "_complete", "_quarter")
        .group_by("ticker", "filed_at", maintain_order=True)
        .last()
    )
    # a filing that only published periods older than one already public changes nothing
    seen = pl.col("period_end").cum_max().shift(1).over("ticker")
    newer = per_day.filter(seen.is_null() | (pl.col("period_end") >= seen))
    return newer.drop("_complete", "_quarter")


def fundamental_features(
    income_statement: pl.DataFrame, balance_sheet: pl.DataFrame, cash_flow: pl.DataFrame
) -> pl.DataFrame:
    """``gold.fundamental_features``: the three statements of the latest public period, per filing date."""
    meta = ("cik", "fiscal_year", "fiscal_period", "currency", "filed_at")
    income_cols = sorted({*PERIOD_ITEMS["income_statement"], *FLOW_ITEMS["income_statement"]})
    parts = {
        "i": income_statement.select(
            *STATEMENT_KEYS,
            *meta,
            *income_cols,
            *[f"{item}_ttm" for item in FLOW_ITEMS["income_statement"]],
        ),
        "b": balance_sheet.select(*STATEMENT_KEYS, *meta, *BALANCE_ITEMS),
        "c": cash_flow.select(
            *STATEMENT_KEYS,
            *meta,
            *FLOW_ITEMS["cash_flow"],
            *[f"{item}_ttm" for item in FLOW_ITEMS["cash_flow"]],
        ),
    }
    renamed = [frame.rename({c: f"{c}__{tag}" for c in meta}) for tag, frame in parts.items()]
    joined = renamed[0]
    for frame in renamed[1:]:
        joined = joined.join(frame, on=list(STATEMENT_KEYS), how="full", coalesce=True, nulls_equal=False)

    def coalesced(column: str) -> pl.Expr:
        return pl.coalesce([pl.col(f"{column}__{tag}") for tag in parts]).alias(column)

    is_fy = pl.col("period_type") == "FY"
    twelve_months = [
        pl.when(is_fy).then(pl.col(item)).otherwise(pl.col(f"{item}_ttm")).alias(f"{item}_12m")
        for items in FLOW_ITEMS.values()
        for item in items
    ]
    rows = joined.select(
        "ticker",
        coalesced("cik"),
        "period_type",
        coalesced("fiscal_year"),
        coalesced("fiscal_period"),
        "period_end",
        coalesced("currency"),
        pl.max_horizontal([pl.col(f"filed_at__{tag}") for tag in parts]).alias("filed_at"),
        *[pl.col(c) for c in ("revenue", "net_income", "eps_diluted", "shares_diluted")],
        *twelve_months,
        *[pl.col(c) for c in BALANCE_ITEMS],
    )
    out = latest_known_period(rows.filter(pl.col("filed_at").is_not_null())).with_columns(
        (pl.col("filed_at") - pl.col("period_end")).dt.total_days().cast(pl.Int64).alias("report_lag_days"),
        event_timestamp("filed_at"),
    )
    return out.select("ticker", EVENT_TIMESTAMP, *[c for c in out.columns if c not in ("ticker", EVENT_TIMESTAMP)])


VALUATION_INPUTS = (
    "stockholders_equity",
    "revenue_12m",
    "free_cash_flow_12m",
    "net_income_12m",
    "operating_cash_flow_12m",
    "total_assets",
)


def valuation_and_quality() -> list[pl.Expr]:
    """Feature set v2's valuation ratios (at the filing-date close of gold.financial_ratios, like its
    earnings_yield: a price the filing date knew) and accruals, from the same period's statements."""

    def per_cap(column: str) -> pl.Expr:
        cap = pl.col("market_cap")
        return pl.when(cap > 0).then(pl.col(column) / cap)

    return [
        per_cap("stockholders_equity").alias("book_to_market"),
        per_cap("revenue_12m").alias("sales_to_price"),
        per_cap("free_cash_flow_12m").alias("fcf_yield"),
        pl.when(pl.col("total_assets") > 0)
        .then((pl.col("net_income_12m") - pl.col("operating_cash_flow_12m")) / pl.col("total_assets"))
        .alias("accruals"),
    ]


def ratio_features(financial_ratios: pl.DataFrame, fundamentals: pl.DataFrame) -> pl.DataFrame:
    """``gold.ratio_features``: the KPIs of the period :func:`fundamental_features` chose, per filing date.

    The ratios' ``filed_at`` is the same stamp (greatest of the three statements), so the rows match
    one to one; the period choice is made once, on the statements.
    """
    keys = ["ticker", "period_type", "period_end", "filed_at"]
    rows = financial_ratios.select(*keys, "fiscal_year", "fiscal_period", *RATIO_COLUMNS)
    out = fundamentals.select(*keys, EVENT_TIMESTAMP, *VALUATION_INPUTS).join(rows, on=keys, how="inner")
    out = out.with_columns(valuation_and_quality()).drop(VALUATION_INPUTS)
    if out.height != fundamentals.height:
        missing = fundamentals.join(rows, on=keys, how="anti").select(keys)
        raise ValueError(
            f"gold.financial_ratios lacks {missing.height} periods of gold.fundamental_features "
            f"(are both built from the same statements?): {missing.head(5).to_dicts()}"
        )
    out = out.sort("ticker", EVENT_TIMESTAMP)
    return out.select("ticker", EVENT_TIMESTAMP, *[c for c in out.columns if c not in ("ticker", EVENT_TIMESTAMP)])


SIGNAL_COLUMNS = (
    "late_filing_notices_365d",
    "amendments_365d",
    "restatements_365d",
    "restatement_filings_365d",
    "late_filing_notices_total",
    "amendments_total",
    "restatements_total",
)


def filing_signal_features(filing_signals: pl.DataFrame) -> pl.DataFrame:
    """``gold.filing_signal_features``: per (ticker, as_of_date) the signal counts as of that date."""
    events = filing_signals.select("ticker", "signal_type", "signal_date", "accession_number")
    points = (
        pl.concat(
            [
                events.select("ticker", pl.col("signal_date").alias("as_of_date")),
                events.select("ticker", (pl.col("signal_date") + SIGNAL_WINDOW).alias("as_of_date")),
            ]
        )
        .unique()
        .sort("ticker", "as_of_date")
    )
    pairs = points.join(events, on="ticker", how="inner").filter(pl.col("signal_date") <= pl.col("as_of_date"))
    in_window = pl.col("signal_date") > pl.col("as_of_date") - SIGNAL_WINDOW

    def count(signal_type: str, window: bool) -> pl.Expr:
        condition = pl.col("signal_type") == signal_type
        if window:
            condition = condition & in_window
        return condition.sum().cast(pl.Int64)

    counts = (
        pairs.group_by("ticker", "as_of_date")
        .agg(
            count("late_filing_notice", True).alias("late_filing_notices_365d"),
            count("amendment", True).alias("amendments_365d"),
            count("restatement", True).alias("restatements_365d"),
            pl.col("accession_number")
            .filter((pl.col("signal_type") == "restatement") & in_window)
            .n_unique()
            .cast(pl.Int64)
            .alias("restatement_filings_365d"),
            count("late_filing_notice", False).alias("late_filing_notices_total"),
            count("amendment", False).alias("amendments_total"),
            count("restatement", False).alias("restatements_total"),
        )
        .sort("ticker", "as_of_date")
        .with_columns(event_timestamp("as_of_date"))
    )
    return counts.select("ticker", EVENT_TIMESTAMP, "as_of_date", *SIGNAL_COLUMNS)
