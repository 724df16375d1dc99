"""Silver and Gold: the dbt project (``dbt_project/``) as Dagster assets, written back to Iceberg."""
