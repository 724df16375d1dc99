"""Alerts: a failed run or a failed check posts one message to a Slack-compatible webhook.

Two sensors watch every job of the code location:

- ``lakehouse_run_failure_alert`` (:func:`dagster.run_failure_sensor`): one message per failed run, naming the
  run, its job, partition(s), the assets it did not materialise, the checks that failed in it (a blocking
  check that fails fails its run: this message is its alert) and the first error, with a link to the run.
- ``lakehouse_check_failure_alert`` (a run-status sensor on successful runs): one message per successful run in
  which checks of severity ERROR failed (non-blocking ones: the run went on), naming each check and asset with a
  link to the asset's checks. WARN checks (expected in replay: companies a source lacks) do not alert.

So every failure alerts once: a blocking check that fails is reported with its failed run, never twice.

Off by default: without ``ALERT_WEBHOOK_URL`` each tick is skipped with the reason, and the sensors are
STOPPED unless ``LAKEHOUSE_AUTOMATION=on``. The payload is Slack's incoming-webhook JSON ``{"text": ...}``
(Mattermost, Rocket.Chat, Teams' Slack-compatible connectors and Discord's ``/slack`` endpoint accept it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

import dagster as dg
import httpx
from pydantic import Field
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from finance_assets.core.automation import sensor_status
from finance_assets.core.settings import Settings

RUN_FAILURE_SENSOR = "lakehouse_run_failure_alert"
CHECK_FAILURE_SENSOR = "lakehouse_check_failure_alert"
_MAX_ERROR_CHARS = 500  # a stack trace does not belong in a chat message: the link leads to it


class AlertWebhookResource(dg.ConfigurableResource):
    """Where alerts go (a secret: a webhook URL is a credential) and where their links point."""

    url: str | None = Field(default=None, description="ALERT_WEBHOOK_URL; unset: no alerts are sent.")
    ui_url: str = Field(default="http://127.0.0.1:3000", description="DAGSTER_UI_URL: base of the links.")
    timeout_seconds: float = Field(default=10.0, description="Per attempt; 3 attempts with backoff.")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def run_link(self, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}"

    def checks_link(self, key: dg.AssetKey) -> str:
        path = "/".join(quote(part, safe="") for part in key.path)
        return f"{self.ui_url.rstrip('/')}/assets/{path}?view=checks"

    def post(self, text: str) -> None:
        """POST ``{"text": text}``; transport errors and 5xx are retried, then raised (the tick fails, visibly)."""
        if not self.url:
            raise ValueError("ALERT_WEBHOOK_URL is not set: nothing to post to")

        @retry(
            retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=0.5, max=5),
            reraise=True,
        )
        def send() -> None:
            response = httpx.post(self.url, json={"text": text}, timeout=self.timeout_seconds)  # type: ignore[arg-type]
            if response.status_code >= 500:
                raise _ServerError(f"alert webhook answered {response.status_code}")
            response.raise_for_status()

        send()


class _ServerError(Exception):
    """A 5xx from the webhook: retried."""


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and isinstance(event.event_specific_data, dg.AssetCheckEvaluation):
            evaluations.append(event.event_specific_data)
    return evaluations


def _unmaterialized_assets(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Assets the run planned and did not materialise (what an operator has to look at)."""
    kinds = {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION}
    planned: set[str] = set()
    done: set[str] = set()
    for record in instance.get_records_for_run(run_id, of_type=kinds).records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key is None:
            continue
        target = planned if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED else done
        target.add(event.asset_key.to_user_string())
    return sorted(planned - done)


