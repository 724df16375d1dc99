"""The one settings object: defaults, validation, and errors that name the variable and the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finance_assets.core.settings import DEFAULT_UNIVERSE, Settings, SettingsError


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


def test_live_edgar_without_user_agent_names_the_variable() -> None:
    settings = Settings.from_env({})
    with pytest.raises(SettingsError, match=r"SEC_USER_AGENT is not set.*export SEC_USER_AGENT="):
        settings.require_sec_user_agent()
    good = Settings.from_env({"SEC_USER_AGENT": "Jane Doe jane.doe@example.com"})
    assert good.require_sec_user_agent() == "Jane Doe jane.doe@example.com"


def test_live_fmp_without_key_names_the_variable_and_key_is_not_in_repr() -> None:
    with pytest.raises(SettingsError, match="FMP_API_KEY is not set"):
        Settings.from_env({}).require_fmp_api_key()
    settings = Settings.from_env({"FMP_API_KEY": "SENTINEL-KEY-42"})
    assert "SENTINEL-KEY-42" not in repr(settings)


def test_universe_is_parsed_normalised_and_validated() -> None:
    assert Settings.from_env({"UNIVERSE": " aapl, MSFT,brk-b,AAPL "}).universe == ("AAPL", "MSFT", "BRK-B")
    with pytest.raises(SettingsError, match="UNIVERSE=.*malformed tickers"):
        Settings.from_env({"UNIVERSE": "AAPL,not a ticker"})


def test_rate_above_sec_ceiling_is_rejected() -> None:
    with pytest.raises(SettingsError, match="SEC_REQUESTS_PER_SECOND='20' exceeds 10"):
        Settings.from_env({"SEC_REQUESTS_PER_SECOND": "20"})
    assert Settings.from_env({"SEC_REQUESTS_PER_SECOND": "4"}).sec_requests_per_second == 4.0


def test_bad_date_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PRICES_START='2005/01/01' is not an ISO date"):
        Settings.from_env({"PRICES_START": "2005/01/01"})
