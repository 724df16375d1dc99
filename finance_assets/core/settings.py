"""The configuration boundary: ONE pydantic-settings model of every environment variable the lakehouse reads.

Who reads it: the entry points only. The Dagster code location (``finance_assets/definitions.py``) reads it
once and composes the resources from it (``finance_assets/resources.py``); the processes Dagster does not
drive read it at their own boundary: the CLI (``finance_assets.cli``), the dbt plugin inside dbt's
process, the Feast CLI and server. Everything else receives what it needs (assets through their resources,
helpers as arguments), so a run can be configured in the launchpad and nothing depends on the process
environment behind its back.

A bad value fails at load with a :class:`SettingsError` naming the variable and the fix (secrets never
echoed); a value that only some steps need (a key, a server URL) is checked where it is used, through
:func:`missing_setting`, so an unset FMP key fails the FMP steps and nothing else.

The reference page ``docs/configuration.md`` is generated from this model (each field's ``description``,
default and section): ``python -m finance_assets.cli config-docs``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

Profile = Literal["local", "prod"]
PROFILES: tuple[str, ...] = ("local", "prod")
# How a run executes its steps (DAGSTER_EXECUTOR); finance_assets/core/executor.py maps each to Dagster's executor.
Executor = Literal["multiprocess", "in_process", "k8s"]
EXECUTORS: tuple[str, ...] = ("multiprocess", "in_process", "k8s")

# Every company with recorded companyfacts plus the S&P 500 members with recorded prices (edgar/universe.py).
DEFAULT_UNIVERSE = "recorded,sp500"
# First daily price partition (and first monthly prediction partition). A constant, not a setting: a
# partition set must not depend on the environment of whoever imports it. PRICES_START may not precede it.
PRICES_PARTITIONS_START = date(2005, 1, 1)
REPLAY_USER_AGENT = "finance-lakehouse replay@localhost.invalid"  # replay sends nothing anywhere

# SEC asks for "Sample Company Name AdminContact@<sample company domain>.com".
_USER_AGENT = re.compile(r"^\S.*\s+[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# Feast's Redis connection string: host:port[,db=N][,password=...][,ssl=true]
_FEAST_REDIS = re.compile(r"^[^\s,:/]+:\d{1,5}(,[a-z_]+=[^,\s]*)*$")
_POSTGRES: tuple[str, ...] = ("postgresql", "postgresql+psycopg2")
_SQL: tuple[str, ...] = (*_POSTGRES, "sqlite", "mysql", "mysql+pymysql")

# What to do when a value is needed and absent: the message of missing_setting(variable).
_WHEN_MISSING: dict[str, str] = {
    "SEC_USER_AGENT": (
        "SEC EDGAR requires a User-Agent naming you and an email, "
        'e.g. export SEC_USER_AGENT="Jane Doe jane.doe@example.com" (or set REPLAY_DIR for offline replay).'
    ),
    "FMP_API_KEY": (
        "The Financial Modeling Prep assets need an API key: get one at financialmodelingprep.com and "
        "export FMP_API_KEY=<key> (other assets run without it)."
    ),
    "DAGSTER_POSTGRES_URL": (
        "the prod Dagster instance stores runs, events and schedules in Postgres "
        "(or set DAGSTER_PG_HOST, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB). "
        "See .env.example for the format."
    ),
    "MLFLOW_TRACKING_URI": "the MLflow server URL. See .env.example for the format.",
    "FEAST_REGISTRY_URI": "Feast's SQL registry on Postgres. See .env.example for the format.",
    "FEAST_REDIS": "Feast's Redis online store, e.g. redis:6379,db=0. See .env.example for the format.",
    "OPTUNA_STORAGE": "the Optuna study storage on Postgres. See .env.example for the format.",
}


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable and the fix."""


def missing_setting(variable: str) -> SettingsError:
    """The error for a variable that is needed here and not set (raised where the value is used)."""
    separator = ":" if _WHEN_MISSING.get(variable, "")[:1].islower() else "."
    return SettingsError(f"{variable} is not set{separator} {_WHEN_MISSING.get(variable, 'see .env.example.')}")


