"""The model's feature lists and the Feast service it trains on are written in two places: keep them equal."""

from __future__ import annotations

from finance_assets.features.store import load_definitions
from finance_assets.ml.spec import FEATURE_SERVICE, FUNDAMENTAL_FEATURES, PRICE_FEATURES


def test_model_features_are_exactly_what_the_feature_service_serves() -> None:
    [service] = [s for s in load_definitions().feature_services if s.name == FEATURE_SERVICE]
    served = {p.name: [f.name for f in p.features] for p in service.feature_view_projections}
    assert served["price_features"] == list(PRICE_FEATURES)
    assert served["financial_ratios"] == list(FUNDAMENTAL_FEATURES)
