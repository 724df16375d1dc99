"""Resources the Silver/Gold assets need, for ``finance_assets.definitions``."""

from __future__ import annotations

from typing import Any

from dagster_dbt import DbtCliResource

from finance_assets.transform.project import DBT_EXECUTABLE, dbt_project


def transform_resources() -> dict[str, Any]:
    return {"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)}
