"""Alerts: the run-failure and check-failure sensors post exactly one Slack-compatible message per failure.

A real HTTP server on loopback receives the webhook; runs are real Dagster runs on a test instance; the sensors
are ticked as the daemon ticks them (``evaluate_tick`` with the cursor carried over), twice after each event,
so "exactly one" covers the daemon's next tick as well.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from finance_assets.core.alerts import (
    CHECK_FAILURE_SENSOR,
    RUN_FAILURE_SENSOR,
    AlertWebhookResource,
    build_alert_definitions,
)
from finance_assets.core.settings import Settings

UI = "http://dagster.example.test:3000"


class Webhook:
    """A loopback HTTP server that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                webhook.content_types.append(self.headers["Content-Type"])
                webhook.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lakehouse"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@dg.asset(key=["bronze", "edgar_company_facts"], partitions_def=dg.StaticPartitionsDefinition(["AAPL", "ZZZZ"]))
def facts(context: dg.AssetExecutionContext) -> None:
    if context.partition_key == "ZZZZ":
        raise ValueError("ZZZZ (CIK 0000000000): companyfacts answered 404")


@dg.asset(key=["gold", "balance_sheet"])
def balance_sheet() -> int:
    return 1


@dg.asset_check(asset=balance_sheet, blocking=True, description="assets = liabilities + equity")
def balance_identity() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="AAPL 2023-09-30: assets 352,583 != 352,584")


@dg.asset(key=["gold", "income_statement"])
def income_statement() -> int:
    return 1


@dg.asset_check(asset=income_statement, description="revenue is never negative")
def revenue_not_negative() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="MSFT FY2023")


@dg.asset_check(asset=income_statement, description="EDGAR and FMP agree")
def edgar_matches_fmp() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="AAPL differs 0.6%")


class Sensors:
    """The two alert sensors of the code location, ticked like the daemon ticks them."""

    def __init__(self, instance: dg.DagsterInstance, alerts: AlertWebhookResource) -> None:
        defs = build_alert_definitions(Settings.from_env({}))
        self.sensors = {s.name: s for s in defs.sensors or []}
        self.instance, self.alerts = instance, alerts
        self.cursors: dict[str, str | None] = {name: None for name in self.sensors}

    def tick(self) -> None:
        for name, sensor in self.sensors.items():
            context = dg.build_sensor_context(
                instance=self.instance, cursor=self.cursors[name], resources={"alerts": self.alerts}
            )
            result = sensor.evaluate_tick(context)
            self.cursors[name] = result.cursor


def _materialize(instance: dg.DagsterInstance, assets: list[Any], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, instance=instance, raise_on_error=False, **kwargs)


def test_a_failed_run_posts_one_message_naming_run_job_asset_and_error(webhook: Webhook) -> None:
    with dg.instance_for_test() as instance:
        sensors = Sensors(instance, AlertWebhookResource(url=webhook.url, ui_url=UI))
        sensors.tick()  # the first tick only starts the cursor (history is not alerted)
        result = _materialize(instance, [facts], partition_key="ZZZZ")
        assert not result.success
        sensors.tick()
        sensors.tick()  # the next tick must not post it again

    assert len(webhook.messages) == 1, webhook.messages
    assert webhook.content_types == ["application/json"]
    (message,) = webhook.messages
    assert set(message) == {"text"}  # Slack's incoming-webhook payload
    text = message["text"]
    assert f"Run `{result.run_id[:8]}`" in text and "job `__ephemeral_asset_job__`" in text
    assert "(partition ZZZZ)" in text
    assert "`bronze/edgar_company_facts`" in text
    assert "ZZZZ (CIK 0000000000): companyfacts answered 404" in text
    assert f"{UI}/runs/{result.run_id}" in text  # an absolute link to the run


def test_a_failed_blocking_check_posts_one_message_naming_the_check(webhook: Webhook) -> None:
    with dg.instance_for_test() as instance:
        sensors = Sensors(instance, AlertWebhookResource(url=webhook.url, ui_url=UI))
        sensors.tick()
        result = _materialize(instance, [balance_sheet, balance_identity])
        assert not result.success  # a failed blocking check fails its run
        sensors.tick()
        sensors.tick()

    assert len(webhook.messages) == 1, webhook.messages  # the run's alert names the check: not a second one
    text = webhook.messages[0]["text"]
    assert "blocking check `balance_identity` on `gold/balance_sheet` failed" in text
    assert "AAPL 2023-09-30: assets 352,583 != 352,584" in text
    assert f"{UI}/assets/gold/balance_sheet?view=checks" in text


