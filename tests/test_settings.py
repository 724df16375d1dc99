"""The one settings object: defaults, validation, and errors that name the variable and the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from finance_assets.core.settings import DEFAULT_UNIVERSE, Settings, SettingsError
from finance_assets.resources import resources_for


def test_defaults_are_the_embedded_profile(tmp_path: Path) -> None:
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    assert settings.profile == "local"
    assert settings.replay_dir is None
    assert settings.universe == DEFAULT_UNIVERSE
    assert settings.sec_requests_per_second == 10.0
    assert settings.prices_start == date(2005, 1, 1)
    props = settings.catalog_properties()
    assert props["uri"] == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert props["warehouse"] == (tmp_path / "warehouse").as_uri()
    assert settings.dagster_home == tmp_path / "dagster"


def test_unknown_profile_is_rejected_with_the_choices() -> None:
    with pytest.raises(SettingsError, match="LAKEHOUSE_PROFILE='staging' does not exist.*local, prod"):
        Settings.from_env({"LAKEHOUSE_PROFILE": "staging"})


def test_prod_profile_requires_catalog_endpoints() -> None:
    with pytest.raises(SettingsError, match="ICEBERG_CATALOG_URI, ICEBERG_WAREHOUSE"):
        Settings.from_env({"LAKEHOUSE_PROFILE": "prod"})


def test_unreadable_replay_dir_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="REPLAY_DIR=.*not a readable directory"):
        Settings.from_env({"REPLAY_DIR": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="no edgar/ folder"):
        Settings.from_env({"REPLAY_DIR": str(tmp_path / "empty")})


@pytest.mark.parametrize("agent", ["curl/8.0", "jane@example.com", "Jane Doe"])
def test_sec_user_agent_must_be_name_and_email(agent: str) -> None:
    with pytest.raises(SettingsError, match="SEC_USER_AGENT=.*'Name email'"):
        Settings.from_env({"SEC_USER_AGENT": agent})


def test_live_edgar_without_user_agent_fails_where_used_naming_the_variable() -> None:
    sec = resources_for(Settings.from_env({}), secrets="values")["sec"]
    with pytest.raises(dg.Failure, match=r"SEC_USER_AGENT is not set.*export SEC_USER_AGENT="):
        sec.client()
    good = resources_for(Settings.from_env({"SEC_USER_AGENT": "Jane Doe jane.doe@example.com"}), secrets="values")
    assert good["sec"].user_agent == "Jane Doe jane.doe@example.com"


def test_live_fmp_without_key_names_the_variable_and_key_is_not_in_repr() -> None:
    fmp = resources_for(Settings.from_env({}), secrets="values")["fmp"]
    with pytest.raises(dg.Failure, match="FMP_API_KEY is not set"), fmp.session():
        pass
    settings = Settings.from_env({"FMP_API_KEY": "SENTINEL-KEY-42"})
    assert settings.fmp_api_key == "SENTINEL-KEY-42"
    assert "SENTINEL-KEY-42" not in repr(settings)


def test_a_value_of_the_wrong_type_names_the_variable_and_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"HTTP_TIMEOUT_SECONDS='soon' is not a number: Source client timeout"):
        Settings.from_env({"HTTP_TIMEOUT_SECONDS": "soon"})
    with pytest.raises(SettingsError, match=r"HTTP_MAX_RETRIES='2.5' is not a whole number"):
        Settings.from_env({"HTTP_MAX_RETRIES": "2.5"})
    with pytest.raises(SettingsError, match=r"UNIVERSE_SKIP_UNKNOWN='maybe' is not"):
        Settings.from_env({"UNIVERSE_SKIP_UNKNOWN": "maybe"})
    # a blank value is unset (the default), as an empty line in an .env file means
    assert Settings.from_env({"HTTP_TIMEOUT_SECONDS": "  ", "LAKEHOUSE_HOME": str(tmp_path)}).http_timeout_seconds == 30


def test_a_secret_is_never_echoed_in_a_type_error() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"ICEBERG_CATALOG_URI": "hunter2-not-a-url"})
    assert "ICEBERG_CATALOG_URI" in str(error.value) and "hunter2" not in str(error.value)


def test_from_env_reads_only_the_mapping_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIVERSE", "ZZZ")
    assert Settings.from_env({}).universe == DEFAULT_UNIVERSE
    assert Settings.from_env().universe == "ZZZ"


def test_universe_is_kept_as_given_for_the_resolver() -> None:
    # resolution (tickers, CIKs, files, named universes) is finance_assets/edgar/universe.py's: tests/test_universe.py
    assert Settings.from_env({"UNIVERSE": " aapl, 320193,sp500 "}).universe == "aapl, 320193,sp500"
    with pytest.raises(SettingsError, match="UNIVERSE=.* is empty"):
        Settings.from_env({"UNIVERSE": ","})


def test_rate_above_sec_ceiling_is_rejected() -> None:
    with pytest.raises(SettingsError, match="SEC_REQUESTS_PER_SECOND='20' exceeds 10"):
        Settings.from_env({"SEC_REQUESTS_PER_SECOND": "20"})
    assert Settings.from_env({"SEC_REQUESTS_PER_SECOND": "4"}).sec_requests_per_second == 4.0


def test_bad_date_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PRICES_START='2005/01/01' is not an ISO date"):
        Settings.from_env({"PRICES_START": "2005/01/01"})
    with pytest.raises(SettingsError, match="PRICES_START='2001-01-02' is before the first daily price partition"):
        Settings.from_env({"PRICES_START": "2001-01-02"})


def test_executor_is_one_of_its_names_and_an_unknown_one_is_rejected_naming_them() -> None:
    with pytest.raises(
        SettingsError, match=r"DAGSTER_EXECUTOR='celery' does not exist\. Use one of multiprocess, in_process, k8s"
    ):
        Settings.from_env({"DAGSTER_EXECUTOR": "celery"})
    assert Settings.from_env({}).executor == "multiprocess"
    assert Settings.from_env({"DAGSTER_EXECUTOR": " K8s "}).executor == "k8s"
    assert Settings.from_env({"DAGSTER_EXECUTOR": "  "}).executor == "multiprocess"


def test_a_blank_variable_means_its_default_even_where_a_field_check_reads_it() -> None:
    """``LAKEHOUSE_PROFILE=`` (as compose writes an empty `${VAR:-}`) is the default profile, not a bad name."""
    for blank in ("", "   "):
        settings = Settings.from_env({"LAKEHOUSE_PROFILE": blank, "DAGSTER_EXECUTOR": blank})
        assert (settings.profile, settings.executor) == ("local", "multiprocess")
    assert Settings.from_env({"LAKEHOUSE_PROFILE": " Local "}).profile == "local"


def test_k8s_max_concurrent_must_be_a_positive_whole_number() -> None:
    with pytest.raises(SettingsError, match="DAGSTER_K8S_MAX_CONCURRENT='0' must be at least 1"):
        Settings.from_env({"DAGSTER_K8S_MAX_CONCURRENT": "0"})
