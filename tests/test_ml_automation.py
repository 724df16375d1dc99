"""Automation: off by default, on with LAKEHOUSE_AUTOMATION=on; what each schedule and sensor asks for."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import dagster as dg
import pytest

from finance_assets.core.automation import FOLLOW_INPUTS
from finance_assets.core.settings import Settings, SettingsError
from finance_assets.edgar.schedules import build_edgar_automation
from finance_assets.fmp.schedules import build_fmp_automation
from finance_assets.market.schedules import build_market_automation
from finance_assets.ml.automation import build_automation, decay_reasons

LIVE = {"live/months": 6, "live/rank_ic_rolling": 0.05, "live/coverage_rolling": 0.8}


def _statuses(defs: dg.Definitions) -> set[str]:
    schedules = {s.default_status.value for s in defs.schedules or []}  # type: ignore[union-attr]
    return schedules | {s.default_status.value for s in defs.sensors or []}  # type: ignore[union-attr]


def test_everything_is_stopped_unless_switched_on() -> None:
    assert Settings.from_env({}).automation is False
    builders = (build_edgar_automation, build_fmp_automation, build_market_automation, build_automation)
    for build in builders:
        assert _statuses(build(Settings.from_env({}))) == {"STOPPED"}, build
        assert _statuses(build(Settings.from_env({"LAKEHOUSE_AUTOMATION": "on"}))) == {"RUNNING"}, build
    with pytest.raises(SettingsError, match="LAKEHOUSE_AUTOMATION"):
        Settings.from_env({"LAKEHOUSE_AUTOMATION": "sometimes"})
    with pytest.raises(SettingsError, match="RETRAIN_MIN_RANK_IC"):
        Settings.from_env({"RETRAIN_MIN_RANK_IC": "2"})


def test_decay_reasons_follow_the_thresholds() -> None:
    settings = Settings(retrain_min_rank_ic=0.0, retrain_min_coverage=0.5)
    assert decay_reasons(LIVE, settings) == []
    assert decay_reasons({**LIVE, "live/rank_ic_rolling": -0.2}, settings) == ["rank IC -0.200 < 0.0 over 6 months"]
    assert "coverage" in decay_reasons({**LIVE, "live/coverage_rolling": 0.3}, settings)[0]
    assert decay_reasons({**LIVE, "live/months": 2, "live/rank_ic_rolling": -0.9}, settings) == []  # too few
    assert decay_reasons({**LIVE, "live/rank_ic_rolling": math.nan}, settings) == []  # undefined: no signal


def test_ingestion_schedules_request_the_right_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    from finance_assets.definitions import build_definitions

    monkeypatch.delenv("REPLAY_DIR", raising=False)  # live, and no FMP key
    monkeypatch.delenv("FMP_API_KEY", raising=False)

    defs = build_definitions(Settings.from_env())
    repository = defs.get_repository_def()
    monday = datetime(2023, 10, 30, 6, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:  # schedule contexts need a persistent instance

        def context() -> dg.ScheduleEvaluationContext:
            return dg.build_schedule_context(
                instance=instance, scheduled_execution_time=monday, repository_def=repository
            )

        prices = repository.get_schedule_def("ingest_prices_daily")(context())
        # monthly partitions: Monday's run re-loads the month holding the last session (Friday 2023-10-27)
        assert isinstance(prices, dg.RunRequest) and prices.partition_key == "2023-10-01"

        # EDGAR companies are refreshed when they file (edgar/refresh.py): the schedule runs the detection only
        refresh = repository.get_schedule_def("edgar_daily_refresh")
        assert refresh.job_name == "edgar_daily_refresh"
    # live without an FMP key: the FMP schedule skips (the FMP assets would fail without it)
    fmp = repository.get_schedule_def("ingest_fmp_daily")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("companies", ["AAPL"])
        with dg.build_schedule_context(  # the daemon gives a schedule the code location's resources
            instance=instance, scheduled_execution_time=monday, repository_def=repository, resources=defs.resources
        ) as context:
            assert [type(r) for r in fmp(context)] == [dg.SkipReason]


def test_gold_and_features_follow_their_inputs_and_ml_lineage_reaches_bronze() -> None:
    from finance_assets.definitions import defs
    from finance_assets.ml.assets import FILINGS_KEY, PREDICTIONS_KEY, PRICES_KEY

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name in ("silver", "gold", "features"):
            assert node.automation_condition is not None, key
        if node.group_name == "bronze" or key.path[-1] in ("training_set", "return_model", "predictions"):
            assert node.automation_condition is None, key  # schedules and sensors drive these
    assert graph.get(dg.AssetKey(["gold", "labels"])).automation_condition == FOLLOW_INPUTS
    monthly = graph.get(PREDICTIONS_KEY).partitions_def
    assert isinstance(monthly, dg.MonthlyPartitionsDefinition)
    assert isinstance(graph.get_partition_mapping(PREDICTIONS_KEY, PRICES_KEY), dg.TimeWindowPartitionMapping)
    assert isinstance(graph.get_partition_mapping(PREDICTIONS_KEY, FILINGS_KEY), dg.AllPartitionMapping)
    assert {j.name for j in defs.jobs or []} >= {"ml_retrain", "ml_predictions", "ml_performance", "bronze_prices"}  # type: ignore[union-attr]
