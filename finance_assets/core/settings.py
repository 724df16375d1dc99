"""The one settings object: every knob of the lakehouse comes from the environment through here.

Everything that reads configuration (Dagster resources, the dbt profile, the Feast store, the demo
script) calls :func:`get_settings`, so a variable is parsed, defaulted and validated in one place and a
bad value fails with a message that names the variable and says how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

Profile = Literal["local", "prod"]
PROFILES: tuple[str, ...] = ("local", "prod")
CATALOG_NAME = "lakehouse"
NAMESPACES: tuple[str, ...] = ("bronze", "silver", "gold", "ml")

# The companies whose companyfacts AND submissions are both in the replay data (../shared/replay).
DEFAULT_UNIVERSE: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "TSM", "MRVL")
MARKET_BENCHMARK = "^GSPC"

_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
# SEC asks for "Sample Company Name AdminContact@<sample company domain>.com".
_USER_AGENT = re.compile(r"^\S.*\s+[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    profile: Profile = "local"
    home: Path = field(default_factory=lambda: Path(".lakehouse").resolve())
    replay_dir: Path | None = None
    sec_user_agent: str | None = None
    fmp_api_key: str | None = field(default=None, repr=False)
    universe: tuple[str, ...] = DEFAULT_UNIVERSE
    sec_requests_per_second: float = 10.0
    fmp_requests_per_minute: float = 300.0
    http_timeout_seconds: float = 30.0
    http_max_retries: int = 5
    prices_provider: str = "yfinance"
    prices_start: date = date(2005, 1, 1)
    prices_replay_layout: str = "yahoo_daily"
    # prod profile endpoints (ignored by the embedded profile)
    catalog_uri: str | None = field(default=None, repr=False)  # may carry a password
    warehouse: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    archive_uri: str | None = None
    # services of the later layers (prod): parsed and checked here, required where they are used
    dagster_postgres_url: str | None = field(default=None, repr=False)
    mlflow_tracking_uri: str | None = field(default=None, repr=False)
    mlflow_backend_store_uri: str | None = field(default=None, repr=False)
    mlflow_artifacts_destination: str | None = None
    feast_registry_uri: str | None = field(default=None, repr=False)
    feast_redis: str | None = field(default=None, repr=False)
    optuna_storage: str | None = field(default=None, repr=False)
    # automation (schedules, sensors, automation conditions): off unless LAKEHOUSE_AUTOMATION=on (make dev)
    automation: bool = False
    # retrain the return model when its live performance (ml/prediction_performance, last 6 months) decays
    retrain_min_rank_ic: float = 0.0
    retrain_min_coverage: float = 0.5

    # ---- derived locations -------------------------------------------------------------------
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
    def archive_location(self) -> str:
        """Where raw payloads are archived: a local folder, or an ``s3://`` prefix in prod."""
        return self.archive_uri or str(self.home / "raw")

    def catalog_properties(self) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.sql.SqlCatalog(CATALOG_NAME, **props)``."""
        if self.profile == "local":
            return {
                "uri": f"sqlite:///{self.home / 'catalog.db'}",
                "warehouse": (self.home / "warehouse").as_uri(),
            }
        props = {"uri": self.catalog_uri or "", "warehouse": self.warehouse or ""}
        if self.s3_endpoint:
            props["s3.endpoint"] = self.s3_endpoint
        if self.s3_access_key_id:
            props["s3.access-key-id"] = self.s3_access_key_id
        if self.s3_secret_access_key:
            props["s3.secret-access-key"] = self.s3_secret_access_key
        props["s3.region"] = self.s3_region
        if self.s3_path_style:
            # pyiceberg's PyArrowFileIO reads force-virtual-addressing; path-style-access is the Java
            # FileIO's name, kept so the same properties serve Spark/Trino catalogs too.
            props["s3.force-virtual-addressing"] = "false"
            props["s3.path-style-access"] = "true"
        return props

    @property
    def s3_path_style(self) -> bool:
        """MinIO, SeaweedFS and other non-AWS endpoints want ``host/bucket/key``, not ``bucket.host/key``."""
        host = urlsplit(self.s3_endpoint or "").hostname or ""
        return bool(self.s3_endpoint) and not host.endswith("amazonaws.com")

    def _require(self, value: str | None, variable: str, what: str) -> str:
        if value:
            return value
        raise SettingsError(f"{variable} is not set: {what}. See .env.example for the format.")

    def require_dagster_postgres_url(self) -> str:
        return self._require(
            self.dagster_postgres_url,
            "DAGSTER_POSTGRES_URL",
            "the prod Dagster instance stores runs, events and schedules in Postgres "
            "(or set DAGSTER_PG_HOST, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB)",
        )

    def require_mlflow_tracking_uri(self) -> str:
        return self._require(self.mlflow_tracking_uri, "MLFLOW_TRACKING_URI", "the MLflow server URL")

    def require_feast_registry_uri(self) -> str:
        return self._require(self.feast_registry_uri, "FEAST_REGISTRY_URI", "Feast's SQL registry on Postgres")

    def require_feast_redis(self) -> str:
        return self._require(self.feast_redis, "FEAST_REDIS", "Feast's Redis online store, e.g. redis:6379,db=0")

    def require_optuna_storage(self) -> str:
        return self._require(self.optuna_storage, "OPTUNA_STORAGE", "the Optuna study storage on Postgres")

    # ---- validation used where a value is needed, not at load ------------------------------------
    def require_sec_user_agent(self) -> str:
        """SEC rejects anonymous clients; replay needs no identity but live EDGAR does."""
        if self.sec_user_agent:
            return self.sec_user_agent
        if self.replay:
            return "finance-lakehouse replay@localhost.invalid"
        raise SettingsError(
            "SEC_USER_AGENT is not set. SEC EDGAR requires a User-Agent naming you and an email, "
            'e.g. export SEC_USER_AGENT="Jane Doe jane.doe@example.com" (or set REPLAY_DIR for offline replay).'
        )

    def require_fmp_api_key(self) -> str:
        if self.fmp_api_key:
            return self.fmp_api_key
        if self.replay:
            return "replay"
        raise SettingsError(
            "FMP_API_KEY is not set. The Financial Modeling Prep assets need an API key: get one at "
            "financialmodelingprep.com and export FMP_API_KEY=<key> (other assets run without it)."
        )

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        profile = (get("LAKEHOUSE_PROFILE") or "local").lower()
        if profile not in PROFILES:
            raise SettingsError(
                f"LAKEHOUSE_PROFILE={profile!r} does not exist. Use one of {', '.join(PROFILES)} "
                "(local: embedded SQLite catalog and files; prod: Postgres, S3 and Redis)."
            )

        home = Path(get("LAKEHOUSE_HOME") or ".lakehouse").expanduser().resolve()

        replay_dir = None
        if raw_replay := get("REPLAY_DIR"):
            replay_dir = Path(raw_replay).expanduser().resolve()
            if not replay_dir.is_dir() or not os.access(replay_dir, os.R_OK | os.X_OK):
                raise SettingsError(
                    f"REPLAY_DIR={raw_replay!r} is not a readable directory. Point it at the recorded "
                    "responses (e.g. REPLAY_DIR=../shared/replay) or unset it to call the live sources."
                )
            if not (replay_dir / "edgar").is_dir():
                raise SettingsError(
                    f"REPLAY_DIR={raw_replay!r} has no edgar/ folder: it is not laid out like "
                    "../shared/replay (see its README)."
                )

        user_agent = get("SEC_USER_AGENT")
        if user_agent and not _USER_AGENT.match(user_agent):
            raise SettingsError(
                f"SEC_USER_AGENT={user_agent!r} is not 'Name email'. SEC asks for your name or company "
                'and a contact email, e.g. SEC_USER_AGENT="Jane Doe jane.doe@example.com".'
            )

        universe = DEFAULT_UNIVERSE
        if raw_universe := get("UNIVERSE"):
            universe = tuple(dict.fromkeys(t.strip().upper() for t in raw_universe.split(",") if t.strip()))
            bad = [t for t in universe if not _TICKER.match(t)]
            if bad or not universe:
                raise SettingsError(
                    f"UNIVERSE={raw_universe!r} has malformed tickers {bad}. Give comma-separated "
                    "exchange tickers, e.g. UNIVERSE=AAPL,MSFT,NVDA."
                )

        settings = cls(
            profile=profile,  # type: ignore[arg-type]
            home=home,
            replay_dir=replay_dir,
            sec_user_agent=user_agent,
            fmp_api_key=get("FMP_API_KEY"),
            universe=universe,
            sec_requests_per_second=_positive_float(env, "SEC_REQUESTS_PER_SECOND", 10.0, maximum=10.0),
            fmp_requests_per_minute=_positive_float(env, "FMP_REQUESTS_PER_MINUTE", 300.0),
            http_timeout_seconds=_positive_float(env, "HTTP_TIMEOUT_SECONDS", 30.0),
            http_max_retries=int(_positive_float(env, "HTTP_MAX_RETRIES", 5, minimum=0)),
            prices_provider=get("PRICES_PROVIDER") or "yfinance",
            prices_start=_date(env, "PRICES_START", date(2005, 1, 1)),
            prices_replay_layout=_choice(env, "PRICES_REPLAY_LAYOUT", ("yahoo_daily", "yahoo_web_export")),
            catalog_uri=get("ICEBERG_CATALOG_URI"),
            warehouse=get("ICEBERG_WAREHOUSE"),
            s3_endpoint=get("S3_ENDPOINT_URL"),
            s3_region=get("AWS_REGION") or "us-east-1",
            s3_access_key_id=get("AWS_ACCESS_KEY_ID"),
            s3_secret_access_key=get("AWS_SECRET_ACCESS_KEY"),
            archive_uri=get("RAW_ARCHIVE_URI"),
            dagster_postgres_url=_url(env, "DAGSTER_POSTGRES_URL", _POSTGRES) or _dagster_pg_parts(env),
            mlflow_tracking_uri=_url(env, "MLFLOW_TRACKING_URI", ("http", "https", *_SQL, "file")),
            mlflow_backend_store_uri=_url(env, "MLFLOW_BACKEND_STORE_URI", _SQL),
            mlflow_artifacts_destination=_url(env, "MLFLOW_ARTIFACTS_DESTINATION", ("s3", "file")),
            feast_registry_uri=_url(env, "FEAST_REGISTRY_URI", _SQL),
            feast_redis=_feast_redis(env),
            optuna_storage=_url(env, "OPTUNA_STORAGE", _SQL),
            automation=_switch(env, "LAKEHOUSE_AUTOMATION"),
            retrain_min_rank_ic=_bounded(env, "RETRAIN_MIN_RANK_IC", 0.0, -1.0, 1.0),
            retrain_min_coverage=_bounded(env, "RETRAIN_MIN_COVERAGE", 0.5, 0.0, 1.0),
        )
        _url(env, "S3_ENDPOINT_URL", ("http", "https"))
        if settings.profile == "prod":
            missing = [
                name
                for name, value in (
                    ("ICEBERG_CATALOG_URI", settings.catalog_uri),
                    ("ICEBERG_WAREHOUSE", settings.warehouse),
                    ("RAW_ARCHIVE_URI", settings.archive_uri),
                )
                if not value
            ]
            if missing:
                raise SettingsError(
                    f"LAKEHOUSE_PROFILE=prod needs {', '.join(missing)}: see .env.example for every "
                    "endpoint the production profile uses."
                )
            # prod is shared storage: a Postgres catalog and S3, never a file on one machine
            _url(env, "ICEBERG_CATALOG_URI", _POSTGRES, profile="prod")
            _url(env, "ICEBERG_WAREHOUSE", ("s3",), profile="prod")
            _url(env, "RAW_ARCHIVE_URI", ("s3",), profile="prod")
        return settings


def _positive_float(
    env: Mapping[str, str], name: str, default: float, minimum: float = 0.0, maximum: float | None = None
) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number.") from None
    if value < minimum or (minimum == 0.0 and value == 0.0 and name != "HTTP_MAX_RETRIES"):
        raise SettingsError(f"{name}={raw!r} must be greater than {minimum:g}.")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={raw!r} exceeds {maximum:g}, the source's fair-access ceiling.")
    return value


_POSTGRES: tuple[str, ...] = ("postgresql", "postgresql+psycopg2")
_SQL: tuple[str, ...] = (*_POSTGRES, "sqlite", "mysql", "mysql+pymysql")
# Feast's Redis connection string: host:port[,db=N][,password=...][,ssl=true]
_FEAST_REDIS = re.compile(r"^[^\s,:/]+:\d{1,5}(,[a-z_]+=[^,\s]*)*$")


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], *, profile: str | None = None) -> str | None:
    """A URL-valued variable whose scheme must be one of ``schemes`` (secrets never echoed)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in schemes:
        where = f" with LAKEHOUSE_PROFILE={profile}" if profile else ""
        shown = f"{scheme}://..." if scheme else "a value without a scheme"
        raise SettingsError(
            f"{name} is {shown}{where}; expected a URL starting with "
            f"{' or '.join(s + '://' for s in schemes)} (see .env.example)."
        )
    return raw