def _var(name: str, section: str, default: Any = None, *, secret: bool = False, **kwargs: Any) -> Any:
    """A field read from the environment variable ``name``; ``section`` groups it in the generated docs.

    A secret is left out of ``repr`` and of the docs' defaults; its description is the docstring under it.
    """
    extra = {"section": section, "secret": secret}
    return Field(default, validation_alias=name, repr=not secret, json_schema_extra=extra, **kwargs)


# The environment a Settings() call reads: os.environ unless from_env() was given a mapping.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("lakehouse_settings_environ", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over :data:`_ENVIRON` (tests and subprocess wrappers pass a mapping)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _ENVIRON.get()
        return parse_env_vars(os.environ if env is None else env, True, True, self.env_parse_none_str)


# Sections of the generated docs, in order.
SOURCES = "Profile and sources"
STORAGE = "Iceberg catalog, warehouse and raw archive"
DAGSTER = "Dagster instance"
SERVICES = "MLflow, Feast and Optuna"
AUTOMATION = "Automation and retraining"
DBT = "dbt (the dbt-duckdb engine)"
MAINTENANCE = "Table maintenance"


class Settings(BaseSettings):
    """Every knob of the lakehouse, from the environment (variable names are the field aliases)."""

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
        validate_default=False,
    )

    # ---- profile and sources ------------------------------------------------------------------------------
    profile: Profile = _var("LAKEHOUSE_PROFILE", SOURCES, "local")
    """`local`: embedded SQLite catalog, files, SQLite MLflow/Feast. `prod`: Postgres, S3 and Redis."""
    home: Path = _var("LAKEHOUSE_HOME", SOURCES, Path(".lakehouse"), validate_default=True)
    """Where the embedded profile keeps everything (made absolute); in prod each process's scratch (HTTP cache,
    dbt's DuckDB engine file)."""
    replay_dir: Path | None = _var("REPLAY_DIR", SOURCES)
    """Replay recorded responses from this folder (laid out like `../shared/replay`); unset: the live sources."""
    sec_user_agent: str | None = _var("SEC_USER_AGENT", SOURCES)
    """Required for live EDGAR: `"Your Name you@example.com"` (SEC's fair-access rule)."""
    fmp_api_key: str | None = _var("FMP_API_KEY", SOURCES, secret=True)
    """Financial Modeling Prep key. Only the FMP assets need it; never logged or stored."""
    universe: str = _var("UNIVERSE", SOURCES, DEFAULT_UNIVERSE)
    """Comma list of tickers, CIKs, files (one per line, `#` comments) and named universes: `sp500` (482 S&P 500
    members with recorded prices), `recorded` (every company with recorded companyfacts; needs REPLAY_DIR).
    Resolved against SEC's ticker map before anything runs (`finance_assets/edgar/universe.py`)."""
    universe_skip_unknown: bool = _var("UNIVERSE_SKIP_UNKNOWN", SOURCES, False)
    """Skip UNIVERSE tickers SEC's map does not know, with a warning, instead of failing before the run."""
    sec_requests_per_second: float = _var("SEC_REQUESTS_PER_SECOND", SOURCES, 10.0, gt=0, le=10)
    """EDGAR request rate, at most 10 (SEC's ceiling for the whole deployment)."""
    fmp_requests_per_minute: float = _var("FMP_REQUESTS_PER_MINUTE", SOURCES, 300.0, gt=0)
    """Your FMP plan's request rate."""
    sec_bulk_dir: Path | None = _var("SEC_BULK_DIR", SOURCES)
    """Where SEC's nightly bulk archives (`companyfacts.zip`, `submissions.zip`, 1-2 GB each) are downloaded and
    revalidated (an unchanged archive is one 304); unset: `$LAKEHOUSE_HOME/bulk`. A volume every run can read
    (one download serves every run of a bulk load)."""
    sec_www_base_url: str = _var("SEC_WWW_BASE_URL", SOURCES, "https://www.sec.gov")
    """Where requests for https://www.sec.gov go (ticker map, archives): a mirror, a proxy or a test server."""
    sec_data_base_url: str = _var("SEC_DATA_BASE_URL", SOURCES, "https://data.sec.gov")
    """Where requests for https://data.sec.gov go (companyfacts, submissions): a mirror, a proxy or a test server."""
    fmp_base_url: str = _var("FMP_BASE_URL", SOURCES, "https://financialmodelingprep.com")
    """Where requests for Financial Modeling Prep go: a mirror, a proxy or a test server."""
    rate_limit_redis_url: str | None = _var("RATE_LIMIT_REDIS_URL", SOURCES, secret=True)
    """Redis holding the request budget of each source, shared by every process and pod (`redis://host:6379/0`).
    Default: prod: FEAST_REDIS's server; local: the SQLite file `$LAKEHOUSE_HOME/rate_limit.sqlite`."""
    http_timeout_seconds: float = _var("HTTP_TIMEOUT_SECONDS", SOURCES, 30.0, gt=0)
    """Source client timeout per request."""
    http_max_retries: int = _var("HTTP_MAX_RETRIES", SOURCES, 5, ge=0)
    """Source client retries on 429/5xx/timeouts (0: none)."""
    ingest_max_shrink: float = _var("INGEST_MAX_SHRINK", SOURCES, 0.5, ge=0, le=1)
    """A company's Bronze rows may shrink by at most this share against the loaded snapshot (0..1); a larger
    drop is rejected before the write (status `rejected`), the loaded rows stay."""
    ingest_accept_shrink: bool = _var("INGEST_ACCEPT_SHRINK", SOURCES, False)
    """`true`: accept a larger shrink (a legitimate restatement or a source that dropped history)."""
    prices_provider: str = _var("PRICES_PROVIDER", SOURCES, "yfinance")
    """OpenBB provider of daily prices."""
    prices_start: date = _var("PRICES_START", SOURCES, PRICES_PARTITIONS_START)
    """First day of prices the demo loads; not before 2005-01-01, the first daily partition."""

    # ---- Iceberg catalog, warehouse and raw archive -----------------------------------------------------------
    catalog_uri: str | None = _var("ICEBERG_CATALOG_URI", STORAGE, secret=True)
    """The SQL catalog `lakehouse`. Default (local): `sqlite:///$LAKEHOUSE_HOME/catalog.db`; prod: required,
    `postgresql+psycopg2://...`."""
    warehouse: str | None = _var("ICEBERG_WAREHOUSE", STORAGE)
    """Data and metadata files. Default (local): `$LAKEHOUSE_HOME/warehouse`; prod: required, `s3://bucket/prefix`."""
    s3_endpoint: str | None = _var("S3_ENDPOINT_URL", STORAGE)
    """S3 endpoint (AWS, MinIO, SeaweedFS); non-AWS endpoints get path-style addressing."""
    s3_region: str = _var("AWS_REGION", STORAGE, "us-east-1")
    """S3 region."""
    s3_access_key_id: str | None = _var("AWS_ACCESS_KEY_ID", STORAGE, secret=True)
    """S3 access key."""
    s3_secret_access_key: str | None = _var("AWS_SECRET_ACCESS_KEY", STORAGE, secret=True)
    """S3 secret key."""
    archive_uri: str | None = _var("RAW_ARCHIVE_URI", STORAGE)
    """Raw payload archive. Default (local): `$LAKEHOUSE_HOME/raw`; prod: required, `s3://bucket/prefix`."""

    # ---- Dagster instance -------------------------------------------------------------------------------------
    postgres_url: str | None = _var("DAGSTER_POSTGRES_URL", DAGSTER, secret=True)
    """prod: Dagster's runs, event logs, schedules and pool slots (`deploy/dagster.yaml`)."""
    pg_host: str | None = _var("DAGSTER_PG_HOST", DAGSTER)
    """Instead of DAGSTER_POSTGRES_URL (the Helm chart's convention): the host; with the four below."""
    pg_port: str | None = _var("DAGSTER_PG_PORT", DAGSTER)
    """With DAGSTER_PG_HOST: the port (5432 when unset)."""
    pg_username: str | None = _var("DAGSTER_PG_USERNAME", DAGSTER)
    """With DAGSTER_PG_HOST: the user."""
    pg_password: str | None = _var("DAGSTER_PG_PASSWORD", DAGSTER, secret=True)
    """With DAGSTER_PG_HOST: the password (quoted into the URL)."""
    pg_db: str | None = _var("DAGSTER_PG_DB", DAGSTER)
    """With DAGSTER_PG_HOST: the database."""
    executor: Executor = _var("DAGSTER_EXECUTOR", DAGSTER, "multiprocess")
    """How every job's run executes its steps: `multiprocess` (Dagster's default: a process per step; a run may
    still ask for `execution: {config: {in_process: {}}}`), `in_process` (all steps in the run's process), `k8s`
    (a Kubernetes pod per step, `dagster_k8s.k8s_job_executor`; the Helm values set it). Runs launched by
    `make demo` and `cli materialize` always execute in process."""
    k8s_max_concurrent: int = _var("DAGSTER_K8S_MAX_CONCURRENT", DAGSTER, 4, ge=1)
    """With DAGSTER_EXECUTOR=k8s: step pods one run keeps at once (each requests the run pod's resources)."""

    # ---- MLflow, Feast, Optuna ----------------------------------------------------------------------------
    mlflow_tracking_uri: str | None = _var("MLFLOW_TRACKING_URI", SERVICES, secret=True)
    """The MLflow tracking server. Default (local): `sqlite:///$LAKEHOUSE_HOME/mlflow.db` with artifacts in
    `$LAKEHOUSE_HOME/mlartifacts`; prod: required."""
    mlflow_backend_store_uri: str | None = _var("MLFLOW_BACKEND_STORE_URI", SERVICES, secret=True)
    """The MLflow server's own run and registry store (the server of `deploy/`)."""
    mlflow_artifacts_destination: str | None = _var("MLFLOW_ARTIFACTS_DESTINATION", SERVICES)
    """The MLflow server's artifact store, `s3://...` (the server of `deploy/`)."""
    feast_registry_uri: str | None = _var("FEAST_REGISTRY_URI", SERVICES, secret=True)
    """prod: Feast's SQL registry on Postgres (local: `$LAKEHOUSE_HOME/feast/registry.db`)."""
    feast_redis: str | None = _var("FEAST_REDIS", SERVICES, secret=True)
    """prod: Feast's Redis online store, `host:port[,db=N][,password=...]` (local: SQLite)."""
    mlflow_ui_url: str | None = _var("MLFLOW_UI_URL", SERVICES)
    """Where operators open MLflow (run links in Dagster's metadata). Default: the tracking server's URL when
    it is http(s), else `make mlflow-ui`'s http://127.0.0.1:5000."""
    optuna_storage: str | None = _var("OPTUNA_STORAGE", SERVICES, secret=True)
    """Optuna study storage. Default (local): `sqlite:///$LAKEHOUSE_HOME/optuna.db`; prod: required."""

    # ---- automation ---------------------------------------------------------------------------------------
    automation: bool = _var("LAKEHOUSE_AUTOMATION", AUTOMATION, False)
    """`on`: schedules and sensors start RUNNING (`make dev` sets it); `off`: STOPPED."""
    retrain_min_rank_ic: float = _var("RETRAIN_MIN_RANK_IC", AUTOMATION, 0.0, ge=-1, le=1)
    """Retrain when the 6-month rolling rank IC of the live predictions falls below this (-1..1)."""
    retrain_min_coverage: float = _var("RETRAIN_MIN_COVERAGE", AUTOMATION, 0.5, ge=0, le=1)
    """Retrain when the 6-month rolling p10-p90 coverage falls below this (0..1)."""
    alert_webhook_url: str | None = _var("ALERT_WEBHOOK_URL", AUTOMATION, secret=True)
    """Slack-compatible incoming webhook (`{"text": ...}`) for failed runs and failed checks; unset: no alerts
    (the alert sensors skip every tick)."""
    dagster_ui_url: str = _var("DAGSTER_UI_URL", AUTOMATION, "http://127.0.0.1:3000")
    """Where operators open the Dagster UI: alerts link to runs and assets under this URL."""

    # ---- dbt ----------------------------------------------------------------------------------------------
    dbt_threads: int = _var("DBT_THREADS", DBT, 1, ge=1)
    """dbt threads. The models form a chain and DuckDB parallelises each query over all cores."""
    dbt_memory_limit: str = _var("DBT_DUCKDB_MEMORY_LIMIT", DBT, "2GB")
    """DuckDB's memory limit inside dbt; larger joins spill to disk. 2GB keeps the whole pipeline under 4 GiB
    at 1,000 companies (peak 3.2 GiB; 4GB: 5.0 GiB) for ~5 % more dbt time (scaling benchmark)."""

    # ---- table maintenance (the `lakehouse_maintenance` job, `cli maintain`) -------------------------------
    snapshot_retention_days: float = _var("ICEBERG_SNAPSHOT_RETENTION_DAYS", MAINTENANCE, 7.0, ge=0)
    """Snapshots older than this are expired (time travel reaches back this far); snapshots tagged
    `lineage/...` (what predictions and training sets read) are kept whatever their age."""
    snapshot_retain_last: int = _var("ICEBERG_SNAPSHOT_RETAIN_LAST", MAINTENANCE, 5, ge=1)
    """However old, each table keeps at least this many of its latest snapshots."""
    orphan_min_age_hours: float = _var("ICEBERG_ORPHAN_MIN_AGE_HOURS", MAINTENANCE, 24.0, ge=0)
    """A file no snapshot references is removed once it is this old (younger ones may be a write in flight)."""
    compact_min_files: int = _var("ICEBERG_COMPACT_MIN_FILES", MAINTENANCE, 8, ge=2)
    """A partition with at least this many data files smaller than the target size is rewritten as one."""
    compact_target_file_mb: int = _var("ICEBERG_COMPACT_TARGET_FILE_MB", MAINTENANCE, 128, ge=1)
    """Data files below this size count as small for compaction."""

    # ---- construction -------------------------------------------------------------------------------------
    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``env`` (default: ``os.environ``), and nothing else (no .env file, no defaults leak)."""
        token = _ENVIRON.set(env)
        try:
            return cls()
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls)

    # ---- validation: each message names the variable and the fix ---------------------------------------------
    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        profile = str(value).lower()
        if profile not in PROFILES:
            raise ValueError(
                f"LAKEHOUSE_PROFILE={profile!r} does not exist. Use one of {', '.join(PROFILES)} "
                "(local: embedded SQLite catalog and files; prod: Postgres, S3 and Redis)."
            )
        return profile

    @field_validator("executor", mode="before")
    @classmethod
    def _executor(cls, value: Any) -> Any:
        executor = str(value).lower()
        if executor not in EXECUTORS:
            raise ValueError(
                f"DAGSTER_EXECUTOR={executor!r} does not exist. Use one of {', '.join(EXECUTORS)} "
                "(multiprocess: a process per step; in_process: one process; k8s: a Kubernetes pod per step)."
            )
        return executor

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("replay_dir", mode="before")
    @classmethod
    def _replay_dir(cls, value: Any) -> Any:
        folder = Path(value).expanduser().resolve()
        if not folder.is_dir() or not os.access(folder, os.R_OK | os.X_OK):
            raise ValueError(
                f"REPLAY_DIR={value!r} is not a readable directory. Point it at the recorded "
                "responses (e.g. REPLAY_DIR=../shared/replay) or unset it to call the live sources."
            )
        if not (folder / "edgar").is_dir():
            raise ValueError(
                f"REPLAY_DIR={value!r} has no edgar/ folder: it is not laid out like ../shared/replay (see its README)."
            )
        return folder

    @field_validator("sec_user_agent", mode="before")
    @classmethod
    def _user_agent(cls, value: Any) -> Any:
        if not _USER_AGENT.match(str(value)):
            raise ValueError(
                f"SEC_USER_AGENT={value!r} is not 'Name email'. SEC asks for your name or company "
                'and a contact email, e.g. SEC_USER_AGENT="Jane Doe jane.doe@example.com".'
            )
        return value

    @field_validator("universe", mode="before")
    @classmethod
    def _universe(cls, value: Any) -> Any:
        if not isinstance(value, str) or not any(item.strip() for item in value.split(",")):
            raise ValueError(
                f"UNIVERSE={value!r} is empty. Give tickers, CIKs, a file or a named universe, "
                "e.g. UNIVERSE=AAPL,MSFT or UNIVERSE=recorded,sp500."
            )
        return value.strip()

    @field_validator("prices_start", mode="after")
    @classmethod
    def _prices_start(cls, value: date) -> date:
        if value < PRICES_PARTITIONS_START:
            raise ValueError(
                f"PRICES_START={value.isoformat()!r} is before the first daily price partition "
                f"({PRICES_PARTITIONS_START}); use a later date (or move PRICES_PARTITIONS_START in core/settings.py)."
            )
        return value

    @field_validator("feast_redis", mode="before")
    @classmethod
    def _feast_redis(cls, value: Any) -> Any:
        if not _FEAST_REDIS.match(str(value)):
            raise ValueError(
                "FEAST_REDIS is not a Feast Redis connection string: expected host:port[,db=N][,password=...], "
                "e.g. FEAST_REDIS=redis:6379,db=0 (no redis:// prefix)."
            )
        return value

    @field_validator(
        "sec_www_base_url",
        "sec_data_base_url",
        "fmp_base_url",
        "rate_limit_redis_url",
        "catalog_uri",
        "warehouse",
        "s3_endpoint",
        "archive_uri",
        "postgres_url",
        "mlflow_tracking_uri",
        "mlflow_backend_store_uri",
        "mlflow_artifacts_destination",
        "feast_registry_uri",
        "optuna_storage",
        "alert_webhook_url",
        "dagster_ui_url",
        "mlflow_ui_url",
        mode="before",
    )
    @classmethod
    def _urls(cls, value: Any, info: ValidationInfo) -> Any:
        _check_scheme(env_name(info.field_name), str(value), _SCHEMES[info.field_name])
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """Declared after the field validators: pydantic runs "before" validators last-declared first, so a blank
        value means unset for every variable before any of them reads it."""
        if isinstance(value, str):
            if not value.strip():
                raise PydanticUseDefault()
            return value.strip()
        return value

    @model_validator(mode="after")
    def _profile_requirements(self) -> Settings:
        if self.pg_host:
            missing = [env_name(f) for f in ("pg_username", "pg_db") if not getattr(self, f)]
            if missing:
                raise ValueError(
                    f"DAGSTER_PG_* is incomplete: {', '.join(missing)} missing. Set all of DAGSTER_PG_HOST, "
                    "DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB (DAGSTER_PG_PORT defaults to 5432), "
                    "or one DAGSTER_POSTGRES_URL."
                )
            if self.pg_port and not self.pg_port.isdigit():
                raise ValueError(f"DAGSTER_PG_PORT={self.pg_port!r} is not a port number.")
        if self.profile == "prod":
            missing = [env_name(f) for f in ("catalog_uri", "warehouse", "archive_uri") if not getattr(self, f)]
            if missing:
                raise ValueError(
                    f"LAKEHOUSE_PROFILE=prod needs {', '.join(missing)}: see .env.example for every "
                    "endpoint the production profile uses."
                )
            # prod is shared storage: a Postgres catalog and S3, never a file on one machine
            _check_scheme("ICEBERG_CATALOG_URI", self.catalog_uri or "", _POSTGRES, profile="prod")
            _check_scheme("ICEBERG_WAREHOUSE", self.warehouse or "", ("s3",), profile="prod")
            _check_scheme("RAW_ARCHIVE_URI", self.archive_uri or "", ("s3",), profile="prod")
        return self

    # ---- derived values -----------------------------------------------------------------------------------
    @property
    def replay(self) -> bool:
        return self.replay_dir is not None

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def http_cache_dir(self) -> Path:
        return self.home / "http_cache"

    @property
    def bulk_dir(self) -> Path:
        """Where SEC's bulk archives are downloaded: SEC_BULK_DIR, or ``$LAKEHOUSE_HOME/bulk``."""
        return self.sec_bulk_dir or self.home / "bulk"

    @property
    def rate_limit_store(self) -> str:
        """Where the sources' request budgets live: RATE_LIMIT_REDIS_URL, prod's Feast Redis, or a local SQLite file."""
        redis = self.rate_limit_redis_url or (self.feast_redis if self.profile == "prod" else None)
        return redis_url(redis) if redis else str(self.home / "rate_limit.sqlite")

    @property
    def iceberg_catalog_uri(self) -> str:
        """The catalog URI: ICEBERG_CATALOG_URI, or the embedded SQLite file (local)."""
        return self.catalog_uri or f"sqlite:///{self.home / 'catalog.db'}"

    @property
    def iceberg_warehouse(self) -> str:
        return self.warehouse or (self.home / "warehouse").as_uri()

    @property
    def archive_location(self) -> str:
        """Where raw payloads are archived: a local folder, or an ``s3://`` prefix in prod."""
        return self.archive_uri or str(self.home / "raw")

    @property
    def s3_path_style(self) -> bool:
        return s3_path_style(self.s3_endpoint)

    def catalog_properties(self) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.sql.SqlCatalog(CATALOG_NAME, **props)``."""
        return iceberg_catalog_properties(
            uri=self.iceberg_catalog_uri,
            warehouse=self.iceberg_warehouse,
            s3_endpoint=self.s3_endpoint,
            s3_region=self.s3_region,
            s3_access_key_id=self.s3_access_key_id,
            s3_secret_access_key=self.s3_secret_access_key,
        )

    @property
    def dagster_postgres_url(self) -> str | None:
        """DAGSTER_POSTGRES_URL, or DAGSTER_PG_* as one URL, quoted like dagster-postgres does.

        DAGSTER_PG_* count only when DAGSTER_PG_HOST is set: the Helm chart puts DAGSTER_PG_PASSWORD alone
        into every pod.
        """
        if self.postgres_url or not self.pg_host:
            return self.postgres_url
        user = quote(self.pg_username or "", safe="")
        userinfo = f"{user}:{quote(self.pg_password, safe='')}" if self.pg_password else user
        return f"postgresql://{userinfo}@{self.pg_host}:{self.pg_port or '5432'}/{self.pg_db}"

    def require(self, name: str) -> str:
        """The value of field ``name`` (or ``dagster_postgres_url``), or the error naming its variable."""
        value = getattr(self, name)
        if value:
            return value
        raise missing_setting("DAGSTER_POSTGRES_URL" if name == "dagster_postgres_url" else env_name(name))


# URL schemes each URL-valued setting accepts (prod narrows some of them further)
_SCHEMES: dict[str, tuple[str, ...]] = {
    "sec_www_base_url": ("http", "https"),
    "sec_data_base_url": ("http", "https"),
    "fmp_base_url": ("http", "https"),
    "rate_limit_redis_url": ("redis", "rediss", "unix"),
    "catalog_uri": _SQL,
    "warehouse": ("s3", "file"),
    "s3_endpoint": ("http", "https"),
    "archive_uri": ("s3", "file"),
    "postgres_url": _POSTGRES,
    "mlflow_tracking_uri": ("http", "https", *_SQL, "file"),
    "mlflow_backend_store_uri": _SQL,
    "mlflow_artifacts_destination": ("s3", "file"),
    "feast_registry_uri": _SQL,
    "optuna_storage": _SQL,
    "alert_webhook_url": ("http", "https"),
    "dagster_ui_url": ("http", "https"),
    "mlflow_ui_url": ("http", "https"),
}


def env_name(field_name: str) -> str:
    """The environment variable of settings field ``field_name`` (for code that passes settings on as env)."""
    return str(Settings.model_fields[field_name].validation_alias)


def _check_scheme(variable: str, raw: str, schemes: tuple[str, ...], *, profile: str | None = None) -> None:
    """A URL-valued variable's scheme must be one of ``schemes``; the value itself is never echoed (secrets)."""
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in schemes:
        return
    where = f" with LAKEHOUSE_PROFILE={profile}" if profile else ""
    shown = f"{scheme}://..." if scheme else "a value without a scheme"
    raise ValueError(
        f"{variable} is {shown}{where}; expected a URL starting with "
        f"{' or '.join(s + '://' for s in schemes)} (see .env.example)."
    )


