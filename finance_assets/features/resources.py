"""Feast as a Dagster resource: the registry and online store of the profile, from fields.

Config selection: ``feature_repo/feature_store.yaml`` (embedded) or ``feature_repo/feature_store.prod.yaml``
(prod), picked by ``profile``. Their ``${VAR}`` placeholders are filled from the fields after YAML parsing
(a password with YAML metacharacters cannot break the file), never by editing a file. The feast CLI gets the
same file and the same values through :meth:`FeastResource.cli_environment` (``python -m finance_assets.features``).

Importing this module does not import feast (seconds): the Dagster code location stays quick to load.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml
from pydantic import Field

from finance_assets.core.settings import SettingsError, missing_setting
from finance_assets.features.store import FEATURE_REPO

if TYPE_CHECKING:  # feast takes seconds to import: only the methods that need it import it
    from feast import FeatureStore, RepoConfig

CONFIG_FILES: dict[str, str] = {"local": "feature_store.yaml", "prod": "feature_store.prod.yaml"}
_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class FeastResource(dg.ConfigurableResource):
    """The Feast store of the profile: SQLite registry and online store (embedded), Postgres + Redis (prod)."""

    profile: str = Field(default="local", description="local: feature_store.yaml; prod: feature_store.prod.yaml.")
    home: str = Field(description="LAKEHOUSE_HOME: the embedded registry and online store live in its feast/.")
    registry_uri: str | None = Field(
        default=None, description="prod: the SQL registry on Postgres (FEAST_REGISTRY_URI)."
    )
    redis: str | None = Field(default=None, description="prod: the Redis online store, host:port[,db=N] (FEAST_REDIS).")

    def config_file(self) -> Path:
        return FEATURE_REPO / CONFIG_FILES[self.profile]

    def feast_home(self) -> Path:
        """Where the embedded profile keeps the registry and online store."""
        return Path(self.home) / "feast"

    def config_variables(self) -> dict[str, str]:
        """Values of the ``${VAR}`` placeholders of the profile's YAML."""
        values = {"LAKEHOUSE_HOME": self.home}
        if self.profile == "prod":
            if not self.registry_uri:
                raise missing_setting("FEAST_REGISTRY_URI")
            if not self.redis:
                raise missing_setting("FEAST_REDIS")
            registry = self.registry_uri
            # Feast rewrites a bare postgresql:// to psycopg 3, which is not installed: psycopg2 is.
            if registry.startswith("postgresql://"):
                registry = "postgresql+psycopg2://" + registry[len("postgresql://") :]
            values["FEAST_REGISTRY_URI"] = registry
            values["FEAST_REDIS"] = self.redis
        return values

    def repo_config(
        self, *, online_store: Mapping[str, Any] | None = None, registry: Mapping[str, Any] | None = None
    ) -> "RepoConfig":
        """The Feast ``RepoConfig`` of the profile.

        ``online_store`` / ``registry`` replace the profile's (tests point the embedded profile at a local Redis
        database with its own registry with them).
        """
        from feast import RepoConfig

        path = self.config_file()
        raw = _fill(yaml.safe_load(path.read_text()), self.config_variables(), path)
        if online_store is not None:
            raw["online_store"] = dict(online_store)
        if registry is not None:
            raw["registry"] = dict(registry)
        if self.profile == "local":
            self.feast_home().mkdir(parents=True, exist_ok=True)  # SQLite does not create folders
        config = RepoConfig(**raw)
        config.repo_path = FEATURE_REPO
        return config

    def store(
        self, *, online_store: Mapping[str, Any] | None = None, registry: Mapping[str, Any] | None = None
    ) -> "FeatureStore":
        from feast import FeatureStore

        config = self.repo_config(online_store=online_store, registry=registry)
        return FeatureStore(repo_path=str(FEATURE_REPO), config=config)

    def cli_environment(self) -> dict[str, str]:
        """Environment for the ``feast`` CLI on the profile's YAML (feast expands ``${VAR}`` from it)."""
        return {**os.environ, **self.config_variables()}


def _fill(node: Any, values: Mapping[str, str], source: Path) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, values, source) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, values, source) for value in node]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise SettingsError(f"{source.name} uses ${{{name}}}, which the settings do not provide.")
            return values[name]

        return _PLACEHOLDER.sub(replace, node)
    return node
