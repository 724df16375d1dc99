"""FMP payloads -> one fixed, typed schema per table, whichever API shape (``stable`` or legacy ``v3``) answered.

FMP serves the same data in two shapes: the current ``/stable/...`` API and the legacy ``/api/v3/...``
API (retired for keys issued after 2025-08-31). Field names differ between them, sometimes only by a
typo. Every table here is declared as an explicit list of :class:`Field` s, each naming its column, the
``stable`` field and the ``v3`` field it is read from, so the mapping is written down once and visible:

Differences that matter (stable <- v3), all spelled out in the tables below:

* header: ``fiscalYear`` <- ``calendarYear`` (v3's "calendar" year is the fiscal year: AAPL's quarter
  ending 2022-12-31 says 2023), ``filingDate`` <- ``fillingDate`` (sic); ``period`` is ``FY``/``Q1``..``Q4``
  in both;
* income statement: ``epsDiluted`` <- ``epsdiluted``;
* balance sheet: ``otherTotalStockholdersEquity`` <- ``othertotalStockholdersEquity``;
* cash flow: ``otherInvestingActivities`` <- ``otherInvestingActivites``, ``otherFinancingActivities`` <-
  ``otherFinancingActivites``, ``netCashProvidedByInvestingActivities`` <- ``netCashUsedForInvestingActivites``,
  ``netCashProvidedByFinancingActivities`` <- ``netCashUsedProvidedByFinancingActivities``,
  ``commonStockIssuance`` <- ``commonStockIssued``, ``netDividendsPaid`` <- ``dividendsPaid``;
* key metrics and ratios: see ``KEY_METRICS_V3_RENAMES`` / ``RATIOS_V3_RENAMES``
  (``enterpriseValueOverEBITDA`` -> ``evToEBITDA``, ``roe`` -> ``returnOnEquity``, ``debtEquityRatio`` ->
  ``debtToEquityRatio`` ...). No v3 key-metrics/ratios responses are recorded: those renames follow FMP's
  documented v3 fields, and were checked against values (e.g. v3 ``debtRatio`` is total debt / total
  assets, as stable's ``debtToAssetsRatio``);
* profile: the word ``exchange`` changed meaning: stable ``exchange`` (``NASDAQ``) <- v3
  ``exchangeShortName``, stable ``exchangeFullName`` <- v3 ``exchange``; ``marketCap`` <- ``mktCap``,
  ``averageVolume`` <- ``volAvg``, ``lastDividend`` <- ``lastDiv``, ``change`` <- ``changes``.

Column set of the five period tables (``fmp_income_statement``, ``fmp_balance_sheet``, ``fmp_cash_flow``,
``fmp_key_metrics``, ``fmp_ratios``), in this order:

* ``ticker`` (the partition key), ``date`` (pl.Date, period end), ``period`` (``FY``, ``Q1``..``Q4``),
  ``fiscal_year`` (Int32), ``reported_currency``;
* statements only: ``cik`` (10 digits), ``filing_date`` (Date), ``accepted_date`` (Datetime, as FMP gives
  it, US Eastern wall time);
* the line items / metrics as Float64, named by snake-casing the ``stable`` field (FMP's
  ``Developement`` spelling is corrected);
* statements only: v3-only items (``debt_repayment``, ``total_liabilities_and_stockholders_equity``) and
  v3's SEC filing links ``link`` / ``final_link`` (null for stable rows);
* ``api`` (``stable``/``v3``), ``payload_sha256`` (the archived response the row came from),
  ``fetched_at`` (UTC).

A field one shape lacks is null in rows from that shape. v3 fields that are deliberately not kept are
listed with the reason in each table's ``ignored`` (e.g. v3's margin ratios in the income statement: derivable, and
``fmp_ratios`` has them). Any other field in a payload is reported as *unmapped* (materialisation
metadata and a WARN check), so a change on FMP's side is seen, never silently dropped or guessed.

``fmp_profile`` is a snapshot, one row per ticker: see :data:`PROFILE`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import polars as pl

Api = Literal["stable", "v3"]
APIS: tuple[Api, ...] = ("stable", "v3")
PERIODS: tuple[str, ...] = ("FY", "Q1", "Q2", "Q3", "Q4")
KEY_COLUMNS: tuple[str, ...] = ("ticker", "date", "period")


@dataclass(frozen=True)
class Field:
    """One column: read from ``stable`` in stable payloads and ``v3`` in v3 payloads (None: absent there)."""

    column: str
    stable: str | None
    v3: str | None
    dtype: pl.DataType = field(default_factory=pl.Float64)

    def source(self, api: Api) -> str | None:
        return self.stable if api == "stable" else self.v3


@dataclass(frozen=True)
class TableSpec:
    table: str  # Iceberg table name in the bronze namespace, e.g. "fmp_balance_sheet"
    endpoint: str  # FMP endpoint path segment, the same in both APIs
    description: str
    fields: tuple[Field, ...]
    ignored: Mapping[str, str] = field(default_factory=dict)  # payload field -> why it is not kept
    periodic: bool = True

    @property
    def key(self) -> tuple[str, ...]:
        return KEY_COLUMNS if self.periodic else ("ticker",)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {
            "ticker": pl.String(),
            **{f.column: f.dtype for f in self.fields},
            "api": pl.String(),
            "payload_sha256": pl.String(),
            "fetched_at": pl.Datetime("us", "UTC"),
        }

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def consumed(self, api: Api) -> frozenset[str]:
        """Payload fields this table reads or knowingly ignores for ``api`` (``symbol`` is checked)."""
        return frozenset({"symbol", *self.ignored, *(s for f in self.fields if (s := f.source(api)))})

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


# ---- building the field lists ------------------------------------------------------------------------

_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
# FMP spellings not worth carrying into column names.
_COLUMN_FIXES = {"developement": "development"}


def snake(name: str) -> str:
    """``evToEBITDA`` -> ``ev_to_ebitda``, ``netIncomePerEBT`` -> ``net_income_per_ebt``."""
    text = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    for wrong, right in _COLUMN_FIXES.items():
        text = text.replace(wrong, right)
    return text


def _items(stable_names: str, v3_renames: Mapping[str, str] | None = None) -> tuple[Field, ...]:
    """Float64 items named by the stable fields; ``v3_renames`` maps a v3 field onto a stable one.

    A stable field without a rename is read from the v3 field of the same name (null if v3 lacks it).
    """
    names = stable_names.split()
    by_stable = {stable: v3 for v3, stable in (v3_renames or {}).items()}
    unknown = set(by_stable) - set(names)
    if unknown:  # a rename pointing at nothing is a typo in this module: fail at import
        raise ValueError(f"v3 renames target unknown stable fields: {sorted(unknown)}")
    return tuple(Field(snake(n), n, by_stable.get(n, n)) for n in names)


def _names(text: str) -> list[str]:
    """Whitespace-separated field names (kept as one readable block in the source)."""
    return text.split()


def _v3_only(*v3_names: str) -> tuple[Field, ...]:
    return tuple(Field(snake(n), None, n) for n in v3_names)


_DATE = Field("date", "date", "date", pl.Date())
_PERIOD = Field("period", "period", "period", pl.String())
_FISCAL_YEAR = Field("fiscal_year", "fiscalYear", "calendarYear", pl.Int32())
_CURRENCY = Field("reported_currency", "reportedCurrency", "reportedCurrency", pl.String())
STATEMENT_HEADER: tuple[Field, ...] = (
    _DATE,
    _PERIOD,
    _FISCAL_YEAR,
    _CURRENCY,
    Field("cik", "cik", "cik", pl.String()),
    Field("filing_date", "filingDate", "fillingDate", pl.Date()),
    Field("accepted_date", "acceptedDate", "acceptedDate", pl.Datetime("us")),
)
METRIC_HEADER: tuple[Field, ...] = (_DATE, _PERIOD, _FISCAL_YEAR, _CURRENCY)
STATEMENT_LINKS: tuple[Field, ...] = (
    Field("link", None, "link", pl.String()),
    Field("final_link", None, "finalLink", pl.String()),
)

# ---- income statement --------------------------------------------------------------------------------

INCOME_V3_RENAMES = {"epsdiluted": "epsDiluted"}
INCOME = TableSpec(
    table="fmp_income_statement",
    endpoint="income-statement",
    description="FMP income statements, annual (FY) and quarterly (Q1-Q4), one row per (ticker, date, period).",
    fields=(
        *STATEMENT_HEADER,
        *_items(
            """revenue costOfRevenue grossProfit researchAndDevelopmentExpenses generalAndAdministrativeExpenses
            sellingAndMarketingExpenses sellingGeneralAndAdministrativeExpenses otherExpenses operatingExpenses
            costAndExpenses netInterestIncome interestIncome interestExpense depreciationAndAmortization ebitda
            ebit nonOperatingIncomeExcludingInterest operatingIncome totalOtherIncomeExpensesNet incomeBeforeTax
            incomeTaxExpense netIncomeFromContinuingOperations netIncomeFromDiscontinuedOperations
            otherAdjustmentsToNetIncome netIncome netIncomeDeductions bottomLineNetIncome eps epsDiluted
            weightedAverageShsOut weightedAverageShsOutDil""",
            INCOME_V3_RENAMES,
        ),
        *STATEMENT_LINKS,
    ),
    ignored={
        name: "v3 margin ratio: derivable from the line items, and bronze.fmp_ratios holds FMP's margins"
        for name in (
            "grossProfitRatio",
            "ebitdaratio",
            "operatingIncomeRatio",
            "incomeBeforeTaxRatio",
            "netIncomeRatio",
        )
    },
)

# ---- balance sheet -----------------------------------------------------------------------------------

BALANCE_V3_RENAMES = {"othertotalStockholdersEquity": "otherTotalStockholdersEquity"}
BALANCE = TableSpec(
    table="fmp_balance_sheet",
    endpoint="balance-sheet-statement",
    description="FMP balance sheets, annual (FY) and quarterly (Q1-Q4), one row per (ticker, date, period).",
    fields=(
        *STATEMENT_HEADER,
        *_items(
            """cashAndCashEquivalents shortTermInvestments cashAndShortTermInvestments netReceivables
            accountsReceivables otherReceivables inventory prepaids otherCurrentAssets totalCurrentAssets
            propertyPlantEquipmentNet goodwill intangibleAssets goodwillAndIntangibleAssets longTermInvestments
            taxAssets otherNonCurrentAssets totalNonCurrentAssets otherAssets totalAssets totalPayables
            accountPayables otherPayables accruedExpenses shortTermDebt capitalLeaseObligationsCurrent
            taxPayables deferredRevenue otherCurrentLiabilities totalCurrentLiabilities longTermDebt
            capitalLeaseObligationsNonCurrent deferredRevenueNonCurrent deferredTaxLiabilitiesNonCurrent
            otherNonCurrentLiabilities totalNonCurrentLiabilities otherLiabilities capitalLeaseObligations
            totalLiabilities treasuryStock preferredStock commonStock retainedEarnings additionalPaidInCapital
            accumulatedOtherComprehensiveIncomeLoss otherTotalStockholdersEquity totalStockholdersEquity
            totalEquity minorityInterest totalLiabilitiesAndTotalEquity totalInvestments totalDebt netDebt""",
            BALANCE_V3_RENAMES,
        ),
        *_v3_only("totalLiabilitiesAndStockholdersEquity"),
        *STATEMENT_LINKS,
    ),
)

# ---- cash flow ---------------------------------------------------------------------------------------

CASH_FLOW_V3_RENAMES = {
    "otherInvestingActivites": "otherInvestingActivities",
    "netCashUsedForInvestingActivites": "netCashProvidedByInvestingActivities",
    "commonStockIssued": "commonStockIssuance",
    "dividendsPaid": "netDividendsPaid",
    "otherFinancingActivites": "otherFinancingActivities",
    "netCashUsedProvidedByFinancingActivities": "netCashProvidedByFinancingActivities",
}
CASH_FLOW = TableSpec(
    table="fmp_cash_flow",
    endpoint="cash-flow-statement",
    description="FMP cash flow statements, annual (FY) and quarterly (Q1-Q4), one row per (ticker, date, period).",
    fields=(
        *STATEMENT_HEADER,
        *_items(
            """netIncome depreciationAndAmortization deferredIncomeTax stockBasedCompensation
            changeInWorkingCapital accountsReceivables inventory accountsPayables otherWorkingCapital
            otherNonCashItems netCashProvidedByOperatingActivities investmentsInPropertyPlantAndEquipment
            acquisitionsNet purchasesOfInvestments salesMaturitiesOfInvestments otherInvestingActivities
            netCashProvidedByInvestingActivities netDebtIssuance longTermNetDebtIssuance
            shortTermNetDebtIssuance netStockIssuance netCommonStockIssuance commonStockIssuance
            commonStockRepurchased netPreferredStockIssuance netDividendsPaid commonDividendsPaid
            preferredDividendsPaid otherFinancingActivities netCashProvidedByFinancingActivities
            effectOfForexChangesOnCash netChangeInCash cashAtEndOfPeriod cashAtBeginningOfPeriod
            operatingCashFlow capitalExpenditure freeCashFlow incomeTaxesPaid interestPaid""",
            CASH_FLOW_V3_RENAMES,
        ),
        # v3's repayments only; stable reports net issuance (net_debt_issuance), a different quantity.
        *_v3_only("debtRepayment"),
        *STATEMENT_LINKS,
    ),
)

# ---- key metrics -------------------------------------------------------------------------------------

KEY_METRICS_V3_RENAMES = {
    "enterpriseValueOverEBITDA": "evToEBITDA",
    "roe": "returnOnEquity",
    "roic": "returnOnInvestedCapital",
    "researchAndDdevelopementToRevenue": "researchAndDevelopementToRevenue",
    "daysSalesOutstanding": "daysOfSalesOutstanding",
    "daysPayablesOutstanding": "daysOfPayablesOutstanding",
    "daysOfInventoryOnHand": "daysOfInventoryOutstanding",
}
_MOVED_TO_RATIOS = "v3 key-metrics field that the stable API serves from ratios: see bronze.fmp_ratios"
KEY_METRICS = TableSpec(
    table="fmp_key_metrics",
    endpoint="key-metrics",
    description=(
        "FMP key metrics (valuation, returns, efficiency), annual and quarterly, one row per (ticker, date, period)."
    ),
    fields=(
        *METRIC_HEADER,
        *_items(
            """marketCap enterpriseValue evToSales evToOperatingCashFlow evToFreeCashFlow evToEBITDA
            netDebtToEBITDA currentRatio incomeQuality grahamNumber grahamNetNet taxBurden interestBurden
            workingCapital investedCapital returnOnAssets operatingReturnOnAssets returnOnTangibleAssets
            returnOnEquity returnOnInvestedCapital returnOnCapitalEmployed earningsYield freeCashFlowYield
            capexToOperatingCashFlow capexToDepreciation capexToRevenue salesGeneralAndAdministrativeToRevenue
            researchAndDevelopementToRevenue stockBasedCompensationToRevenue intangiblesToTotalAssets
            averageReceivables averagePayables averageInventory daysOfSalesOutstanding daysOfPayablesOutstanding
            daysOfInventoryOutstanding operatingCycle cashConversionCycle freeCashFlowToEquity freeCashFlowToFirm
            tangibleAssetValue netCurrentAssetValue""",
            KEY_METRICS_V3_RENAMES,
        ),
    ),
    ignored={
        name: _MOVED_TO_RATIOS
        for name in _names(
            """revenuePerShare netIncomePerShare operatingCashFlowPerShare freeCashFlowPerShare cashPerShare
            bookValuePerShare tangibleBookValuePerShare shareholdersEquityPerShare interestDebtPerShare
            capexPerShare peRatio priceToSalesRatio pocfratio pfcfRatio pbRatio ptbRatio debtToEquity
            debtToAssets interestCoverage dividendYield payoutRatio receivablesTurnover payablesTurnover
            inventoryTurnover"""
        )
    },
)

# ---- ratios ------------------------------------------------------------------------------------------

RATIOS_V3_RENAMES = {
    "ebitPerRevenue": "ebitMargin",
    "debtRatio": "debtToAssetsRatio",  # total debt / total assets in both (checked on AAPL FY2024)
    "debtEquityRatio": "debtToEquityRatio",
    "totalDebtToCapitalization": "debtToCapitalRatio",
    "longTermDebtToCapitalization": "longTermDebtToCapitalRatio",
    "companyEquityMultiplier": "financialLeverageRatio",
    "interestCoverage": "interestCoverageRatio",
    "shortTermCoverageRatios": "shortTermOperatingCashFlowCoverageRatio",
    "cashFlowToDebtRatio": "operatingCashFlowCoverageRatio",
    "priceEarningsRatio": "priceToEarningsRatio",
    "priceEarningsToGrowthRatio": "priceToEarningsGrowthRatio",
    "priceToFreeCashFlowsRatio": "priceToFreeCashFlowRatio",
    "priceToOperatingCashFlowsRatio": "priceToOperatingCashFlowRatio",
    "priceFairValue": "priceToFairValue",
}
_MOVED_TO_KEY_METRICS = "v3 ratios field that the stable API serves from key-metrics: see bronze.fmp_key_metrics"
_DUPLICATE = "v3 duplicate of another v3 field that is kept"
RATIOS = TableSpec(
    table="fmp_ratios",
    endpoint="ratios",
    description="FMP financial ratios (margins, liquidity, leverage, valuation, per share), annual and quarterly.",
    fields=(
        *METRIC_HEADER,
        *_items(
            """grossProfitMargin ebitMargin ebitdaMargin operatingProfitMargin pretaxProfitMargin
            continuousOperationsProfitMargin netProfitMargin bottomLineProfitMargin receivablesTurnover
            payablesTurnover inventoryTurnover fixedAssetTurnover assetTurnover currentRatio quickRatio
            solvencyRatio cashRatio priceToEarningsRatio priceToEarningsGrowthRatio
            forwardPriceToEarningsGrowthRatio priceToBookRatio priceToSalesRatio priceToFreeCashFlowRatio
            priceToOperatingCashFlowRatio debtToAssetsRatio debtToEquityRatio debtToCapitalRatio
            longTermDebtToCapitalRatio financialLeverageRatio workingCapitalTurnoverRatio operatingCashFlowRatio
            operatingCashFlowSalesRatio freeCashFlowOperatingCashFlowRatio debtServiceCoverageRatio
            interestCoverageRatio shortTermOperatingCashFlowCoverageRatio operatingCashFlowCoverageRatio
            capitalExpenditureCoverageRatio dividendPaidAndCapexCoverageRatio dividendPayoutRatio dividendYield
            dividendYieldPercentage revenuePerShare netIncomePerShare interestDebtPerShare cashPerShare
            bookValuePerShare tangibleBookValuePerShare shareholdersEquityPerShare operatingCashFlowPerShare
            capexPerShare freeCashFlowPerShare netIncomePerEBT ebtPerEbit priceToFairValue debtToMarketCap
            effectiveTaxRate enterpriseValueMultiple dividendPerShare""",
            RATIOS_V3_RENAMES,
        ),
    ),
    ignored={
        **{
            name: _MOVED_TO_KEY_METRICS
            for name in _names(
                """daysOfSalesOutstanding daysOfInventoryOutstanding operatingCycle daysOfPayablesOutstanding
                cashConversionCycle returnOnAssets returnOnEquity returnOnCapitalEmployed"""
            )
        },
        "cashFlowCoverageRatios": f"{_DUPLICATE} (cashFlowToDebtRatio)",
        "priceBookValueRatio": f"{_DUPLICATE} (priceToBookRatio)",
        "priceSalesRatio": f"{_DUPLICATE} (priceToSalesRatio)",
        "priceCashFlowRatio": f"{_DUPLICATE} (priceToOperatingCashFlowsRatio)",
        "payoutRatio": f"{_DUPLICATE} (dividendPayoutRatio)",
    },
)

# ---- profile -----------------------------------------------------------------------------------------

PROFILE = TableSpec(
    table="fmp_profile",
    endpoint="profile",
    description=(
        "FMP company profile: identifiers, exchange, sector, description and a market snapshot; one row per ticker."
    ),
    fields=(
        Field("company_name", "companyName", "companyName", pl.String()),
        Field("cik", "cik", "cik", pl.String()),
        Field("isin", "isin", "isin", pl.String()),
        Field("cusip", "cusip", "cusip", pl.String()),
        # Same word, different meaning: stable's `exchange` is v3's `exchangeShortName`.
        Field("exchange", "exchange", "exchangeShortName", pl.String()),
        Field("exchange_full_name", "exchangeFullName", "exchange", pl.String()),
        Field("currency", "currency", "currency", pl.String()),
        Field("country", "country", "country", pl.String()),
        Field("sector", "sector", "sector", pl.String()),
        Field("industry", "industry", "industry", pl.String()),
        Field("ceo", "ceo", "ceo", pl.String()),
        Field("website", "website", "website", pl.String()),
        Field("description", "description", "description", pl.String()),
        Field("full_time_employees", "fullTimeEmployees", "fullTimeEmployees", pl.Int64()),
        Field("phone", "phone", "phone", pl.String()),
        Field("address", "address", "address", pl.String()),
        Field("city", "city", "city", pl.String()),
        Field("state", "state", "state", pl.String()),
        Field("zip", "zip", "zip", pl.String()),
        Field("image", "image", "image", pl.String()),
        Field("default_image", "defaultImage", "defaultImage", pl.Boolean()),
        Field("ipo_date", "ipoDate", "ipoDate", pl.Date()),
        Field("is_etf", "isEtf", "isEtf", pl.Boolean()),
        Field("is_actively_trading", "isActivelyTrading", "isActivelyTrading", pl.Boolean()),
        Field("is_adr", "isAdr", "isAdr", pl.Boolean()),
        Field("is_fund", "isFund", "isFund", pl.Boolean()),
        Field("price", "price", "price"),
        Field("beta", "beta", "beta"),
        Field("market_cap", "marketCap", "mktCap"),
        Field("last_dividend", "lastDividend", "lastDiv"),
        Field("range_52_weeks", "range", "range", pl.String()),
        Field("change", "change", "changes"),
        Field("change_percentage", "changePercentage", None),
        Field("volume", "volume", None),
        Field("average_volume", "averageVolume", "volAvg"),
    ),
    ignored={"dcf": "v3 valuation model output, not profile data", "dcfDiff": "v3 valuation model output"},
    periodic=False,
)

PERIOD_TABLES: tuple[TableSpec, ...] = (INCOME, BALANCE, CASH_FLOW, KEY_METRICS, RATIOS)
TABLES: tuple[TableSpec, ...] = (PROFILE, *PERIOD_TABLES)


# ---- values ------------------------------------------------------------------------------------------


class _Bad:
    """Marker for a present value that could not be read as the column's type (stored as null, counted)."""


