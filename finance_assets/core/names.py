"""Names defined once: the catalog, its namespaces, and the key of every asset Python code refers to.

An asset key and its Iceberg table are the same name (``bronze/edgar_filings`` is ``bronze.edgar_filings``,
see :func:`table_name`), so modules import the key from here and derive the table; nothing spells either
twice. dbt's own models are keyed by the dbt project (``transform/assets.py``); the Gold models that
Python reads are named here. FMP's six tables are derived from their specs (``fmp.assets.FMP_ASSET_KEYS``).
"""

from __future__ import annotations

import dagster as dg

CATALOG_NAME = "lakehouse"  # part of every Iceberg row's key: every reader and writer uses this name
NAMESPACES: tuple[str, ...] = ("bronze", "silver", "gold", "ml")
MARKET_BENCHMARK = "^GSPC"  # the market every excess return is measured against

# ---- Bronze -------------------------------------------------------------------------------------------------
SEC_COMPANY_TICKERS = dg.AssetKey(["bronze", "sec_company_tickers"])
EDGAR_FILINGS = dg.AssetKey(["bronze", "edgar_filings"])
EDGAR_COMPANY_FACTS = dg.AssetKey(["bronze", "edgar_company_facts"])
EDGAR_CHANGED_COMPANIES = dg.AssetKey(["bronze", "edgar_changed_companies"])  # the daily refresh's list
EDGAR_FSDS_FACTS = dg.AssetKey(["bronze", "edgar_fsds_facts"])  # SEC's Financial Statement Data Sets
PRICES_DAILY = dg.AssetKey(["bronze", "prices_daily"])
RAW_PAYLOADS_TABLE = "bronze.raw_payloads"  # the archive's index (written by the archive, not an asset)
INGEST_STATUS_TABLE = "bronze.ingest_status"  # one row per company per attempt (core/companies.py)

# ---- Gold models read by Python (dbt writes them) --------------------------------------------------------------
INCOME_STATEMENT = dg.AssetKey(["gold", "income_statement"])
BALANCE_SHEET = dg.AssetKey(["gold", "balance_sheet"])
CASH_FLOW = dg.AssetKey(["gold", "cash_flow"])
FINANCIAL_RATIOS = dg.AssetKey(["gold", "financial_ratios"])
FILING_SIGNALS = dg.AssetKey(["gold", "filing_signals"])
PRICE_FEATURES = dg.AssetKey(["gold", "price_features"])
LABELS = dg.AssetKey(["gold", "labels"])
COMPANY_SECTORS = dg.AssetKey(["gold", "company_sectors"])

# ---- features (Python assets on Gold, and Feast) -------------------------------------------------------------
FUNDAMENTAL_FEATURES = dg.AssetKey(["gold", "fundamental_features"])
RATIO_FEATURES = dg.AssetKey(["gold", "ratio_features"])
FILING_SIGNAL_FEATURES = dg.AssetKey(["gold", "filing_signal_features"])
FEAST_REGISTRY = dg.AssetKey(["features", "feast_registry"])  # not tables: the group `features` is their prefix
FEAST_ONLINE_FEATURES = dg.AssetKey(["features", "feast_online_features"])

# ---- ml ------------------------------------------------------------------------------------------------------
TRAINING_SET = dg.AssetKey(["ml", "training_set"])
RETURN_MODEL = dg.AssetKey(["ml", "return_model"])
PREDICTIONS = dg.AssetKey(["ml", "predictions"])
PREDICTION_PERFORMANCE = dg.AssetKey(["ml", "prediction_performance"])
BACKTEST = dg.AssetKey(["ml", "backtest"])
ONLINE_PREDICTIONS = dg.AssetKey(["ml", "online_predictions"])


def table_name(key: dg.AssetKey) -> str:
    """The Iceberg table of an asset: ``<first key part>.<last key part>`` (a one-part key is Bronze)."""
    path = key.path
    return f"{path[0]}.{path[-1]}" if len(path) > 1 else f"bronze.{path[0]}"
