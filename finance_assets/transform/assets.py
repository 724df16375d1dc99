"""Silver and Gold as Dagster assets: every dbt model, seed and test of ``dbt_project/``.

- Asset keys follow the layer: ``silver/<model>`` and ``gold/<model>`` for the models written to Iceberg,
  ``staging/<model>`` and ``intermediate/<model>`` for the DuckDB-only steps, ``reference/<seed>`` for
  seeds. dbt sources map to the Bronze assets (``bronze/edgar_company_facts`` ...), so the lineage in the
  UI runs Bronze -> Silver -> Gold. Groups: ``silver`` (staging, silver, seeds) and ``gold``.
- dbt tests are asset checks on the model they test (a singular test over several models names its model in
  ``meta.dagster.ref``). Each has the automation condition ``with_its_model``, so a run that declarative
  automation requests for a model evaluates its tests (see :meth:`LakehouseDbtTranslator.get_asset_check_spec`),
  and dbt runs with indirect selection ``buildable``: a run tests what it builds, never a model it did not build.
- One ``dbt build`` per run. After each model stored in Iceberg, the materialization carries the
  Iceberg snapshot the dbt plugin just committed (snapshot id, rows, metadata file, the column schema with
  the YAML descriptions) read back through :class:`IcebergLakehouse`, never through the DuckDB file
  (dagster-dbt's ``fetch_row_counts``/``fetch_column_metadata`` would leave it locked).
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from finance_assets.core.checks import readable
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.resources import LakehouseResource
from finance_assets.transform.dbt_plugin import DAGSTER_RUN_ID_ENV, SNAPSHOT_RUN
from finance_assets.transform.project import dbt_project, manifest_path, prepare_if_dev
from finance_assets.transform.resources import LakehouseDbtResource

STORED_SCHEMAS = ("silver", "gold")  # models of these schemas are Iceberg tables <schema>.<model>
DBT_POOL = "dbt_duckdb"  # one dbt build at a time: the DuckDB engine file takes one writer
# A run that builds some models tests them, and only them: dbt's default ("eager") also runs every test that
# touches a selected node, so building one seed ran a test joining it to a model this run did not build (on
# a fresh engine file: "table does not exist", a failed run). "buildable" runs a test when all its parents
# are selected or upstream of the selection, which is every test of every model the run builds.
DBT_INDIRECT_SELECTION = "buildable"

prepare_if_dev()  # `dagster dev` only; elsewhere the manifest is a build step's (see transform/project.py)


def with_its_model(asset_key: dg.AssetKey) -> dg.AutomationCondition:
    """True on every automation tick that requests ``asset_key`` (the model a dbt test checks)."""
    return (
        dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
        .allow(dg.AssetSelection.assets(asset_key))
        .with_label("with_its_model")
    )


def _schema(props: Mapping[str, Any]) -> str:
    return str(props.get("schema") or props.get("config", {}).get("schema") or "")


def iceberg_table_for(props: Mapping[str, Any]) -> str | None:
    """``silver.financial_facts`` for a model written to Iceberg, None for DuckDB-only nodes."""
    if props.get("resource_type") != "model" or _schema(props) not in STORED_SCHEMAS:
        return None
    config = props.get("config", {})
    return config.get("iceberg_table") or f"{_schema(props)}.{props.get('alias') or props['name']}"


class LakehouseDbtTranslator(DagsterDbtTranslator):
    """dbt nodes -> asset keys by layer; sources -> the Bronze asset keys."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            meta = dbt_resource_props.get("meta", {})
            table = meta.get("iceberg_table") or f"{dbt_resource_props['source_name']}.{dbt_resource_props['name']}"
            return dg.AssetKey(table.split("."))
        return dg.AssetKey([_schema(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The layer (the model's schema): a group is its assets' key prefix (``staging/stg_x`` is in ``staging``)."""
        return _schema(dbt_resource_props)

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        """The dbt test as a check that declarative automation requests together with its model.

        Why: a run requested by an automation condition sensor lists the checks it executes. When no
        check of the requested assets has an automation condition, Dagster passes the checks that were
        requested explicitly, and only when there are none does it let the run include every check of
        its assets. A feature asset whose own checks belong to its execution set (they are requested
        with it) therefore turned the check selection of the whole run into just those checks, and the
        dbt tests of every model built in that run were left out ("Not Evaluated"). With this condition
        each dbt test is requested on every tick that requests its model, so it is part of that run.
        """
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=with_its_model(spec.asset_key),
        )

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        table = iceberg_table_for(props)
        if table is None:
            return spec
        return spec.replace_attributes(
            kinds={"dbt", "duckdb", "iceberg"},
            metadata={
                **spec.metadata,
                "dagster/table_name": f"lakehouse.{table}",
                "dagster/storage_kind": "iceberg",
                "iceberg/table": table,
            },
        )


translator = LakehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _column_schema(table: Any, columns_doc: Mapping[str, Any]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=str(field.field_type),
                description=(columns_doc.get(field.name) or {}).get("description") or None,
            )
            for field in table.schema().fields
        ]
    )


def iceberg_metadata(lakehouse: IcebergLakehouse, table_name: str, run_id: str, props: Mapping[str, Any]) -> dict:
    """What the model's Iceberg table looks like right after dbt stored it."""
    table = lakehouse.load(table_name)
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    rows = int(snapshot.summary["total-records"] or 0) if snapshot and snapshot.summary else 0
    return {
        "dagster/table_name": f"lakehouse.{table_name}",
        "dagster/row_count": rows,
        "dagster/column_schema": _column_schema(table, props.get("columns", {})),
        "iceberg/table": table_name,
        "iceberg/snapshot_id": str(snapshot.snapshot_id) if snapshot else "none",
        "iceberg/metadata_location": table.metadata_location,
        # False would mean the table was not rewritten by this run (e.g. the store step was skipped)
        "iceberg/written_by_this_run": summary.get(SNAPSHOT_RUN) == run_id,
    }


@dbt_assets(
    manifest=manifest_path(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="lakehouse_dbt",
    pool=DBT_POOL,
)
def lakehouse_dbt(
    context: dg.AssetExecutionContext, dbt: LakehouseDbtResource, lakehouse: LakehouseResource
) -> Iterator[Any]:
    """``dbt build`` of the selected models: seeds, staging, Silver, Gold and their tests."""
    catalog = lakehouse.lakehouse()
    with dbt.environment(**{DAGSTER_RUN_ID_ENV: context.run.run_id, "DBT_INDIRECT_SELECTION": DBT_INDIRECT_SELECTION}):
        invocation = dbt.cli(["build"], context=context)
        for event in invocation.stream():
            if isinstance(event, dg.Output):
                props = _props_for(invocation.manifest, event.metadata)
                table = iceberg_table_for(props) if props else None
                if table is not None:
                    event = event.with_metadata(
                        {**event.metadata, **iceberg_metadata(catalog, table, context.run.run_id, props)}
                    )
            # dagster-dbt reports each node's "Execution Duration" to the microsecond: rounded as all our metadata
            if isinstance(event, dg.Output | dg.AssetMaterialization | dg.AssetCheckResult | dg.AssetObservation):
                event = event.with_metadata(readable(event.metadata))
            yield event


def _props_for(manifest: Mapping[str, Any], metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    unique_id = metadata.get("unique_id")
    value = getattr(unique_id, "value", unique_id)
    if not value:
        return None
    return manifest.get("nodes", {}).get(value)


def dbt_asset_keys() -> list[dg.AssetKey]:
    """Every asset the dbt project defines (for selecting a full build)."""
    return list(lakehouse_dbt.keys)


def dbt_selection() -> list[str]:
    """Asset selection strings of the whole dbt project (one ``dbt build``)."""
    return [key.to_user_string() for key in dbt_asset_keys()]
