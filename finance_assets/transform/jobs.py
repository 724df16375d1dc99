"""The dbt build as a named job: Silver and Gold follow their inputs by automation condition; this runs it all."""

from __future__ import annotations

import dagster as dg

from finance_assets.transform.assets import lakehouse_dbt

transform_job = dg.define_asset_job(
    "transform",
    selection=dg.AssetSelection.assets(lakehouse_dbt),
    description=(
        "`dbt build` of every seed, model and test of dbt_project/ (Silver and Gold in Iceberg); the company models "
        "rebuild only the companies whose Bronze changed (run config full_refresh: everything; docs/transform.md)."
    ),
)


def build_transform_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[transform_job])