_BAD = _Bad()


def _as_float(value: Any) -> float | _Bad | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return _BAD
    return _BAD


def _as_int(value: Any) -> int | _Bad | None:
    number = _as_float(value)
    if number is None or isinstance(number, _Bad):
        return number
    return int(number) if number.is_integer() else _BAD


def _as_date(value: Any) -> date | _Bad | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return _BAD


def _as_datetime(value: Any) -> datetime | _Bad | None:
    if value is None or value == "":
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return _BAD


def _as_bool(value: Any) -> bool | _Bad | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text, _BAD)


def _as_str(value: Any) -> str | _Bad | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return _BAD
    text = str(value).strip()
    return text or None


def _converter(dtype: pl.DataType):
    if dtype == pl.Float64:
        return _as_float
    if dtype in (pl.Int32, pl.Int64):
        return _as_int
    if dtype == pl.Date:
        return _as_date
    if isinstance(dtype, pl.Datetime):
        return _as_datetime
    if dtype == pl.Boolean:
        return _as_bool
    return _as_str


# ---- normalisation -----------------------------------------------------------------------------------


class PayloadShapeError(ValueError):
    """The payload is JSON but not a list of records (e.g. an FMP ``{"Error Message": ...}`` object)."""


@dataclass(frozen=True)
class Normalized:
    frame: pl.DataFrame
    unmapped_fields: tuple[str, ...]  # payload fields neither mapped nor knowingly ignored
    unreadable_values: int  # present values that did not parse as their column's type (stored as null)
    symbol_mismatches: int  # rows whose `symbol` is not the requested ticker (kept, counted)


