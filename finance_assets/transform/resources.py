"""dbt as a Dagster resource: dagster-dbt's CLI resource plus what the dbt process needs from the lakehouse.

dbt runs in its own process, where the ``lakehouse`` plugin (``transform/dbt_plugin.py``) and
``dbt_project/profiles.yml`` read the settings from the environment. :meth:`LakehouseDbtResource.environment`
hands them this resource's fields (and its catalog's), so a dbt build uses exactly the run's configuration.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_dbt import DbtCliResource
from pydantic import Field

from finance_assets.core.resources import LakehouseResource
from finance_assets.core.settings import Settings, env_name, environment
from finance_assets.transform.project import tool_environment


class LakehouseDbtResource(DbtCliResource):
    """dagster-dbt's ``dbt`` CLI on ``dbt_project/``, with the lakehouse's catalog, home and engine limits."""

    lakehouse: dg.ResourceDependency[LakehouseResource]
    home: str = Field(description="LAKEHOUSE_HOME: dbt's DuckDB engine file and Parquet staging live in its dbt/.")
    threads: int = Field(default=1, description="dbt threads (DBT_THREADS).")
    memory_limit: str = Field(
        default=Settings.model_fields["dbt_memory_limit"].default,
        description="DuckDB's memory limit (DBT_DUCKDB_MEMORY_LIMIT).",
    )

    def settings_environment(self) -> dict[str, str]:
        """The settings the dbt process reads, as environment variables (secrets only where they are set)."""
        s3 = self.lakehouse.s3
        values = {
            "profile": self.lakehouse.profile,
            "home": self.home,
            "catalog_uri": self.lakehouse.catalog_uri,
            "warehouse": self.lakehouse.warehouse,
            "s3_endpoint": s3.endpoint_url,
            "s3_region": s3.region_name,
            "s3_access_key_id": s3.aws_access_key_id,
            "s3_secret_access_key": s3.aws_secret_access_key,
            "dbt_threads": str(self.threads),
            "dbt_memory_limit": self.memory_limit,
        }
        return {env_name(field): value for field, value in values.items() if value}

    @contextmanager
    def environment(self, **extra: str) -> Iterator[None]:
        """``os.environ`` for a dbt invocation (dagster-dbt passes ``os.environ`` on), restored afterwards."""
        with environment({**tool_environment(), **self.settings_environment(), **extra}):
            yield