# pydantic's error types, said the project's way: "{variable}={value!r} <what is wrong>."
_PROBLEMS: dict[str, str] = {
    "float_parsing": "is not a number",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "exceeds {le}",
    "date_parsing": "is not an ISO date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "is not an ISO date (YYYY-MM-DD)",
    "bool_parsing": "is not a switch: use on or off",
    "literal_error": "is not one of {expected}",
}


def _explain(error: ValidationError) -> str:
    """One line naming every bad variable: our validators' messages as they are, pydantic's reworded.

    The value of a secret is never shown.
    """
    secrets = {env_name(name) for name, field in Settings.model_fields.items() if not field.repr}
    messages = []
    for item in error.errors():
        ctx = item.get("ctx") or {}
        if isinstance(ctx.get("error"), ValueError):
            messages.append(str(ctx["error"]))
            continue
        variable = ".".join(str(part) for part in item["loc"]) or "settings"
        if variable in Settings.model_fields:  # given by field name (Settings(home=...)), not from the environment
            variable = env_name(variable)
        problem = _PROBLEMS.get(item["type"], item["msg"]).format(**{k: _plain(v) for k, v in ctx.items()})
        shown = "" if variable in secrets else f"={item.get('input')!r}"
        messages.append(f"{variable}{shown} {problem}: {_descriptions().get(variable, 'see .env.example.')}")
    return " ".join(messages)