def test_a_failed_error_check_in_a_successful_run_posts_one_message_and_warnings_none(webhook: Webhook) -> None:
    with dg.instance_for_test() as instance:
        sensors = Sensors(instance, AlertWebhookResource(url=webhook.url, ui_url=UI))
        sensors.tick()
        result = _materialize(instance, [income_statement, revenue_not_negative, edgar_matches_fmp])
        assert result.success
        sensors.tick()
        sensors.tick()

    assert len(webhook.messages) == 1, webhook.messages
    text = webhook.messages[0]["text"]
    assert "check `revenue_not_negative` on `gold/income_statement` failed: MSFT FY2023" in text
    assert "edgar_matches_fmp" not in text  # WARN checks do not alert
    assert f"{UI}/runs/{result.run_id}" in text


def test_without_a_webhook_url_nothing_is_posted_and_ticks_say_why(webhook: Webhook) -> None:
    with dg.instance_for_test() as instance:
        sensors = Sensors(instance, AlertWebhookResource(url=None, ui_url=UI))
        sensors.tick()
        _materialize(instance, [facts], partition_key="ZZZZ")
        context = dg.build_sensor_context(
            instance=instance, cursor=sensors.cursors[RUN_FAILURE_SENSOR], resources={"alerts": sensors.alerts}
        )
        result = sensors.sensors[RUN_FAILURE_SENSOR].evaluate_tick(context)
    assert webhook.messages == []
    assert "ALERT_WEBHOOK_URL is not set" in (result.skip_message or "")


def test_alert_sensors_are_in_the_code_location_stopped_by_default() -> None:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env({}))
    sensors = {s.name: s for s in defs.sensors or []}
    for name in (RUN_FAILURE_SENSOR, CHECK_FAILURE_SENSOR):
        assert sensors[name].default_status == dg.DefaultSensorStatus.STOPPED
    alerts = defs.resources["alerts"]  # type: ignore[index]
    assert isinstance(alerts, AlertWebhookResource) and alerts.url is None


def test_the_webhook_url_is_an_env_var_secret_in_the_code_location() -> None:
    from finance_assets.definitions import build_definitions

    env = {"ALERT_WEBHOOK_URL": "https://hooks.slack.test/services/T0/B0/secret"}
    defs = build_definitions(Settings.from_env(env))
    alerts = defs.resources["alerts"]  # type: ignore[index]
    assert alerts.url == dg.EnvVar("ALERT_WEBHOOK_URL")  # the launchpad shows the name, never the value


# ---- freshness ------------------------------------------------------------------------------------------------
def _freshness_checks() -> dict[dg.AssetKey, dg.AssetChecksDefinition]:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env({}))
    found = {}
    for checks_def in defs.asset_checks or []:
        for key in checks_def.check_keys:
            if key.name == "freshness_check":
                found[key.asset_key] = checks_def
    return found


def test_freshness_checks_cover_bronze_gold_features_and_predictions_with_their_cadence() -> None:
    from datetime import timedelta

    from finance_assets.core import names

    checks = _freshness_checks()
    expected = {
        names.EDGAR_COMPANY_FACTS: timedelta(hours=30),  # daily EDGAR schedule
        names.PRICES_DAILY: timedelta(hours=78),  # weekdays: Friday's bars land on Monday
        names.INCOME_STATEMENT: timedelta(hours=30),  # Gold follows Bronze
        names.FUNDAMENTAL_FEATURES: timedelta(hours=30),
        names.FEAST_ONLINE_FEATURES: timedelta(hours=30),
        names.PREDICTIONS: timedelta(days=33),  # monthly
        names.RETURN_MODEL: timedelta(days=8),  # weekly retrain
    }
    for key, bound in expected.items():
        spec = next(iter(checks[key].check_specs))
        params = spec.metadata["dagster/freshness_params"].value  # type: ignore[union-attr]
        assert params["lower_bound_delta_seconds"] == bound.total_seconds(), key
    assert names.FEAST_REGISTRY not in checks  # applied when the definitions change, not on a cadence


def test_a_stale_asset_fails_its_freshness_check_and_alerts_once(webhook: Webhook) -> None:
    """An asset last materialised 31 h ago (event log time moved back) fails its 30 h check: one alert."""
    import time
    from unittest import mock

    from finance_assets.core import names

    check_def = _freshness_checks()[names.EDGAR_COMPANY_FACTS]
    stub = dg.AssetSpec(names.EDGAR_COMPANY_FACTS)
    with dg.instance_for_test() as instance:
        sensors = Sensors(instance, AlertWebhookResource(url=webhook.url, ui_url=UI))
        sensors.tick()
        with mock.patch("time.time", return_value=time.time() - 31 * 3600):
            instance.report_runless_asset_event(dg.AssetMaterialization(names.EDGAR_COMPANY_FACTS))
        check_key = dg.AssetCheckKey(names.EDGAR_COMPANY_FACTS, "freshness_check")
        result = dg.materialize([stub, check_def], instance=instance, selection=dg.AssetSelection.checks(check_key))
        (evaluation,) = result.get_asset_check_evaluations()
        sensors.tick()
        sensors.tick()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert len(webhook.messages) == 1, webhook.messages
    assert "check `freshness_check` on `bronze/edgar_company_facts` failed" in webhook.messages[0]["text"]
