"""Silver and Gold as Dagster assets: every dbt model, seed and test of ``dbt_project/``.

- Asset keys follow the layer: ``silver/<model>`` and ``gold/<model>`` for the models written to Iceberg,
  ``staging/<model>`` and ``intermediate/<model>`` for the DuckDB-only steps, ``reference/<seed>`` for
  seeds. dbt sources map to the Bronze assets (``bronze/edgar_company_facts`` ...), so the lineage in the
  UI runs Bronze -> Silver -> Gold. Groups: ``silver`` (staging, silver, seeds) and ``gold``.
- dbt tests are asset checks on the model they test (a singular test over several models names its model in
  ``meta.dagster.ref``). Each has the automation condition ``with_its_model``, so a run that declarative
  automation requests for a model evaluates its tests (see :meth:`LakehouseDbtTranslator.get_asset_check_spec`),
  and dbt runs with indirect selection ``buildable``: a run tests what it builds, never a model it did not build.
- **Incremental by default** (:mod:`finance_assets.transform.incremental`, docs/transform.md): the company
  models (downstream of the company-keyed Bronze sources) rebuild only the companies whose Bronze changed
  since they were last built, as Iceberg overwrites of those companies' partitions; then every other
  selected model is built over all companies. Run config ``full_refresh`` rebuilds everything; ``companies``
  names the changed tickers instead of reading them from Bronze. Each model's materialization says which
  companies it rebuilt (``lakehouse/build``, ``lakehouse/companies_rebuilt``, ``lakehouse/companies``).
- At most two ``dbt build`` invocations per run (the incremental part, then the full part). After each
  model stored in Iceberg, the materialization carries the
  Iceberg snapshot the dbt plugin just committed (snapshot id, rows, metadata file, the column schema with
  the YAML descriptions) read back through :class:`IcebergLakehouse`, never through the DuckDB file
  (dagster-dbt's ``fetch_row_counts``/``fetch_column_metadata`` would leave it locked).
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from finance_assets.core.checks import readable
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.resources import LakehouseResource
from finance_assets.transform.dbt_plugin import DAGSTER_RUN_ID_ENV, SNAPSHOT_RUN
from finance_assets.transform.incremental import BuildPlan, company_models, plan_build
from finance_assets.transform.project import dbt_project, manifest_path, prepare_if_dev
from finance_assets.transform.resources import LakehouseDbtResource

STORE_SOURCE = "lakehouse_store"  # dbt source of the stored models read back from Iceberg (macros/ref.sql)
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
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["source_name"] == STORE_SOURCE:
            # a stored model read back (macros/ref.sql): its lineage is the model's own; dropped from deps below
            return dg.AssetKey([STORE_SOURCE, dbt_resource_props["name"]])
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
        if any(dep.asset_key.path[0] == STORE_SOURCE for dep in spec.deps):
            spec = spec.replace_attributes(deps=[d for d in spec.deps if d.asset_key.path[0] != STORE_SOURCE])
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


def _write_counts(table: Any, write_id: str | None) -> tuple[int, int]:
    """Rows added and removed by the write that made the current snapshot (one commit, maybe several snapshots)."""
    added = removed = 0
    for snap in table.snapshots():
        summary = snap.summary
        if summary is None or not write_id or summary.additional_properties.get("lakehouse.write-id") != write_id:
            continue
        added += int(summary.additional_properties.get("added-records") or 0)
        removed += int(summary.additional_properties.get("deleted-records") or 0)
    return added, removed


def iceberg_metadata(lakehouse: IcebergLakehouse, table_name: str, run_id: str, props: Mapping[str, Any]) -> dict:
    """What the model's Iceberg table looks like right after dbt stored it."""
    table = lakehouse.load(table_name)
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    rows = int(snapshot.summary["total-records"] or 0) if snapshot and snapshot.summary else 0
    added, removed = _write_counts(table, summary.get("lakehouse.write-id"))
    return {
        "lakehouse/rows_written": added,
        "lakehouse/rows_replaced": removed,
        "dagster/table_name": f"lakehouse.{table_name}",
        "dagster/row_count": rows,
        "dagster/column_schema": _column_schema(table, props.get("columns", {})),
        "iceberg/table": table_name,
        "iceberg/snapshot_id": str(snapshot.snapshot_id) if snapshot else "none",
        "iceberg/metadata_location": table.metadata_location,
        # False would mean the table was not rewritten by this run (e.g. the store step was skipped)
        "iceberg/written_by_this_run": summary.get(SNAPSHOT_RUN) == run_id,
    }


