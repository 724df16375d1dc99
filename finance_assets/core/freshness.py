"""Freshness: each layer's assets must have been updated within their source's cadence plus some slack.

A check fails (severity ERROR, so the check-failure alert posts it; not blocking: nothing downstream waits
on it) when the asset's latest materialisation of any partition is older than its bound:

| assets | cadence | bound |
|---|---|---|
| Bronze (EDGAR, FMP, 13F) | daily schedules 05:00-06:00 New York | 30 hours |
| `bronze/prices_daily` | weekday schedule (Friday's bars on Monday) | 78 hours (a weekend + 6 h) |
| 13F cover pages and holdings | a filing is loaded when it appears (45 days after each quarter) | 100 days |
| Silver, Gold and features | follow their inputs (hours after Bronze) | 30 hours |
| `ml/return_model`, `ml/training_set` | weekly retrain, Saturday 07:00 | 8 days |
| `ml/predictions` | monthly, the 5th at 09:00 | 33 days |
| `feast_registry` | applied when the definitions change | not monitored |

The bounds are relative to the time the check runs (no deadline cron), so they read the same in any time zone.
``lakehouse_freshness`` (Dagster's freshness sensor) runs each check when it could have turned stale: a check that
passed is re-run once its ``fresh_until`` passes; one that failed waits for the asset's next materialisation,
which re-runs it. The sensor is STOPPED unless ``LAKEHOUSE_AUTOMATION=on``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from finance_assets.core.automation import TIMEZONE, sensor_status
from finance_assets.core.names import FEAST_REGISTRY, PREDICTIONS, PRICES_DAILY, RETURN_MODEL, TRAINING_SET
from finance_assets.core.settings import Settings

FRESHNESS_SENSOR = "lakehouse_freshness"
DAILY = timedelta(hours=30)
WEEKDAYS = timedelta(hours=78)
WEEKLY = timedelta(days=8)
MONTHLY = timedelta(days=33)
QUARTERLY = timedelta(days=100)
# Bronze, dbt's layers and the feature tables: what Feast and the model read (ML is bounded per asset below)
DAILY_GROUPS = ("bronze", "staging", "reference", "silver", "intermediate", "gold", "features")


def freshness_bounds(
    assets: Sequence[Any], overrides: Mapping[dg.AssetKey, timedelta | None] | None = None
) -> dict[dg.AssetKey, timedelta]:
    """Each monitored asset's bound (see the module table); ``overrides`` set a domain's own (None: unmonitored)."""
    bounds: dict[dg.AssetKey, timedelta] = {}
    for asset in assets:
        specs = asset.specs if isinstance(asset, dg.AssetsDefinition) else [asset]
        for spec in specs:
            if spec.group_name in DAILY_GROUPS:
                bounds[spec.key] = DAILY
    bounds[PRICES_DAILY] = WEEKDAYS
    bounds |= {RETURN_MODEL: WEEKLY, TRAINING_SET: WEEKLY, PREDICTIONS: MONTHLY}
    for key, bound in {FEAST_REGISTRY: None, **(overrides or {})}.items():
        if bound is None:
            bounds.pop(key, None)
        else:
            bounds[key] = bound
    return bounds


def build_freshness_definitions(
    settings: Settings, assets: Sequence[Any], overrides: Mapping[dg.AssetKey, timedelta | None] | None = None
) -> dg.Definitions:
    """The freshness checks of :func:`freshness_bounds` and the sensor that evaluates them."""
    by_bound: dict[timedelta, list[dg.AssetKey]] = {}
    for key, bound in freshness_bounds(assets, overrides).items():
        by_bound.setdefault(bound, []).append(key)
    # Dagster 1.13 marks these factories "superseded" by FreshnessPolicy (a SupersessionWarning, not a
    # deprecation). We keep them on purpose: a FreshnessPolicy's state is no check evaluation, so the
    # check-failure alert (core/alerts.py) could not post a stale asset; checks can, and they show on the asset's
    # Checks tab with the bound and the last update.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Function `build_.*freshness_checks` is superseded")
        checks = [
            check
            for bound, keys in sorted(by_bound.items())
            for check in dg.build_last_update_freshness_checks(
                assets=sorted(keys, key=lambda k: k.to_user_string()),
                lower_bound_delta=bound,
                timezone=TIMEZONE,
                severity=dg.AssetCheckSeverity.ERROR,
            )
        ]
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=15 * 60,
            default_status=sensor_status(settings),
        )
    return dg.Definitions(asset_checks=checks, sensors=[sensor])
