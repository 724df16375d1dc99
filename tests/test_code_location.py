"""The code location as Dagster and a user see it: resources with visible configuration, named jobs, launches.

- every resource's configuration is in the repository snapshot the UI reads, secrets as variable names;
- importing the code location parses no dbt project and creates nothing on disk;
- the jobs are named per partitioning, and ``cli materialize`` launches a company range as a backfill does:
  runs of the named job, with the range's tags, recorded in the instance;
- ``docs/configuration.md`` is what the settings model generates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap, ResourceConfigEnvVarSnap

from finance_assets.core.settings import Settings

# Dagster's own snapshot code (what the webserver runs) reads ScheduleDefinition.environment_vars, deprecated
pytestmark = pytest.mark.filterwarnings("ignore:Property `ScheduleDefinition.environment_vars` is deprecated")

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    "FMP_API_KEY": "fmp-SENTINEL-31",
    "AWS_ACCESS_KEY_ID": "AKID-SENTINEL-32",
    "AWS_SECRET_ACCESS_KEY": "aws-SENTINEL-33",
    "ICEBERG_CATALOG_URI": "postgresql+psycopg2://lake:pg-SENTINEL-34@db:5432/catalog",
    "MLFLOW_TRACKING_URI": "http://ml:mlflow-SENTINEL-35@mlflow:5000",
    "FEAST_REGISTRY_URI": "postgresql://feast:feast-SENTINEL-36@db:5432/feast",
    "FEAST_REDIS": "redis:6379,db=0,password=redis-SENTINEL-37",
    "OPTUNA_STORAGE": "postgresql+psycopg2://o:optuna-SENTINEL-38@db:5432/optuna",
}
PROD = {
    "LAKEHOUSE_PROFILE": "prod",
    "ICEBERG_WAREHOUSE": "s3://lake/warehouse",
    "RAW_ARCHIVE_URI": "s3://lake/raw",
    "S3_ENDPOINT_URL": "http://minio:9000",
    "SEC_USER_AGENT": "Jane Doe jane.doe@example.com",
    **SECRETS,
}
# resource -> field -> the variable its value must come from (a dg.EnvVar: the UI shows the name)
SECRET_FIELDS = {
    "fmp": {"api_key": "FMP_API_KEY"},
    "s3": {"aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"},
    "lakehouse": {"catalog_uri": "ICEBERG_CATALOG_URI"},
    "mlflow": {"tracking_uri": "MLFLOW_TRACKING_URI"},
    "feast": {"registry_uri": "FEAST_REGISTRY_URI", "redis": "FEAST_REDIS"},
    "optuna": {"storage": "OPTUNA_STORAGE"},
}
JOBS = {
    "bronze_reference": None,
    "bronze_edgar_companies": dg.DynamicPartitionsDefinition,
    "edgar_bulk_load": dg.DynamicPartitionsDefinition,
    "edgar_daily_refresh": None,
    "bronze_edgar_fsds": dg.TimeWindowPartitionsDefinition,
    "bronze_fmp_companies": dg.DynamicPartitionsDefinition,
    "bronze_prices": dg.TimeWindowPartitionsDefinition,
    "bronze_13f_managers": dg.DynamicPartitionsDefinition,
    "bronze_13f_filings": dg.DynamicPartitionsDefinition,
    "transform": None,
    "features": None,
    "ml_retrain": None,
    "ml_backtest": None,
    "ml_online_predictions": None,
    "ml_predictions": dg.TimeWindowPartitionsDefinition,
    "ml_performance": None,
    "lakehouse_maintenance": None,
}


def _snapshot(env: dict[str, str]) -> RepositorySnap:
    from finance_assets.definitions import build_definitions

    return RepositorySnap.from_def(build_definitions(Settings.from_env(env)).get_repository_def())


def test_each_resource_shows_its_configuration_and_secrets_only_as_variable_names() -> None:
    snap = _snapshot(PROD)
    resources = {r.name: r for r in snap.resources or []}
    expected = {"lakehouse", "s3", "archive", "http", "universe", "sec", "fmp", "market_data", "dbt", "feast"}
    assert expected | {"mlflow", "optuna", "iceberg_io_manager"} <= set(resources)
    for name in expected | {"mlflow", "optuna"}:
        assert resources[name].configured_values, f"{name} shows no configuration"
    assert json.loads(resources["universe"].configured_values["spec"]) == "recorded,sp500"
    assert json.loads(resources["lakehouse"].configured_values["warehouse"]) == "s3://lake/warehouse"
    assert json.loads(resources["sec"].configured_values["user_agent"]) == PROD["SEC_USER_AGENT"]
    for resource, fields in SECRET_FIELDS.items():
        for field, variable in fields.items():
            assert resources[resource].configured_values[field] == ResourceConfigEnvVarSnap(name=variable), field
    assert set(snap.utilized_env_vars or {}) == set(SECRETS)
    serialized = dg.serialize_value(snap)
    for value in SECRETS.values():
        assert value not in serialized  # not in the snapshot the UI and the instance store


def test_unset_secrets_are_not_env_vars_so_runs_that_do_not_need_them_start() -> None:
    snap = _snapshot({})
    resources = {r.name: r for r in snap.resources or []}
    assert resources["fmp"].configured_values["api_key"] == "null"
    assert not snap.utilized_env_vars
    assert json.loads(resources["lakehouse"].configured_values["catalog_uri"]).startswith("sqlite:///")


def test_importing_the_code_location_parses_no_dbt_and_creates_nothing(tmp_path: Path) -> None:
    from finance_assets.transform.project import prepare_manifest

    manifest = prepare_manifest()
    before = manifest.stat().st_mtime_ns
    home = tmp_path / "not-yet"
    probe = (
        "import subprocess, json\n"
        "calls = []\n"
        "original = subprocess.Popen.__init__\n"
        "def record(self, args, *a, **k):\n"
        "    calls.append(args if isinstance(args, str) else ' '.join(map(str, args)))\n"
        "    return original(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = record\n"
        "import finance_assets.definitions\n"
        "print(json.dumps(calls))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "LAKEHOUSE_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    calls = json.loads(run.stdout.strip().splitlines()[-1])
    assert not [c for c in calls if "dbt" in c], calls  # no `dbt parse` (nor any dbt call) on import
    assert manifest.stat().st_mtime_ns == before
    assert not home.exists()  # resources are configured, not opened, at import


def test_jobs_are_named_per_partitioning() -> None:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env({}))
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert set(jobs) == set(JOBS)
    for name, kind in JOBS.items():
        partitions = jobs[name].partitions_def
        assert (partitions is None) if kind is None else isinstance(partitions, kind), name


@pytest.fixture
def cli_lakehouse(lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNIVERSE", "AAPL,MSFT,NVDA")
    return lakehouse_env


def test_cli_materialize_launches_a_company_range_as_named_runs_with_the_range_tags(
    cli_lakehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finance_assets.cli import main
    from finance_assets.core.iceberg import IcebergLakehouse

    assert main(["materialize", "--select", "bronze/sec_company_tickers"]) == 0
    code = main(["materialize", "--select", "bronze/edgar_company_facts", "--partition-range", "AAPL...MSFT"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "job bronze_edgar_companies: 1 run(s)" in out
    with dg.DagsterInstance.get() as instance:
        runs = {run.job_name: run for run in instance.get_runs()}
    assert set(runs) == {"bronze_reference", "bronze_edgar_companies"}  # no __ephemeral_asset_job__
    companies = runs["bronze_edgar_companies"]
    assert companies.tags["dagster/asset_partition_range_start"] == "AAPL"
    assert companies.tags["dagster/asset_partition_range_end"] == "MSFT"
    assert companies.tags["lakehouse/launched_by"] == "cli"
    assert companies.asset_selection == {dg.AssetKey(["bronze", "edgar_company_facts"])}  # not the filings
    facts = IcebergLakehouse.from_settings(Settings.from_env()).read("bronze.edgar_company_facts")
    assert set(facts.get_column("ticker").unique().to_list()) == {"AAPL", "MSFT"}


def test_cli_materialize_names_what_to_give_instead(cli_lakehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from finance_assets.cli import main

    assert main(["materialize", "--select", "bronze/edgar_company_facts,bronze/prices_daily"]) == 2
    assert "no single job materialises" in capsys.readouterr().err
    assert main(["materialize", "--select", "bronze/edgar_company_facts", "--partition-range", "AAPL-MSFT"]) == 2
    assert "is not FIRST...LAST" in capsys.readouterr().err
    assert main(["materialize", "--select", "bronze/edgar_company_facts"]) == 2
    assert "is partitioned: give --partition" in capsys.readouterr().err
    assert main(["materialize", "--select", "bronze/nope"]) == 2
    assert "no asset bronze/nope" in capsys.readouterr().err
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []  # nothing was launched


def test_a_backfill_splits_keys_into_contiguous_runs_of_the_policys_size() -> None:
    from finance_assets.core.partitions import partition_ranges

    ordered = [f"T{i:03d}" for i in range(250)]
    assert partition_ranges(ordered, ordered, 100) == [("T000", "T099"), ("T100", "T199"), ("T200", "T249")]
    assert partition_ranges(ordered, ["T005", "T003", "T004", "T200", "XXX"], 100) == [
        ("T003", "T005"),
        ("T200", "T200"),
    ]
    assert partition_ranges(ordered, ordered, None) == [("T000", "T249")]  # single-run policy


def test_fmp_schedule_runs_where_fmp_can(monkeypatch: pytest.MonkeyPatch, replay_dir: Path) -> None:
    """The positive control of the skip in test_ml_automation: with replay, the fmp resource says it can run."""
    from finance_assets.definitions import build_definitions

    monkeypatch.delenv("FMP_API_KEY", raising=False)
    defs = build_definitions(Settings.from_env({"REPLAY_DIR": str(replay_dir)}))
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("ingest_fmp_daily")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("companies", ["AAPL"])
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2023, 10, 30, 6, 0, tzinfo=UTC),
            repository_def=repository,
            resources=defs.resources,
        ) as context:
            [request] = list(schedule(context))
    assert isinstance(request, dg.RunRequest) and request.partition_key == "AAPL"


def test_configuration_docs_are_generated_from_the_settings_model() -> None:
    from finance_assets.cli import CONFIG_DOCS
    from finance_assets.core.settings_docs import render

    assert CONFIG_DOCS.read_text() == render(), "run `python -m finance_assets.cli config-docs` and commit the page"
    for name, field in Settings.model_fields.items():
        assert f"`{field.validation_alias}`" in render(), name