class DbtBuildConfig(dg.Config):
    """How the run's dbt build treats the company models (launchpad: ``ops: lakehouse_dbt: config:``)."""

    full_refresh: bool = False
    """Rebuild every selected model over all companies (after a model or seed change, or to start afresh)."""
    companies: list[str] | None = None
    """Tickers whose Bronze changed: rebuild the company models for these (and their share classes) only,
    instead of reading the changed companies from Bronze's snapshots. Empty list: rebuild no company."""


def _node_ids_by_key(manifest: Mapping[str, Any]) -> dict[dg.AssetKey, str]:
    return {
        translator.get_asset_key(node): unique_id
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in ("model", "seed", "snapshot")
    }


def _selector(node: Mapping[str, Any]) -> str:
    return "fqn:" + ".".join(node["fqn"])


@dbt_assets(
    manifest=manifest_path(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="lakehouse_dbt",
    pool=DBT_POOL,
)
def lakehouse_dbt(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: LakehouseDbtResource,
    lakehouse: LakehouseResource,
) -> Iterator[Any]:
    """``dbt build`` of the selected models: seeds, staging, Silver, Gold and their tests.

    The company models rebuild only the changed companies (see the module docstring); the plan, and the
    companies it rebuilds, are logged and recorded on every model it stores.
    """
    catalog = lakehouse.lakehouse()
    manifest = json.loads(manifest_path().read_text())
    ids = _node_ids_by_key(manifest)
    selected = {ids[key] for key in context.selected_asset_keys if key in ids}
    plan = plan_build(manifest, selected, catalog, full_refresh=config.full_refresh, companies=config.companies)
    context.log.info(
        f"dbt build: {plan.mode} ({plan.reason}); {len(plan.incremental)} node(s) for "
        f"{plan.metadata()['lakehouse/companies_rebuilt']} companies ({plan.companies_text()}), then "
        f"{len(plan.full)} node(s) over all companies"
    )
    for part in ("incremental", "full"):  # the full part may read the incremental part's tables, never the reverse
        yield from _build_part(context, dbt, catalog, manifest, plan, part, selected)


def _build_part(
    context: dg.AssetExecutionContext,
    dbt: LakehouseDbtResource,
    catalog: IcebergLakehouse,
    manifest: Mapping[str, Any],
    plan: BuildPlan,
    part: str,
    selected: set[str],
) -> Iterator[Any]:
    """One ``dbt build`` of the plan's ``part``: the run's selection minus the other part's nodes."""
    nodes = plan.full if part == "full" else plan.incremental
    if not nodes:
        return
    excluded = sorted(_selector(manifest["nodes"][u]) for u in selected - nodes)
    args = ["build", *(["--exclude", " ".join(excluded)] if excluded else [])]
    scope = plan.scope.environment() if part == "incremental" and plan.scope is not None else {}
    build = plan.metadata() if part == "incremental" else {"lakehouse/build": "full", "lakehouse/companies": "all"}
    env = {DAGSTER_RUN_ID_ENV: context.run.run_id, "DBT_INDIRECT_SELECTION": DBT_INDIRECT_SELECTION, **scope}
    with dbt.environment(**env):
        invocation = dbt.cli(args, context=context)
        for event in invocation.stream():
            if isinstance(event, dg.Output):
                props = _props_for(invocation.manifest, event.metadata)
                table = iceberg_table_for(props) if props else None
                if table is not None:
                    event = event.with_metadata(
                        {**event.metadata, **iceberg_metadata(catalog, table, context.run.run_id, props), **build}
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


def company_model_keys() -> list[dg.AssetKey]:
    """The asset keys of the company models (what an incremental build rebuilds; see transform/incremental.py)."""
    manifest = json.loads(manifest_path().read_text())
    keys = {unique_id: key for key, unique_id in _node_ids_by_key(manifest).items()}
    return sorted(keys[u] for u in company_models(manifest) if u in keys)


def dbt_selection() -> list[str]:
    """Asset selection strings of the whole dbt project (one ``dbt build``)."""
    return [key.to_user_string() for key in dbt_asset_keys()]