def records(payload: Any) -> list[dict[str, Any]]:
    """The list of records of an FMP response; FMP answers a single object for some errors."""
    if isinstance(payload, list) and all(isinstance(r, dict) for r in payload):
        return payload
    if isinstance(payload, dict):
        message = payload.get("Error Message") or payload.get("message") or payload.get("error")
        detail = f": {str(message)[:200]!r}" if message else f" with keys {sorted(payload)[:8]}"
        raise PayloadShapeError(f"expected a JSON list of records, got an object{detail}")
    if isinstance(payload, list):
        bad = next(i for i, r in enumerate(payload) if not isinstance(r, dict))
        raise PayloadShapeError(
            f"expected a JSON list of records, item [{bad}] is {type(payload[bad]).__name__}, not an object"
        )
    raise PayloadShapeError(f"expected a JSON list of records, got {type(payload).__name__}")


def normalize(
    spec: TableSpec,
    rows: Sequence[Mapping[str, Any]],
    *,
    ticker: str,
    api: Api,
    payload_sha256: str,
    fetched_at: datetime,
) -> Normalized:
    """Rows of one ``api`` response -> ``spec``'s schema (same columns and dtypes for both shapes)."""
    if api not in APIS:
        raise ValueError(f"unknown FMP api {api!r}; expected one of {APIS}")
    columns: dict[str, list[Any]] = {}
    unreadable = 0
    for f in spec.fields:
        name = f.source(api)
        convert = _converter(f.dtype)
        values: list[Any] = []
        for row in rows:
            value = convert(row.get(name)) if name else None
            if isinstance(value, _Bad):
                unreadable += 1
                value = None
            values.append(value)
        columns[f.column] = values
    n = len(rows)
    data = {
        "ticker": [ticker] * n,
        **columns,
        "api": [api] * n,
        "payload_sha256": [payload_sha256] * n,
        "fetched_at": [fetched_at] * n,
    }
    frame = pl.DataFrame(data, schema=spec.schema, strict=False)
    consumed = spec.consumed(api)
    unmapped = sorted({k for row in rows for k in row if k not in consumed})
    mismatches = sum(1 for row in rows if str(row.get("symbol") or ticker).upper() != ticker.upper())
    return Normalized(frame, tuple(unmapped), unreadable, mismatches)


def merge(spec: TableSpec, frames: Iterable[tuple[Api, pl.DataFrame]]) -> pl.DataFrame:
    """One frame from every response; on a key (``ticker, date, period``) both APIs gave, stable wins.

    Duplicates *within* one API's answers are kept, so the blocking uniqueness check reports them
    instead of this function silently picking one.
    """
    parts = list(frames)
    stable = [f for api, f in parts if api == "stable"]
    legacy = [f for api, f in parts if api == "v3"]
    if not stable and not legacy:
        return spec.empty()
    ours = pl.concat(stable, how="vertical") if stable else spec.empty()
    theirs = pl.concat(legacy, how="vertical") if legacy else spec.empty()
    key = list(spec.key)
    theirs = theirs.join(ours.select(key).unique(), on=key, how="anti", nulls_equal=True)
    merged = pl.concat([ours, theirs], how="vertical")
    if spec.periodic:
        merged = merged.sort(["date", "period"], descending=[True, False], nulls_last=True, maintain_order=True)
    return merged.select(spec.columns)
