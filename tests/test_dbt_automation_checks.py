"""A run requested by declarative automation evaluates the dbt tests of every model it builds.

The run is made the way the automation daemon makes it: the `lakehouse_automation` sensor's conditions are
evaluated against the instance (a tick before and a tick after a Bronze partition lands), the requested
entities become run requests through Dagster's own `build_run_requests` (the function the daemon calls),
and the run executes the job subset the code server would build for that request (its asset selection and
its check selection: None means every check of the selected assets). Before the dbt tests had automation
conditions of their own, such a request listed only the checks of a feature asset in the same tick, and
the dbt tests of the models in that run were never evaluated.
"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests
from gold_fixtures import *  # noqa: F403
from gold_fixtures import GoldLakehouse

pytestmark = pytest.mark.slow


def test_an_automation_run_evaluates_the_dbt_tests_of_the_models_it_builds(gold_lakehouse: GoldLakehouse) -> None:
    from finance_assets.transform.assets import dbt_asset_keys

    defs, instance = gold_lakehouse.defs, gold_lakehouse.instance
    sensor = next(s for s in defs.sensors or [] if s.name == "lakehouse_automation")
    selection = sensor.asset_selection
    graph = defs.resolve_asset_graph()

    before = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    landed = dg.materialize(
        list(defs.assets or []),
        selection=["bronze/edgar_company_facts"],
        partition_key="AAPL",
        instance=instance,
        resources=defs.resources,
    )
    assert landed.success
    tick = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=before.cursor
    )
    requests = build_run_requests(
        list(tick._requested_subsets), graph, {}, emit_backfills=getattr(sensor, "emit_backfills", False)
    )

    dbt_keys = set(dbt_asset_keys())
    (request,) = [r for r in requests if dbt_keys & set(r.asset_selection or [])]
    models = dbt_keys & set(request.asset_selection)
    assert dg.AssetKey(["gold", "statement_lines"]) in models
    expected = {key for key in graph.asset_check_keys if key.asset_key in models}
    assert len(expected) > 50
    if request.asset_check_keys is not None:  # an explicit check selection must carry every dbt test
        assert expected <= set(request.asset_check_keys), sorted(
            k.to_user_string() for k in expected - set(request.asset_check_keys)
        )

    # the dbt part of that run, as the code server subsets the job for the request
    checks = None if request.asset_check_keys is None else set(request.asset_check_keys) & expected
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=models, asset_check_selection=checks)
    # AAPL's payload is the recorded one again, so its Bronze did not change and an incremental build would
    # build no company model (docs/transform.md); name AAPL as changed so the run builds and tests its models
    rebuild_aapl = {"ops": {"lakehouse_dbt": {"config": {"companies": ["AAPL"]}}}}
    result = job.execute_in_process(
        instance=instance, tags=dict(request.tags), raise_on_error=False, run_config=rebuild_aapl
    )
    assert result.success
    evaluated = {dg.AssetCheckKey(e.asset_key, e.check_name) for e in result.get_asset_check_evaluations()}
    missing = expected - evaluated
    assert not missing, sorted(k.to_user_string() for k in missing)
