"""Partition sets shared across domains, so every layer keys companies and dates the same way."""

from __future__ import annotations

import dagster as dg

# Companies are keyed by ticker. UNIVERSE registers them (see bronze/sec_company_tickers); more can be
# added in the UI (asset page -> Partitions -> "Add partition") or with `dagster` CLI.
companies_partitions = dg.DynamicPartitionsDefinition(name="companies")