def _dagster_pg_parts(env: Mapping[str, str]) -> str | None:
    """DAGSTER_PG_* (the Dagster Helm chart's convention) as one URL, quoted like dagster-postgres does.

    Only when DAGSTER_PG_HOST is set: the Helm chart puts DAGSTER_PG_PASSWORD alone into every pod.
    """
    parts = {k: (env.get(f"DAGSTER_PG_{k}") or "").strip() for k in ("HOST", "PORT", "USERNAME", "PASSWORD", "DB")}
    if not parts["HOST"]:
        return None
    missing = [f"DAGSTER_PG_{k}" for k in ("USERNAME", "DB") if not parts[k]]
    if missing:
        raise SettingsError(
            f"DAGSTER_PG_* is incomplete: {', '.join(missing)} missing. Set all of DAGSTER_PG_HOST, "
            "DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB (DAGSTER_PG_PORT defaults to 5432), "
            "or one DAGSTER_POSTGRES_URL."
        )
    port = parts["PORT"] or "5432"
    if not port.isdigit():
        raise SettingsError(f"DAGSTER_PG_PORT={port!r} is not a port number.")
    user = quote(parts["USERNAME"], safe="")
    userinfo = f"{user}:{quote(parts['PASSWORD'], safe='')}" if parts["PASSWORD"] else user
    return f"postgresql://{userinfo}@{parts['HOST']}:{port}/{parts['DB']}"


def _feast_redis(env: Mapping[str, str]) -> str | None:
    raw = (env.get("FEAST_REDIS") or "").strip()
    if raw and not _FEAST_REDIS.match(raw):
        raise SettingsError(
            "FEAST_REDIS is not a Feast Redis connection string: expected host:port[,db=N][,password=...], "
            "e.g. FEAST_REDIS=redis:6379,db=0 (no redis:// prefix)."
        )
    return raw or None


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "off", "false", "0", "no"):
        return False
    if raw in ("on", "true", "1", "yes"):
        return True
    raise SettingsError(f"{name}={raw!r} is not a switch: use on or off.")


def _bounded(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number.") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} must be between {low:g} and {high:g}.")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip() or choices[0]
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}.")
    return raw


def _date(env: Mapping[str, str], name: str, default: date) -> date:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an ISO date (YYYY-MM-DD).") from None


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


def get_settings() -> Settings:
    """Settings from the current environment (re-read on each call so tests can change it)."""
    return Settings.from_env()
