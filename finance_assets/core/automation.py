"""What every domain's automation shares: the on/off switch, the time zone and the follow-inputs condition.

Everything is OFF unless ``LAKEHOUSE_AUTOMATION=on`` (``make dev`` turns it on): schedules and sensors are
created STOPPED, so tests and a fresh instance launch nothing by themselves. Each domain defines its own
jobs, schedules and sensors next to its assets (``edgar/schedules.py``, ``market/schedules.py``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from finance_assets.core.settings import Settings

# dbt's layers (staging, reference, silver, intermediate, gold), the feature tables and Feast follow their
# inputs: ``eager()`` without "every upstream partition exists" (one missing weekday or a company SEC does
# not know must not freeze the whole lake).
FOLLOW_INPUTS = (
    dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()).with_label("follow_inputs")
)
FOLLOW_GROUPS = ("staging", "reference", "silver", "intermediate", "gold", "features")
TIMEZONE = "America/New_York"


def schedule_status(settings: Settings) -> dg.DefaultScheduleStatus:
    on = settings.automation
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


def sensor_status(settings: Settings) -> dg.DefaultSensorStatus:
    on = settings.automation
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def with_default_automation(assets: Sequence[Any], groups: Sequence[str] = FOLLOW_GROUPS) -> list[Any]:
    """:data:`FOLLOW_INPUTS` on every asset of ``groups`` that has no automation condition of its own."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.group_name in groups and spec.automation_condition is None:
            return spec.replace_attributes(automation_condition=FOLLOW_INPUTS)
        return spec

    return list(dg.map_asset_specs(apply, assets))


def follow_inputs_sensor(settings: Settings, *extra: dg.AssetKey) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the automation conditions of :data:`FOLLOW_GROUPS` (and ``extra`` assets)."""
    return dg.AutomationConditionSensorDefinition(
        "lakehouse_automation",
        target=dg.AssetSelection.groups(*FOLLOW_GROUPS) | dg.AssetSelection.assets(*extra),
        default_status=sensor_status(settings),
        description="Silver, Gold, features and live performance follow their inputs (automation conditions).",
    )
