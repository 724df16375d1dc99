"""Finance lakehouse: the Dagster code location."""
