"""The feature lists are defined once (finance_assets/features/catalog.py): the Feast services registered
from feature_repo/ serve exactly them, every served feature has a description, and the model reads them."""

from __future__ import annotations

import pytest

from finance_assets.features import catalog
from finance_assets.features.store import load_definitions
from finance_assets.ml.spec import FEATURE_SERVICE, MODEL_FEATURES


@pytest.mark.parametrize("service", sorted(catalog.SERVICES))
def test_feature_services_serve_exactly_the_catalog_lists(service: str) -> None:
    [registered] = [s for s in load_definitions().feature_services if s.name == service]
    served = {p.name: tuple(f.name for f in p.features) for p in registered.feature_view_projections}
    assert served == catalog.SERVICES[service]


def test_every_served_feature_has_a_description() -> None:
    for view in load_definitions().feature_views:
        undocumented = [f.name for f in view.schema if not f.description]
        assert not undocumented, f"{view.name}: {undocumented}"
        assert {f.name for f in view.schema} == {f.name for f in catalog.VIEWS[view.name]}


def test_feature_set_v2_is_the_default_and_grows_toward_fifty_features() -> None:
    assert FEATURE_SERVICE == catalog.SERVICE_V2
    v1, v2 = set(MODEL_FEATURES[catalog.SERVICE_V1]), set(MODEL_FEATURES[catalog.SERVICE_V2])
    assert v1 < v2 and len(v2) >= 40
    assert {"days_since_filing", "period_is_annual", "rsi_14d", "book_to_market", "amendments_365d"} <= v2


def test_a_feature_the_view_does_not_serve_is_refused() -> None:
    with pytest.raises(ValueError, match="price_features serves no"):
        catalog.features_of("price_features", ("momentum_21d", "momentum_7d"))


def test_dagster_configs_the_trainer_the_demo_and_the_readme_share_one_budget() -> None:
    from dataclasses import asdict
    from pathlib import Path

    from finance_assets.ml.assets import BacktestAssetConfig, ReturnModelConfig
    from finance_assets.ml.backtest import BacktestConfig
    from finance_assets.ml.spec import DEMO_BACKTEST_REFIT_MONTHS, DEMO_TRIALS
    from finance_assets.ml.training import TrainConfig

    dagster, trainer = ReturnModelConfig(), TrainConfig()
    for name in ("n_trials", "timeout_seconds", "n_folds", "fold_months", "holdout_months", "min_train_months", "seed"):
        assert getattr(dagster, name) == getattr(trainer, name), name
    assert asdict(BacktestConfig()) == BacktestAssetConfig().model_dump()
    root = Path(__file__).resolve().parents[1]
    reference, readme = (root / "docs" / "ml.md").read_text(), (root / "README.md").read_text()
    assert f"`n_trials` ({dagster.n_trials})" in reference
    assert f"`timeout_seconds` ({dagster.timeout_seconds:g})" in reference
    # the demo's smaller budget is the one the README and the ML reference state
    demo_budget = f"{DEMO_TRIALS} trials, backtest refits every {DEMO_BACKTEST_REFIT_MONTHS} months"
    assert demo_budget in " ".join(readme.split()) and demo_budget in " ".join(reference.split())
