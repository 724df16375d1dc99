"""Column schemas and descriptions of the feature tables (``gold/fundamental_features``, ``gold/ratio_features``,
``gold/filing_signal_features``) for the Dagster UI.

A feature column's sentence is its entry in :mod:`.catalog` (the one Feast shows too): :data:`FEATURE_DOCS`
collects them, so only the columns Feast does not serve (keys, timestamps, period bookkeeping) are written
here. The column lists come from :mod:`.tables`' constants, so a column added there without a sentence
fails :func:`finance_assets.core.columns.described_schema` at import. These are the definition's schemas (the
UI shows them before a first run); each materialization records the schema it wrote, with these sentences
(:func:`finance_assets.core.io_manager.column_schema`).
"""

from __future__ import annotations

import pyarrow as pa

from finance_assets.features import tables
from finance_assets.features.catalog import DERIVED_FEATURES, VIEWS


def _feature_docs() -> dict[str, str]:
    docs: dict[str, str] = {}
    for features in VIEWS.values():
        for feature in features:
            if docs.setdefault(feature.name, feature.description) != feature.description:
                raise ValueError(f"feature {feature.name} has two descriptions in the catalog")
    return docs


FEATURE_DOCS: dict[str, str] = _feature_docs()
"""Every served feature's description, by column name (one per concept, from the catalog)."""

DERIVED_DOCS: dict[str, str] = {
    "days_since_filing": "Age in days of the latest filing at the decision date (as_of_date - filed_at).",
    "period_is_annual": "1 if the latest filing's period is a fiscal year (period_type FY), 0 if a quarter.",
}
"""The model's serving forms of :data:`~.catalog.DERIVED_FEATURES` (Feast serves their sources)."""
assert set(DERIVED_DOCS) == set(DERIVED_FEATURES.values()), "describe every derived feature"

KEY_DOCS: dict[str, str] = {
    "ticker": "Company the row is for (the Feast entity).",
    "event_timestamp": "UTC midnight of the day the row's values became public: Feast's as-of join column.",
    "cik": "SEC Central Index Key, 10 digits with leading zeros.",
    "period_end": "Last day of the fiscal period the values are for.",
    "as_of_date": "Date the counts are as of (an event's date, or the day it leaves the 365-day window).",
    "price_date": "Session of price_close (the last one on or before filed_at).",
}

_TS = pa.timestamp("us", tz="UTC")
_KEYS = [("ticker", pa.string()), (tables.EVENT_TIMESTAMP, _TS)]
_PERIOD = [("period_type", pa.string()), ("fiscal_year", pa.int32()), ("fiscal_period", pa.string())]
_TYPES = {"int64": pa.int64(), "int32": pa.int32(), "string": pa.string(), "float64": pa.float64()}


def _typed(names: tuple[str, ...] | list[str], override: dict[str, pa.DataType] | None = None) -> list:
    """Catalog columns with their Arrow type (``override`` for columns stored unlike their Feast type)."""
    dtypes = {f.name: f.dtype for features in VIEWS.values() for f in features}
    override = override or {}
    return [(n, override.get(n) or _TYPES[dtypes[n]]) for n in names]


_TWELVE_MONTHS = [f"{item}_12m" for items in tables.FLOW_ITEMS.values() for item in items]
FUNDAMENTAL_FEATURES_SCHEMA = pa.schema(
    [
        *_KEYS,
        ("cik", pa.string()),
        _PERIOD[0],
        *_PERIOD[1:],
        ("period_end", pa.date32()),
        ("currency", pa.string()),
        ("filed_at", pa.date32()),
        *_typed(["revenue", "net_income", "eps_diluted", "shares_diluted", *_TWELVE_MONTHS, *tables.BALANCE_ITEMS]),
        ("report_lag_days", pa.int64()),
    ]
)
RATIO_FEATURES_SCHEMA = pa.schema(
    [
        *_KEYS,
        ("period_type", pa.string()),
        ("period_end", pa.date32()),
        ("filed_at", pa.date32()),
        *_PERIOD[1:],
        *_typed(tables.RATIO_COLUMNS, {"price_date": pa.date32()}),
        *_typed(("book_to_market", "sales_to_price", "fcf_yield", "accruals")),
    ]
)
FILING_SIGNAL_FEATURES_SCHEMA = pa.schema(
    [*_KEYS, ("as_of_date", pa.date32()), *_typed(tables.SIGNAL_COLUMNS)],
)

_ALL = {**KEY_DOCS, **FEATURE_DOCS}


def docs_for(schema: pa.Schema) -> dict[str, str]:
    """The sentences of ``schema``'s columns (a column without one is left out: described_schema names it)."""
    return {name: _ALL[name] for name in schema.names if name in _ALL}