def _descriptions() -> dict[str, str]:
    """Variable -> what it is (the field's docstring), the hint after a reworded pydantic error."""
    return {env_name(name): " ".join((f.description or "").split()) for name, f in Settings.model_fields.items()}


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def redis_url(connection: str) -> str:
    """A ``redis://`` URL from one, or from Feast's ``host:port[,db=N][,password=...][,ssl=true]`` string."""
    if "://" in connection:
        return connection
    hostport, *options = connection.split(",")
    opts = dict(option.split("=", 1) for option in options if "=" in option)
    scheme = "rediss" if opts.get("ssl", "").lower() == "true" else "redis"
    auth = f":{quote(opts['password'], safe='')}@" if opts.get("password") else ""
    return f"{scheme}://{auth}{hostport}/{opts.get('db', '0')}"


def s3_path_style(endpoint: str | None) -> bool:
    """MinIO, SeaweedFS and other non-AWS endpoints want ``host/bucket/key``, not ``bucket.host/key``."""
    host = urlsplit(endpoint or "").hostname or ""
    return bool(endpoint) and not host.endswith("amazonaws.com")


def iceberg_catalog_properties(
    *,
    uri: str,
    warehouse: str,
    s3_endpoint: str | None = None,
    s3_region: str | None = None,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
) -> dict[str, str]:
    """The pyiceberg SQL-catalog properties of a catalog URI, a warehouse and (for ``s3://``) the S3 endpoint."""
    props = {"uri": uri, "warehouse": warehouse}
    if not warehouse.startswith("s3://"):
        return props
    if s3_endpoint:
        props["s3.endpoint"] = s3_endpoint
    if s3_access_key_id:
        props["s3.access-key-id"] = s3_access_key_id
    if s3_secret_access_key:
        props["s3.secret-access-key"] = s3_secret_access_key
    props["s3.region"] = s3_region or "us-east-1"
    if s3_path_style(s3_endpoint):
        # pyiceberg's PyArrowFileIO reads force-virtual-addressing; path-style-access is the Java
        # FileIO's name, kept so the same properties serve Spark/Trino catalogs too.
        props["s3.force-virtual-addressing"] = "false"
        props["s3.path-style-access"] = "true"
    return props


@contextmanager
def environment(values: Mapping[str, str] | None = None, *, unset: Iterable[str] = ()) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``unset`` removed until the block ends, then exactly as before.

    For what reads the environment itself (a dbt subprocess, a test's lakehouse, a benchmark in live mode).
    """
    values = dict(values or {})
    unset = tuple(unset)
    saved = {name: os.environ.get(name) for name in (*unset, *values)}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
