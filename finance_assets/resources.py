"""The one place where settings become Dagster resources, per profile (embedded ``local`` or ``prod``).

Every outside system is a resource with fields, so the launchpad shows each one's configuration and a run
can be configured differently from the process. Secrets are ``dg.EnvVar``s: the UI shows the variable's
name, the value is read in the run's process when it starts. A secret that is not set is None rather than
an ``EnvVar`` of nothing: Dagster resolves every ``EnvVar`` of every resource a run includes before the run
starts, so an unset one would fail unrelated runs (a missing FMP key would fail EDGAR runs). The resource
that needs it fails instead, where it is used, naming the variable.

``secrets="values"`` puts the settings' values in place of the ``EnvVar``s: for code that uses a resource
outside a Dagster run (the CLI, the Feast CLI wrapper, tests reading what a run wrote).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
from dagster_aws.s3 import S3Resource

from finance_assets.core.alerts import AlertWebhookResource
from finance_assets.core.io_manager import IcebergIOManager
from finance_assets.core.resources import (
    HttpClientResource,
    IngestPolicyResource,
    LakehouseResource,
    RawArchiveResource,
)
from finance_assets.core.settings import REPLAY_USER_AGENT, Settings, env_name
from finance_assets.edgar.resources import EdgarSourceResource, SecEdgarResource
from finance_assets.edgar.universe import UniverseResource
from finance_assets.features.resources import FeastResource
from finance_assets.fmp.resources import FmpResource
from finance_assets.market.resources import MarketDataResource
from finance_assets.ml.resources import MlflowResource, OptunaResource
from finance_assets.transform.project import DBT_EXECUTABLE, dbt_project
from finance_assets.transform.resources import LakehouseDbtResource

Secrets = Literal["env", "values"]


def resources_for(settings: Settings, *, secrets: Secrets = "env") -> dict[str, Any]:
    """Every resource the code location binds, configured from ``settings``."""

    def secret(field: str) -> Any:
        value = getattr(settings, field)
        if value is None or secrets == "values":
            return value
        return dg.EnvVar(env_name(field))

    home = settings.home
    local = settings.profile == "local"
    replay_dir = str(settings.replay_dir) if settings.replay_dir else None

    s3 = S3Resource(
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        use_ssl=not (settings.s3_endpoint or "").startswith("http://"),
        aws_access_key_id=secret("s3_access_key_id"),
        aws_secret_access_key=secret("s3_secret_access_key"),
    )
    lakehouse = LakehouseResource(
        profile=settings.profile,
        catalog_uri=secret("catalog_uri") or settings.iceberg_catalog_uri,
        warehouse=settings.iceberg_warehouse,
        s3=s3,
    )
    http = HttpClientResource(
        replay_dir=replay_dir,
        cache_dir=str(settings.http_cache_dir),
        timeout_seconds=settings.http_timeout_seconds,
        max_retries=settings.http_max_retries,
        # prod shares the budget through Redis (its own, or Feast's); local through a SQLite file
        rate_limit_redis=secret("rate_limit_redis_url") or (secret("feast_redis") if not local else None),
        rate_limit_file=str(home / "rate_limit.sqlite"),
    )

    sec = SecEdgarResource(
        http=http,
        user_agent=settings.sec_user_agent or (REPLAY_USER_AGENT if settings.replay else None),
        requests_per_second=settings.sec_requests_per_second,
        www_base_url=settings.sec_www_base_url,
        data_base_url=settings.sec_data_base_url,
    )

    mlflow_uri = settings.mlflow_tracking_uri
    if mlflow_uri is None and local:
        mlflow_uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow_local = mlflow_uri is not None and mlflow_uri.startswith(("sqlite", "file"))
    mlflow = MlflowResource(
        tracking_uri=secret("mlflow_tracking_uri") or mlflow_uri,
        artifact_location=(home / "mlartifacts").as_uri() if mlflow_local else None,  # a server decides its own
        ui_url=settings.mlflow_ui_url or _public_url(mlflow_uri) or "http://127.0.0.1:5000",
    )
    optuna = OptunaResource(
        storage=secret("optuna_storage") or (f"sqlite:///{home / 'optuna.db'}" if local else None),
    )

    return {
        "s3": s3,
        "lakehouse": lakehouse,
        "iceberg_io_manager": IcebergIOManager(lakehouse=lakehouse),
        "archive": RawArchiveResource(location=settings.archive_location, s3=s3),
        "http": http,
        "universe": UniverseResource(
            spec=settings.universe, skip_unknown=settings.universe_skip_unknown, replay_dir=replay_dir, sec=sec
        ),
        "ingest": IngestPolicyResource(
            max_shrink=settings.ingest_max_shrink, accept_shrink=settings.ingest_accept_shrink
        ),
        "sec": sec,
        "edgar_source": EdgarSourceResource(bulk_dir=str(settings.bulk_dir)),
        "fmp": FmpResource(
            http=http,
            api_key=secret("fmp_api_key"),
            requests_per_minute=settings.fmp_requests_per_minute,
            base_url=settings.fmp_base_url,
        ),
        "market_data": MarketDataResource(provider=settings.prices_provider, replay_dir=replay_dir),
        "dbt": LakehouseDbtResource(
            project_dir=dbt_project,
            dbt_executable=DBT_EXECUTABLE,
            target=settings.profile,  # dbt_project/profiles.yml has one output per profile
            lakehouse=lakehouse,
            home=str(home),
            threads=settings.dbt_threads,
            memory_limit=settings.dbt_memory_limit,
        ),
        "feast": FeastResource(
            profile=settings.profile,
            home=str(home),
            registry_uri=secret("feast_registry_uri"),
            redis=secret("feast_redis"),
        ),
        "mlflow": mlflow,
        "optuna": optuna,
        "alerts": AlertWebhookResource(url=secret("alert_webhook_url"), ui_url=settings.dagster_ui_url),
    }


def _public_url(uri: str | None) -> str | None:
    """An http(s) tracking URI without its credentials (links in metadata are shown to everyone), else None."""
    if not uri or not uri.startswith(("http://", "https://")):
        return None
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
