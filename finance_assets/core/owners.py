"""Who answers for each layer: the team owners the Dagster UI shows on every asset (and alerts can name).

One rule, defined once and applied to every asset of the code location by its group (a group is its assets'
key prefix, the layer): the data-engineering team owns ingestion and the dbt layers, quant research owns
the features and the model. An asset that names its own owners keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

DATA_ENGINEERING = "team:data-engineering"
QUANT_RESEARCH = "team:quant-research"
OWNERS_BY_GROUP: dict[str, str] = {
    "bronze": DATA_ENGINEERING,
    "staging": DATA_ENGINEERING,
    "reference": DATA_ENGINEERING,
    "silver": DATA_ENGINEERING,
    "intermediate": DATA_ENGINEERING,
    "gold": DATA_ENGINEERING,
    "features": QUANT_RESEARCH,
    "ml": QUANT_RESEARCH,
}


def with_owners(assets: Sequence[Any]) -> list[Any]:
    """Every asset without owners gets its group's team (a group missing from the map is an error)."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.owners:
            return spec
        if spec.group_name not in OWNERS_BY_GROUP:
            raise ValueError(f"{spec.key.to_user_string()}: group {spec.group_name!r} has no owner in OWNERS_BY_GROUP")
        return spec.replace_attributes(owners=[OWNERS_BY_GROUP[spec.group_name]])

    return list(dg.map_asset_specs(apply, assets))
