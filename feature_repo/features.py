"""The lakehouse's Feast definitions: entity ``ticker``, one feature view per Gold Iceberg table (and one over
the model's predictions), and the feature services the return model trains on and serves.

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

from finance_assets.features import catalog
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


_DTYPES = {"float64": Float64, "int64": Int64, "int32": Int32, "string": String, "timestamp": UnixTimestamp}


def _schema(view: str) -> list[Field]:
    """The view's fields as the catalog describes them (one description per feature, defined once)."""
    return [Field(name=f.name, dtype=_DTYPES[f.dtype], description=f.description) for f in catalog.VIEWS[view]]


def _view(
    name: str,
    *,
    source_name: str,
    table: str,
    timestamp_field: str,
    point_in_time: str,
    domain: str,
    ttl: timedelta,
    source_description: str,
    description: str,
    layer: str = "gold",
) -> FeatureView:
    """One feature view over one lakehouse table (its source declared with it; fields from the catalog)."""
    tags = {"domain": domain, "layer": layer, "source_table": table, "point_in_time": point_in_time}
    source = LakehouseIcebergSource(
        name=source_name,
        table=table,
        timestamp_field=timestamp_field,
        description=source_description,
        owner=OWNER,
        tags=tags,
    )
    return FeatureView(
        name=name,
        entities=[ticker],
        ttl=ttl,
        source=source,
        online=True,
        description=description,
        owner=OWNER,
        tags=tags,
        schema=_schema(name),
    )


# ---- fundamentals: the three statements of the latest public period ------------------------------------
fundamentals = _view(
    "fundamentals",
    source_name="gold_fundamental_features",
    table="gold.fundamental_features",
    timestamp_field="event_timestamp",
    point_in_time="filed_at",
    domain="fundamentals",
    ttl=FUNDAMENTALS_TTL,
    source_description="gold.fundamental_features: per (ticker, filing date) the latest public period's statements.",
    description=(
        "Income statement, balance sheet and cash flow of the most recent fiscal period public on the "
        "entity's date (first-reported values, never restated ones). A value exists only from the filing "
        "date (filed_at) on; before a company's first filing the features are null. 12m flows: the fiscal "
        "year for an annual row, the trailing twelve months for a quarterly row."
    ),
)

# ---- financial ratios of the same period ---------------------------------------------------------------
financial_ratios = _view(
    "financial_ratios",
    source_name="gold_ratio_features",
    table="gold.ratio_features",
    timestamp_field="event_timestamp",
    point_in_time="filed_at",
    domain="fundamentals",
    ttl=FUNDAMENTALS_TTL,
    source_description="gold.ratio_features: gold.financial_ratios of the period gold.fundamental_features chose.",
    description=(
        "KPIs of gold.financial_ratios for the same period as `fundamentals`, public from filed_at on. "
        "Valuation uses the last close on or before the filing date (null without a close in the 4 days "
        "before it, and for non-USD reporters)."
    ),
)

# ---- daily price features --------------------------------------------------------------------------------
price_features = _view(
    "price_features",
    source_name="gold_price_features",
    table="gold.price_features",
    timestamp_field="trade_date",
    point_in_time="trade_date",
    domain="markets",
    ttl=PRICES_TTL,
    source_description="gold.price_features: daily features per ticker from bars up to the trading date.",
    description=(
        "Daily price features of the trading date (bars up to and including its close; no look-ahead). "
        "Null when the last bar is more than 7 days old, and until a feature's window is full."
    ),
)

# ---- filing signals -----------------------------------------------------------------------------------------
filing_signals = _view(
    "filing_signals",
    source_name="gold_filing_signal_features",
    table="gold.filing_signal_features",
    timestamp_field="event_timestamp",
    point_in_time="signal_date",
    domain="filings",
    ttl=timedelta(0),  # a count holds until the next change point (rows exist at every change)
    source_description="gold.filing_signal_features: gold.filing_signals counted as of each date a count changes.",
    description=(
        "Late-filing notices, amendments and restatements of the company as of the entity's date: in the "
        "trailing 365 days and in total since the first recorded filing. Null for a company with no signal "
        "yet (read it as 0)."
    ),
)

# ---- sectors: reference data, one row per ticker ------------------------------------------------------------
company_sectors = _view(
    "company_sectors",
    source_name="gold_company_sectors",
    table="gold.company_sectors",
    timestamp_field="valid_from",
    point_in_time="valid_from",
    domain="companies",
    ttl=timedelta(0),  # reference data: a sector holds on every date
    source_description="gold.company_sectors: per priced ticker its SIC code and sector (valid_from = the epoch).",
    description=(
        "The company's SIC code and sector, for every priced ticker (with SEC data or without): from its "
        "filing index when ingested, else SEC's 2021q1 Financial Statement Data Sets; Unknown otherwise."
    ),
)

# ---- the model's predictions (ml.predictions, written by the Dagster asset ml/predictions) ----------------
# Registered before its table exists (the ML stage runs after the features); ml/online_predictions
# materializes it into the online store after each prediction run (feast_online_features leaves it alone).
PREDICTIONS_TTL = timedelta(days=45)  # monthly predictions: the next month end, plus the time to run it

return_model_predictions = _view(
    "return_model_predictions",
    source_name="ml_predictions",
    table="ml.predictions",
    timestamp_field="as_of_date",
    point_in_time="as_of_date",
    domain="ml",
    layer="ml",
    ttl=PREDICTIONS_TTL,
    source_description="ml.predictions: p10/p50/p90 per (ticker, month end) from the champion model version.",
    description=(
        "The latest month-end prediction of return_model for the company: p10/p50/p90 of the 21-session "
        "forward excess log return, the model version and the as-of session. Null for a company the model "
        "has not predicted."
    ),
)

# ---- what the return model trains on ---------------------------------------------------------------------
# The lists live in finance_assets/features/catalog.py (the model imports the same ones); v1 and v2 both
# stay registered so runs on either compare like with like.
_VIEWS = {
    view.name: view
    for view in (
        fundamentals,
        financial_ratios,
        price_features,
        filing_signals,
        company_sectors,
        return_model_predictions,
    )
}


def _service(name: str, version: str) -> FeatureService:
    return FeatureService(
        name=name,
        features=[_VIEWS[view][list(features)] for view, features in catalog.SERVICES[name].items()],
        description=catalog.SERVICE_DESCRIPTIONS[name],
        owner=OWNER,
        tags={"model": "return_model", "version": version, "label_table": "gold.labels"},
    )


return_model_v1 = _service(catalog.SERVICE_V1, "1")
return_model_v2 = _service(catalog.SERVICE_V2, "2")
return_model_serving = FeatureService(
    name=catalog.SERVING_SERVICE,
    features=[_VIEWS[view][list(features)] for view, features in catalog.SERVING.items()],
    description=(
        "One call for a service that wants a prediction: the return_model_v2 inputs of the company and the "
        "model's latest prediction (p10/p50/p90, model version, as-of)."
    ),
    owner=OWNER,
    tags={"model": "return_model", "version": "2", "use": "serving"},
)

__all__ = [
    "company_sectors",
    "filing_signals",
    "financial_ratios",
    "fundamentals",
    "price_features",
    "return_model_predictions",
    "return_model_serving",
    "return_model_v1",
    "return_model_v2",
    "ticker",
]
