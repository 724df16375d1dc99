"""The feature catalog: every feature the lakehouse serves, its description, and the feature lists of each
model version, defined once.

``feature_repo/features.py`` builds its Feast schemas and feature services from these tables,
``finance_assets.ml`` trains and predicts on :data:`MODEL_FEATURES`, and the checks read the same lists.
Nothing here imports Feast (seconds to import): a field names its type as a string the repo maps.

Two model feature services stay side by side so MLflow runs compare like with like:

- ``return_model_v1``: 9 scale-free price features, 11 ratios as first reported, days since the filing.
- ``return_model_v2``: the market model: more technical features (short-term reversal, 12-1 momentum,
  RSI, idiosyncratic volatility, liquidity), valuation (earnings yield, book-to-market, sales-to-price,
  FCF yield), quality/growth (accruals), filing signals and the company's sector (from its SIC code).

Feast hands the model some columns in a serving form: a date (``filed_at``) becomes its age in days at
the decision date (``days_since_filing``) and a label (``period_type``) a number (``period_is_annual``).
:data:`DERIVED_FEATURES` names both sides of each such pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DType = Literal["float64", "int64", "int32", "string", "timestamp"]


@dataclass(frozen=True)
class Feature:
    """One served column: its name, type and what it means (shown in the Feast registry and UI)."""

    name: str
    dtype: DType
    description: str


def _f(name: str, description: str, dtype: DType = "float64") -> Feature:
    return Feature(name, dtype, description)


# ---- feature views (one per Gold source table) -------------------------------------------------------------
FUNDAMENTALS: tuple[Feature, ...] = (
    _f("period_type", "FY (annual row) or Q (quarterly row).", "string"),
    _f("fiscal_year", "Fiscal year of the period.", "int32"),
    _f("fiscal_period", "FY, Q1, Q2, Q3 or Q4.", "string"),
    _f("currency", "Reporting currency (ISO code) of the monetary values.", "string"),
    _f("filed_at", "Filing date: when these values became public.", "timestamp"),
    _f("report_lag_days", "Days from period end to the filing date.", "int64"),
    _f("revenue", "Revenue of the period (quarter or year)."),
    _f("net_income", "Net income of the period."),
    _f("eps_diluted", "Diluted EPS of the period."),
    _f("shares_diluted", "Weighted diluted shares of the period."),
    _f("revenue_12m", "Revenue, fiscal year or trailing twelve months."),
    _f("gross_profit_12m", "Gross profit, fiscal year or TTM."),
    _f("operating_income_12m", "Operating income, fiscal year or TTM."),
    _f("net_income_12m", "Net income, fiscal year or TTM."),
    _f("operating_cash_flow_12m", "Operating cash flow, year or TTM."),
    _f("capex_12m", "Capital expenditure (positive = paid), year or TTM."),
    _f("free_cash_flow_12m", "Operating cash flow - capex, year or TTM."),
    _f("total_assets", "Total assets at period end."),
    _f("current_assets", "Current assets at period end."),
    _f("cash_and_equivalents", "Cash and equivalents at period end."),
    _f("total_liabilities", "Total liabilities at period end (as reported)."),
    _f("current_liabilities", "Current liabilities at period end."),
    _f("long_term_debt", "Non-current long-term debt at period end."),
    _f("stockholders_equity", "Equity of the parent's shareholders."),
    _f("shares_outstanding", "Common shares outstanding at period end."),
)

FINANCIAL_RATIOS: tuple[Feature, ...] = (
    _f("gross_margin", "gross_profit / revenue."),
    _f("operating_margin", "operating_income / revenue."),
    _f("net_margin", "net_income / revenue."),
    _f("return_on_equity", "Net income (year or TTM) / equity."),
    _f("return_on_assets", "Net income (year or TTM) / total assets."),
    _f("working_capital", "current_assets - current_liabilities."),
    _f("current_ratio", "current_assets / current_liabilities."),
    _f("quick_ratio", "(current_assets - inventory) / current_liabilities."),
    _f("debt_to_equity", "(long-term + current debt) / equity."),
    _f("asset_turnover", "Revenue (year or TTM) / total assets."),
    _f("free_cash_flow", "operating_cash_flow - capex of the period."),
    _f("fcf_margin", "free_cash_flow / revenue of the period."),
    _f("revenue_growth_yoy", "Revenue / same period a year earlier - 1."),
    _f("eps_growth_yoy", "Diluted EPS / same period a year earlier - 1."),
    _f("price_close", "Close used for valuation (on or before filed_at)."),
    _f("market_cap", "price_close x shares x split factor (USD only)."),
    _f("enterprise_value", "market_cap + debt + minority - cash."),
    _f("pe_ratio", "market_cap / net income (year or TTM), if positive."),
    _f("pb_ratio", "market_cap / equity, if equity is positive."),
    _f("earnings_yield", "Net income (year or TTM) / market_cap (valuation at the filing-date close)."),
    _f("book_to_market", "Stockholders' equity / market_cap (valuation at the filing-date close)."),
    _f("sales_to_price", "Revenue (year or TTM) / market_cap (valuation at the filing-date close)."),
    _f("fcf_yield", "Free cash flow (year or TTM) / market_cap (valuation at the filing-date close)."),
    _f("accruals", "(Net income - operating cash flow), year or TTM, / total assets: earnings not in cash."),
)

PRICE_FEATURES: tuple[Feature, ...] = (
    _f("close", "Close (split-adjusted)."),
    _f("adj_close", "Close adjusted for splits and dividends."),
    _f("volume", "Shares traded."),
    _f("return_1d", "adj_close / previous adj_close - 1."),
    _f("log_return_1d", "ln(adj_close / previous adj_close)."),
    _f("momentum_5d", "adj_close / adj_close 5 trading days earlier - 1 (short-term reversal)."),
    _f("momentum_21d", "adj_close / adj_close 21 trading days earlier - 1."),
    _f("momentum_63d", "adj_close / adj_close 63 trading days earlier - 1."),
    _f("momentum_126d", "adj_close / adj_close 126 trading days before - 1."),
    _f("momentum_252d", "adj_close / adj_close 252 trading days before - 1."),
    _f("momentum_12_1", "adj_close 21 days ago / adj_close 252 days ago - 1 (12-1 momentum, skips the last month)."),
    _f("realized_vol_20d", "Annualised std of the last 20 log returns."),
    _f("realized_vol_60d", "Annualised std of the last 60 log returns."),
    _f("realized_vol_120d", "Annualised std of the last 120 log returns."),
    _f("vwap_20d", "20-day volume-weighted typical price."),
    _f("volume_zscore_20d", "Volume z-score against the 20 previous days."),
    _f("distance_from_52w_high", "close / 252-day high - 1 (<= 0): the drawdown from the 52-week high."),
    _f("beta_252d", "OLS beta of daily log returns on ^GSPC, 252 days."),
    _f("idiosyncratic_vol_252d", "Annualised std of the residuals of the 252-day beta regression on ^GSPC."),
    _f("rsi_14d", "Relative strength index over 14 days (simple averages of gains and losses, 0-100)."),
    _f("max_return_21d", "Largest daily return of the last 21 days (lottery-like stocks)."),
    _f("log_dollar_volume_20d", "ln of the mean daily close x volume over 20 days (size / liquidity)."),
    _f("amihud_illiquidity_20d", "Mean |return| / (close x volume) over 20 days, x 1e9 (price impact)."),
)

FILING_SIGNALS: tuple[Feature, ...] = (
    _f("late_filing_notices_365d", "NT 10-K/10-Q/20-F in the last 365 days.", "int64"),
    _f("amendments_365d", "Amended periodic reports in the last 365 days.", "int64"),
    _f("restatements_365d", "Restated line items made public in 365 days.", "int64"),
    _f("restatement_filings_365d", "Filings that restated values, 365 days.", "int64"),
    _f("late_filing_notices_total", "Late-filing notices so far.", "int64"),
    _f("amendments_total", "Amendments so far.", "int64"),
    _f("restatements_total", "Restated line items so far.", "int64"),
)

COMPANY_SECTORS: tuple[Feature, ...] = (
    _f("sic", "SIC industry code (filing index, else SEC's 2021q1 Financial Statement Data Sets).", "string"),
    _f("sector", "Sector of the SIC code (GICS-like groups; Unknown without a SIC).", "string"),
    _f("sector_code", "The sector as an integer the model splits on (0 = Unknown).", "int32"),
)

PREDICTIONS: tuple[Feature, ...] = (
    _f("pred_p10", "10th percentile of the 21-session forward excess log return over ^GSPC."),
    _f("pred_p50", "Median forecast of the 21-session forward excess log return over ^GSPC."),
    _f("pred_p90", "90th percentile of the 21-session forward excess log return over ^GSPC."),
    _f("model_version", "Registry version of return_model that made the prediction.", "string"),
    _f("prediction_as_of", "Month-end session the prediction is for (its features' as-of date).", "timestamp"),
)

VIEWS: dict[str, tuple[Feature, ...]] = {
    "fundamentals": FUNDAMENTALS,
    "financial_ratios": FINANCIAL_RATIOS,
    "price_features": PRICE_FEATURES,
    "filing_signals": FILING_SIGNALS,
    "company_sectors": COMPANY_SECTORS,
    "return_model_predictions": PREDICTIONS,
}

# Feast column -> the model's column (see the module docstring).
DERIVED_FEATURES: dict[str, str] = {"filed_at": "days_since_filing", "period_type": "period_is_annual"}

# ---- model feature services -----------------------------------------------------------------------------
SERVICE_V1 = "return_model_v1"
SERVICE_V2 = "return_model_v2"

V1_PRICE = (
    "momentum_21d",
    "momentum_63d",
    "momentum_126d",
    "momentum_252d",
    "realized_vol_20d",
    "realized_vol_60d",
    "volume_zscore_20d",
    "distance_from_52w_high",
    "beta_252d",
)
V1_RATIOS = (
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
)
V2_PRICE = (
    "momentum_5d",
    *V1_PRICE[:4],
    "momentum_12_1",
    "realized_vol_20d",
    "realized_vol_60d",
    "realized_vol_120d",
    "volume_zscore_20d",
    "distance_from_52w_high",
    "beta_252d",
    "idiosyncratic_vol_252d",
    "rsi_14d",
    "max_return_21d",
    "log_dollar_volume_20d",
    "amihud_illiquidity_20d",
)
V2_RATIOS = (
    *V1_RATIOS,
    "quick_ratio",
    "earnings_yield",
    "book_to_market",
    "sales_to_price",
    "fcf_yield",
    "accruals",
)
V2_SIGNALS = ("late_filing_notices_365d", "amendments_365d", "restatements_365d", "restatement_filings_365d")

# feature service -> feature view -> the view's features it serves (the Feast projection)
SERVICES: dict[str, dict[str, tuple[str, ...]]] = {
    SERVICE_V1: {
        "price_features": V1_PRICE,
        "fundamentals": ("period_type", "filed_at", "report_lag_days"),
        "financial_ratios": V1_RATIOS,
    },
    SERVICE_V2: {
        "price_features": V2_PRICE,
        "fundamentals": ("period_type", "filed_at", "report_lag_days"),
        "financial_ratios": V2_RATIOS,
        "filing_signals": V2_SIGNALS,
        "company_sectors": ("sector_code",),
    },
}
SERVICE_DESCRIPTIONS: dict[str, str] = {
    SERVICE_V1: (
        "Inputs of the 21-day excess-return model (label gold.labels.forward_excess_log_return_21d): daily "
        "price features of the decision date plus the point-in-time fundamentals and ratios of the latest "
        "filing public on it."
    ),
    SERVICE_V2: (
        "The market model's inputs (toward 50 features): v1 plus short-term reversal, 12-1 momentum, RSI, "
        "idiosyncratic volatility and liquidity; valuation (earnings yield, book-to-market, sales-to-price, "
        "FCF yield), accruals, late-filing/amendment/restatement counts and the sector. Fundamentals are null for a "
        "company without SEC data (XGBoost learns a direction for missing)."
    ),
}


# What a service calling the feature server asks for in ONE call: the model's inputs and its latest prediction.
SERVING_SERVICE = "return_model_serving"
SERVING: dict[str, tuple[str, ...]] = {
    **SERVICES[SERVICE_V2],
    "return_model_predictions": tuple(f.name for f in PREDICTIONS),
}


def model_features(service: str) -> tuple[str, ...]:
    """The model's input columns for a feature service, in the order Feast returns them (view by view),
    with :data:`DERIVED_FEATURES` renamed to the form the model reads."""
    if service not in SERVICES:
        raise ValueError(f"unknown feature service {service!r}; known: {sorted(SERVICES)}")
    return tuple(DERIVED_FEATURES.get(name, name) for names in SERVICES[service].values() for name in names)


def features_of(view: str, names: tuple[str, ...]) -> tuple[Feature, ...]:
    """The catalog entries of ``names`` in ``view`` (raises on a name the view does not serve)."""
    by_name = {f.name: f for f in VIEWS[view]}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"feature view {view} serves no {unknown}")
    return tuple(by_name[n] for n in names)


MODEL_FEATURES: dict[str, tuple[str, ...]] = {service: model_features(service) for service in SERVICES}
