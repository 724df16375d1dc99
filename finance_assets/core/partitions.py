"""Partition sets shared across domains, so every layer keys companies and dates the same way."""

from __future__ import annotations

import dagster as dg

from finance_assets.core.settings import get_settings

# Companies are keyed by ticker. UNIVERSE registers them (see bronze/sec_company_tickers); more can be
# added in the UI (asset page -> Partitions -> "Add partition") or with `dagster` CLI.
companies_partitions = dg.DynamicPartitionsDefinition(name="companies")

# Weekdays (daily partitions without weekends: a Friday window runs to Monday, so nothing is dropped).
# A multi-year backfill runs as one run (single-run backfill policy on the asset).
prices_partitions = dg.TimeWindowPartitionsDefinition(
    start=get_settings().prices_start.isoformat(),
    cron_schedule="0 0 * * 1-5",
    fmt="%Y-%m-%d",
    end_offset=0,
)
