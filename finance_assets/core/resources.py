"""The shared outside systems as Dagster resources with fields: the Iceberg catalog, S3, the raw archive, HTTP.

Each field is what the launchpad shows (secrets as the name of their environment variable, composed in
``finance_assets/resources.py``); nothing here reads the environment. A domain's own systems (SEC, FMP,
market data, Feast, MLflow, dbt) are in that domain's ``resources.py``.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from finance_assets.core.archive import LocalBlobStore, PayloadArchive, S3BlobStore
from finance_assets.core.http import SourceClient
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.replay import ReplayRoute
from finance_assets.core.settings import iceberg_catalog_properties, redis_url
from finance_assets.core.sources import ReplayWrap, source_client


def local_path(uri: str) -> Path | None:
    """The folder or file behind a ``file://`` / ``sqlite:///`` URI or a plain path; None for a server or S3."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///").split("?")[0])
    if uri.startswith("file://"):
        return Path(urlsplit(uri).path)
    return None if "://" in uri else Path(uri)


class LakehouseResource(dg.ConfigurableResource):
    """The Iceberg catalog ``lakehouse``: its SQL catalog, the warehouse, and S3 when the warehouse is there."""

    profile: str = Field(default="local", description="The profile these resources were composed for: local or prod.")
    catalog_uri: str = Field(description="SQL catalog: sqlite:///... (embedded) or postgresql+psycopg2://... (prod).")
    warehouse: str = Field(description="Data and metadata files: file:///... (embedded) or s3://bucket/prefix.")
    s3: dg.ResourceDependency[S3Resource]

    def catalog_properties(self) -> dict[str, str]:
        return iceberg_catalog_properties(
            uri=self.catalog_uri,
            warehouse=self.warehouse,
            s3_endpoint=self.s3.endpoint_url,
            s3_region=self.s3.region_name,
            s3_access_key_id=self.s3.aws_access_key_id,
            s3_secret_access_key=self.s3.aws_secret_access_key,
        )

    def lakehouse(self) -> IcebergLakehouse:
        for uri, folder in ((self.catalog_uri, False), (self.warehouse, True)):
            path = local_path(uri)
            if path is not None:  # the embedded profile: SQLite creates no folders
                (path if folder else path.parent).mkdir(parents=True, exist_ok=True)
        return IcebergLakehouse(self.catalog_properties())


class RawArchiveResource(dg.ConfigurableResource):
    """Where raw payloads go: a local folder (embedded) or an ``s3://`` prefix through dagster-aws's S3 client."""

    location: str = Field(description="Folder or s3://bucket/prefix of the content-addressed payload archive.")
    s3: dg.ResourceDependency[S3Resource]

    def archive(self) -> PayloadArchive:
        if self.location.startswith("s3://"):
            return PayloadArchive(S3BlobStore(self.s3.get_client(), self.location))
        return PayloadArchive(LocalBlobStore(Path(self.location)))


class HttpClientResource(dg.ConfigurableResource):
    """How the HTTP sources (SEC, FMP) are reached: live or replayed, timeouts, retries and the HTTP cache."""

    replay_dir: str | None = Field(
        default=None, description="Replay recorded responses from this folder (REPLAY_DIR); None: live sources."
    )
    cache_dir: str = Field(description="HTTP response cache (ETag / Last-Modified revalidation).")
    timeout_seconds: float = Field(default=30.0, description="Timeout per request.")
    max_retries: int = Field(default=5, description="Retries on 429/5xx/timeouts.")
    rate_limit_redis: str | None = Field(
        default=None,
        description=(
            "Redis holding each source's request budget for every process and pod: a redis:// URL "
            "(RATE_LIMIT_REDIS_URL) or Feast's host:port,db=N string (FEAST_REDIS); None: rate_limit_file."
        ),
    )
    rate_limit_file: str = Field(description="SQLite file holding the budgets when there is no Redis (one machine).")

    @property
    def replay(self) -> bool:
        return self.replay_dir is not None

    def rate_limit_store(self) -> str:
        """Where the budgets live: the Redis URL, or the SQLite file."""
        return redis_url(self.rate_limit_redis) if self.rate_limit_redis else self.rate_limit_file

    def client(
        self,
        source: str,
        *,
        user_agent: str,
        rate_per_second: float,
        routes: Sequence[ReplayRoute],
        secret_params: tuple[str, ...] = ("apikey",),
        origins: Mapping[str, str] | None = None,
        replay_wrap: ReplayWrap | None = None,
    ) -> SourceClient:
        """The source's client; ``origins`` maps its canonical origins to the configured base URLs.

        ``replay_wrap``: in replay, what the source serves beyond its recorded routes (SEC's bulk archives).
        """
        return source_client(
            source,
            user_agent=user_agent,
            rate_per_second=rate_per_second,
            routes=routes,
            secret_params=secret_params,
            rate_limit_store=self.rate_limit_store(),
            origins=origins,
            replay_wrap=replay_wrap,
            replay_dir=Path(self.replay_dir) if self.replay_dir else None,
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
            cache_dir=Path(self.cache_dir),
        )


class IngestPolicyResource(dg.ConfigurableResource):
    """What a company's new Bronze rows must satisfy before they replace its loaded ones (validate before commit).

    A run can override it in the launchpad (e.g. ``accept_shrink: true`` for one legitimate restatement).
    """

    max_shrink: float = Field(
        default=0.5, ge=0, le=1, description="Largest accepted drop of a company's row count against its loaded rows."
    )
    accept_shrink: bool = Field(default=False, description="Accept any shrink (never an empty payload over rows).")
