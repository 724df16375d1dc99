"""The feature layer as a named job: feature tables on Gold, the Feast registry, the online store."""

from __future__ import annotations

import dagster as dg

from finance_assets.features.assets import feature_asset_keys

features_job = dg.define_asset_job(
    "features",
    selection=dg.AssetSelection.assets(*feature_asset_keys()),
    description="Feature tables from Gold, `feast apply` when feature_repo/ changed, online materialization.",
)


def build_features_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[features_job])
