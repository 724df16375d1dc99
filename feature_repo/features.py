"""The lakehouse's Feast definitions: entity ``ticker``, four feature views over Gold Iceberg tables and the
feature service the return model trains on.

Applied by the Dagster asset ``feast_registry`` (or ``python -m finance_assets.features apply``). Every
source is a :class:`LakehouseIcebergSource`: the registry stores ``namespace.table`` only, the catalog comes
from the settings of the process that reads it.

Point in time: every timestamp is a date at 00:00 UTC (a filing or trading day). A feature row stamped D is
visible to entity rows stamped D or later: stamp an entity row with its decision date (features of the
close of D, filings public on D).
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast.types import Float64, Int32, Int64, String, UnixTimestamp

from finance_assets.features.sources import LakehouseIcebergSource

OWNER = "ml-platform@finance-lakehouse.invalid"
# A year of reporting lag: quarterly filers report every ~3 months, 20-F filers (TSM) once a year and up to
# four months after the year ends; 15 months keeps an annual filer's last report until the next one lands.
FUNDAMENTALS_TTL = timedelta(days=456)
# Daily bars: a long weekend plus a holiday is 4 days; a week without bars means the series stopped.
PRICES_TTL = timedelta(days=7)

ticker = Entity(
    name="ticker",
    join_keys=["ticker"],
    value_type=ValueType.STRING,
    description="Exchange ticker of a company in the universe (the Bronze company partition), e.g. AAPL.",
    owner=OWNER,
    tags={"domain": "companies"},
)


def _tags(domain: str, table: str, timestamp: str) -> dict[str, str]:
    return {"domain": domain, "layer": "gold", "source_table": table, "point_in_time": timestamp}


# ---- fundamentals: the three statements of the latest public period ------------------------------------
fundamental_features_source = LakehouseIcebergSource(
    name="gold_fundamental_features",
    table="gold.fundamental_features",
    timestamp_field="event_timestamp",
    description="gold.fundamental_features: per (ticker, filing date) the statements of the latest public period.",
    owner=OWNER,
    tags=_tags("fundamentals", "gold.fundamental_features", "filed_at"),
)

fundamentals = FeatureView(
    name="fundamentals",
    entities=[ticker],
    ttl=FUNDAMENTALS_TTL,
    source=fundamental_features_source,
    online=True,
    description=(
        "Income statement, balance sheet and cash flow of the most recent fiscal period public on the "
        "entity's date (first-reported values, never restated ones). A value exists only from the filing "
        "date (filed_at) on; before a company's first filing the features are null. 12m flows: the fiscal "
        "year for an annual row, the trailing twelve months for a quarterly row."
    ),
    owner=OWNER,
    tags=_tags("fundamentals", "gold.fundamental_features", "filed_at"),
    schema=[
        Field(name="period_type", dtype=String, description="FY (annual row) or Q (quarterly row)."),
        Field(name="fiscal_year", dtype=Int32, description="Fiscal year of the period."),
        Field(name="fiscal_period", dtype=String, description="FY, Q1, Q2, Q3 or Q4."),
        Field(name="currency", dtype=String, description="Reporting currency (ISO code) of the monetary values."),
        Field(name="filed_at", dtype=UnixTimestamp, description="Filing date: when these values became public."),
        Field(name="report_lag_days", dtype=Int64, description="Days from period end to the filing date."),
        Field(name="revenue", dtype=Float64, description="Revenue of the period (quarter or year)."),
        Field(name="net_income", dtype=Float64, description="Net income of the period."),
        Field(name="eps_diluted", dtype=Float64, description="Diluted EPS of the period."),
        Field(name="shares_diluted", dtype=Float64, description="Weighted diluted shares of the period."),
        Field(name="revenue_12m", dtype=Float64, description="Revenue, fiscal year or trailing twelve months."),
        Field(name="gross_profit_12m", dtype=Float64, description="Gross profit, fiscal year or TTM."),
        Field(name="operating_income_12m", dtype=Float64, description="Operating income, fiscal year or TTM."),
        Field(name="net_income_12m", dtype=Float64, description="Net income, fiscal year or TTM."),
        Field(name="operating_cash_flow_12m", dtype=Float64, description="Operating cash flow, year or TTM."),
        Field(name="capex_12m", dtype=Float64, description="Capital expenditure (positive = paid), year or TTM."),
        Field(name="free_cash_flow_12m", dtype=Float64, description="Operating cash flow - capex, year or TTM."),
        Field(name="total_assets", dtype=Float64, description="Total assets at period end."),
        Field(name="current_assets", dtype=Float64, description="Current assets at period end."),
        Field(name="cash_and_equivalents", dtype=Float64, description="Cash and equivalents at period end."),
        Field(name="total_liabilities", dtype=Float64, description="Total liabilities at period end (as reported)."),
        Field(name="current_liabilities", dtype=Float64, description="Current liabilities at period end."),
        Field(name="long_term_debt", dtype=Float64, description="Non-current long-term debt at period end."),
        Field(name="stockholders_equity", dtype=Float64, description="Equity of the parent's shareholders."),
        Field(name="shares_outstanding", dtype=Float64, description="Common shares outstanding at period end."),
    ],
)

# ---- financial ratios of the same period ---------------------------------------------------------------
ratio_features_source = LakehouseIcebergSource(
    name="gold_ratio_features",
    table="gold.ratio_features",
    timestamp_field="event_timestamp",
    description="gold.ratio_features: gold.financial_ratios of the period gold.fundamental_features chose.",
    owner=OWNER,
    tags=_tags("fundamentals", "gold.ratio_features", "filed_at"),
)

financial_ratios = FeatureView(
    name="financial_ratios",
    entities=[ticker],
    ttl=FUNDAMENTALS_TTL,
    source=ratio_features_source,
    online=True,
    description=(
        "KPIs of gold.financial_ratios for the same period as `fundamentals`, public from filed_at on. "
        "Valuation uses the last close on or before the filing date (null without a close in the 4 days "
        "before it, and for non-USD reporters)."
    ),
    owner=OWNER,
    tags=_tags("fundamentals", "gold.ratio_features", "filed_at"),
    schema=[
        Field(name="gross_margin", dtype=Float64, description="gross_profit / revenue."),
        Field(name="operating_margin", dtype=Float64, description="operating_income / revenue."),
        Field(name="net_margin", dtype=Float64, description="net_income / revenue."),
        Field(name="return_on_equity", dtype=Float64, description="Net income (year or TTM) / equity."),
        Field(name="return_on_assets", dtype=Float64, description="Net income (year or TTM) / total assets."),
        Field(name="working_capital", dtype=Float64, description="current_assets - current_liabilities."),
        Field(name="current_ratio", dtype=Float64, description="current_assets / current_liabilities."),
        Field(name="quick_ratio", dtype=Float64, description="(current_assets - inventory) / current_liabilities."),
        Field(name="debt_to_equity", dtype=Float64, description="(long-term + current debt) / equity."),
        Field(name="asset_turnover", dtype=Float64, description="Revenue (year or TTM) / total assets."),
        Field(name="free_cash_flow", dtype=Float64, description="operating_cash_flow - capex of the period."),
        Field(name="fcf_margin", dtype=Float64, description="free_cash_flow / revenue of the period."),
        Field(name="revenue_growth_yoy", dtype=Float64, description="Revenue / same period a year earlier - 1."),
        Field(name="eps_growth_yoy", dtype=Float64, description="Diluted EPS / same period a year earlier - 1."),
        Field(name="price_close", dtype=Float64, description="Close used for valuation (on or before filed_at)."),
        Field(name="market_cap", dtype=Float64, description="price_close x shares x split factor (USD only)."),
        Field(name="enterprise_value", dtype=Float64, description="market_cap + debt + minority - cash."),
        Field(name="pe_ratio", dtype=Float64, description="market_cap / net income (year or TTM), if positive."),
        Field(name="pb_ratio", dtype=Float64, description="market_cap / equity, if equity is positive."),
        Field(name="earnings_yield", dtype=Float64, description="Net income (year or TTM) / market_cap."),
    ],
)

# ---- daily price features --------------------------------------------------------------------------------
price_features_source = LakehouseIcebergSource(
    name="gold_price_features",
    table="gold.price_features",
    timestamp_field="trade_date",
    description="gold.price_features: daily features per ticker from bars up to the trading date.",
    owner=OWNER,
    tags=_tags("markets", "gold.price_features", "trade_date"),
)

price_features = FeatureView(
    name="price_features",
    entities=[ticker],
    ttl=PRICES_TTL,
    source=price_features_source,
    online=True,
    description=(
        "Daily price features of the trading date (bars up to and including its close; no look-ahead). "
        "Null when the last bar is more than 7 days old, and until a feature's window is full."
    ),
    owner=OWNER,
    tags=_tags("markets", "gold.price_features", "trade_date"),
    schema=[
        Field(name="close", dtype=Float64, description="Close (split-adjusted)."),
        Field(name="adj_close", dtype=Float64, description="Close adjusted for splits and dividends."),
        Field(name="volume", dtype=Float64, description="Shares traded."),
        Field(name="return_1d", dtype=Float64, description="adj_close / previous adj_close - 1."),
        Field(name="log_return_1d", dtype=Float64, description="ln(adj_close / previous adj_close)."),
        Field(name="momentum_21d", dtype=Float64, description="adj_close / adj_close 21 trading days earlier - 1."),
        Field(name="momentum_63d", dtype=Float64, description="adj_close / adj_close 63 trading days earlier - 1."),
        Field(name="momentum_126d", dtype=Float64, description="adj_close / adj_close 126 trading days before - 1."),
        Field(name="momentum_252d", dtype=Float64, description="adj_close / adj_close 252 trading days before - 1."),
        Field(name="realized_vol_20d", dtype=Float64, description="Annualised std of the last 20 log returns."),
        Field(name="realized_vol_60d", dtype=Float64, description="Annualised std of the last 60 log returns."),
        Field(name="vwap_20d", dtype=Float64, description="20-day volume-weighted typical price."),
        Field(name="volume_zscore_20d", dtype=Float64, description="Volume z-score against the 20 previous days."),
        Field(name="distance_from_52w_high", dtype=Float64, description="close / 252-day high - 1 (<= 0)."),
        Field(name="beta_252d", dtype=Float64, description="OLS beta of daily log returns on ^GSPC, 252 days."),
    ],
)

# ---- filing signals -----------------------------------------------------------------------------------------
filing_signal_features_source = LakehouseIcebergSource(
    name="gold_filing_signal_features",
    table="gold.filing_signal_features",
    timestamp_field="event_timestamp",
    description="gold.filing_signal_features: gold.filing_signals counted as of each date a count changes.",
    owner=OWNER,
    tags=_tags("filings", "gold.filing_signal_features", "signal_date"),
)

filing_signals = FeatureView(
    name="filing_signals",
    entities=[ticker],
    ttl=timedelta(0),  # a count holds until the next change point (rows exist at every change)
    source=filing_signal_features_source,
    online=True,
    description=(
        "Late-filing notices, amendments and restatements of the company as of the entity's date: in the "
        "trailing 365 days and in total since the first recorded filing. Null for a company with no signal "
        "yet (read it as 0)."
    ),
    owner=OWNER,
    tags=_tags("filings", "gold.filing_signal_features", "signal_date"),
    schema=[
        Field(name="late_filing_notices_365d", dtype=Int64, description="NT 10-K/10-Q/20-F in the last 365 days."),
        Field(name="amendments_365d", dtype=Int64, description="Amended periodic reports in the last 365 days."),
        Field(name="restatements_365d", dtype=Int64, description="Restated line items made public in 365 days."),
        Field(name="restatement_filings_365d", dtype=Int64, description="Filings that restated values, 365 days."),
        Field(name="late_filing_notices_total", dtype=Int64, description="Late-filing notices so far."),
        Field(name="amendments_total", dtype=Int64, description="Amendments so far."),
        Field(name="restatements_total", dtype=Int64, description="Restated line items so far."),
    ],
)

# ---- what the return model trains on ---------------------------------------------------------------------
# Kept in step with finance_assets/ml/spec.py (the model's own list): scale-free price features, the ratios
# as first reported, and the filing date (the model's days_since_filing = decision date - filed_at).
return_model_v1 = FeatureService(
    name="return_model_v1",
    features=[
        price_features[
            [
                "momentum_21d",
                "momentum_63d",
                "momentum_126d",
                "momentum_252d",
                "realized_vol_20d",
                "realized_vol_60d",
                "volume_zscore_20d",
                "distance_from_52w_high",
                "beta_252d",
            ]
        ],
        fundamentals[["period_type", "filed_at", "report_lag_days"]],
        financial_ratios[
            [
                "gross_margin",
                "operating_margin",
                "net_margin",
                "return_on_equity",
                "return_on_assets",
                "current_ratio",
                "debt_to_equity",
                "asset_turnover",
                "fcf_margin",
                "revenue_growth_yoy",
                "eps_growth_yoy",
            ]
        ],
    ],
    description=(
        "Inputs of the 21-day excess-return model (label gold.labels.forward_excess_log_return_21d): daily "
        "price features of the decision date plus the point-in-time fundamentals and ratios of the latest "
        "filing public on it."
    ),
    owner=OWNER,
    tags={"model": "return_model", "version": "1", "label_table": "gold.labels"},
)

__all__ = [
    "filing_signals",
    "financial_ratios",
    "fundamentals",
    "price_features",
    "return_model_v1",
    "ticker",
]