def _root_cause(error: Any) -> str:
    """The innermost cause of a step's error: the asset's own exception, not Dagster's wrapper around it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(error.message)


def _partition(run: dg.DagsterRun) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return f" (partition {tags['dagster/partition']})"
    first, last = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f" (partitions {first}...{last})" if first else ""


def _check_line(evaluation: dg.AssetCheckEvaluation, alerts: AlertWebhookResource) -> str:
    partition = f" [{evaluation.partition}]" if evaluation.partition else ""
    what = f": {evaluation.description}" if evaluation.description else ""
    kind = "blocking " if evaluation.blocking else ""
    return (
        f"• {kind}check `{evaluation.check_name}` on `{evaluation.asset_key.to_user_string()}`{partition} "
        f"failed{what} <{alerts.checks_link(evaluation.asset_key)}|checks>"
    )


def failed_error_checks(evaluations: Iterable[dg.AssetCheckEvaluation]) -> list[dg.AssetCheckEvaluation]:
    return [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]


def run_failure_text(
    run: dg.DagsterRun, error: str | None, instance: dg.DagsterInstance, alerts: AlertWebhookResource
) -> str:
    lines = [f":red_circle: Run `{run.run_id[:8]}` of job `{run.job_name}`{_partition(run)} failed."]
    assets = _unmaterialized_assets(instance, run.run_id)
    if assets:
        lines.append(f"Not materialised: {', '.join(f'`{a}`' for a in assets)}")
    checks = failed_error_checks(_check_evaluations(instance, run.run_id))
    if checks:
        lines.append("Failed checks:")
        lines.extend(_check_line(e, alerts) for e in checks)
    if error:
        first = error.strip().splitlines()[0] if error.strip() else ""
        lines.append(f"Error: {first[:_MAX_ERROR_CHARS]}")
    lines.append(f"<{alerts.run_link(run.run_id)}|Open the run in Dagster>")
    return "\n".join(lines)


def check_failure_text(
    run: dg.DagsterRun, checks: Sequence[dg.AssetCheckEvaluation], alerts: AlertWebhookResource
) -> str:
    where = f"run `{run.run_id[:8]}` of job `{run.job_name}`{_partition(run)}"
    lines = [f":warning: {len(checks)} check(s) failed in {where}:"]
    lines.extend(_check_line(e, alerts) for e in checks)
    lines.append(f"<{alerts.run_link(run.run_id)}|Open the run in Dagster>")
    return "\n".join(lines)


def build_alert_definitions(settings: Settings) -> dg.Definitions:
    """The two alert sensors and their webhook resource (``alerts``); RUNNING only with automation on."""
    status = sensor_status(settings)

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        monitor_all_code_locations=False,
        default_status=status,
        description="Posts one message per failed run to ALERT_WEBHOOK_URL (off when unset).",
    )
    def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertWebhookResource) -> dg.SkipReason | None:
        if not alerts.enabled:
            return dg.SkipReason("ALERT_WEBHOOK_URL is not set: alerts are off")
        run = context.dagster_run
        error = context.failure_event.message if context.failure_event else None
        step_errors = [e.event_specific_data.error for e in context.get_step_failure_events()]  # type: ignore[union-attr]
        detail = next((_root_cause(err) for err in step_errors if err is not None), None) or error
        alerts.post(run_failure_text(run, detail, context.instance, alerts))
        return None

    @dg.run_status_sensor(
        name=CHECK_FAILURE_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=status,
        description=(
            "Posts one message per successful run with failed ERROR checks to ALERT_WEBHOOK_URL (off when unset); "
            "a failed blocking check fails its run and is reported by the run-failure alert."
        ),
    )
    def check_failure_alert(context: dg.RunStatusSensorContext, alerts: AlertWebhookResource) -> dg.SkipReason | None:
        if not alerts.enabled:
            return dg.SkipReason("ALERT_WEBHOOK_URL is not set: alerts are off")
        run = context.dagster_run
        checks = failed_error_checks(_check_evaluations(context.instance, run.run_id))
        if not checks:
            return dg.SkipReason(f"run {run.run_id[:8]}: no failed ERROR checks")
        alerts.post(check_failure_text(run, checks, alerts))
        return None

    return dg.Definitions(sensors=[run_failure_alert, check_failure_alert])
