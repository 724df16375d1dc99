"""Dagster's face of the Iceberg writer: assets return frames, this stores exactly their partition.

Asset definition metadata it reads:
- ``partition_expr``: the column holding the Dagster partition (ticker, date, month...).
- ``iceberg/partition_by``: the table's Iceberg partition spec, e.g. ``["identity(ticker)"]``.
The table is ``<first key part>.<last key part>``: asset ``bronze/edgar_company_facts`` is
``bronze.edgar_company_facts``.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

import dagster as dg
import polars as pl
import pyarrow as pa
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThan,
)

from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, column_docs
from finance_assets.core.iceberg import WriteResult
from finance_assets.core.names import table_name as table_name_for
from finance_assets.core.resources import LakehouseResource

PARTITION_EXPR = "partition_expr"
PARTITION_BY = "iceberg/partition_by"


def column_schema(schema: pa.Schema, docs: Mapping[str, str] | None = None) -> dg.TableSchema:
    """The written table's schema, with the asset's column descriptions (its definition metadata) kept."""
    docs = docs or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(name=f.name, type=str(f.type), description=docs.get(f.name)) for f in schema]
    )


def readable_filter(expression: BooleanExpression) -> str:
    """The rows a write replaced, as SQL people read (``ticker = 'AAPL'``), not pyiceberg's repr
    (``EqualTo(term=Reference(name='ticker'), literal=literal('AAPL'))``). Covers what :func:`partition_filter`
    builds; anything else keeps its repr rather than being lost."""
    if isinstance(expression, AlwaysTrue):
        return "all rows"
    if isinstance(expression, And):
        return f"{readable_filter(expression.left)} AND {readable_filter(expression.right)}"
    if isinstance(expression, In):
        values = ", ".join(sorted(repr(str(v.value)) for v in expression.literals))
        return f"{expression.term.name} IN ({values})"
    operators = {EqualTo: "=", GreaterThanOrEqual: ">=", LessThan: "<"}
    for kind, operator in operators.items():
        if isinstance(expression, kind):
            return f"{expression.term.name} {operator} {str(expression.literal.value)!r}"
    return str(expression)


def write_metadata(result: WriteResult, replaced: BooleanExpression, docs: Mapping[str, str] | None = None) -> Metadata:
    return {
        "dagster/table_name": f"lakehouse.{result.table}",
        "dagster/column_schema": column_schema(result.schema, docs),
        "dagster/row_count": result.rows,
        "iceberg/table": result.table,
        "iceberg/snapshot_id": str(result.snapshot_id),
        "iceberg/metadata_location": result.metadata_location,
        "iceberg/replaced": readable_filter(replaced),
        "iceberg/commit_attempts": result.attempts,
    }


def _literal(value: datetime, dtype: pa.DataType) -> str:
    if pa.types.is_date(dtype):
        return value.date().isoformat()
    return value.replace(tzinfo=None).isoformat()


def partition_filter(
    column: str,
    dtype: pa.DataType,
    *,
    keys: Sequence[str] | None = None,
    window: dg.TimeWindow | None = None,
) -> BooleanExpression:
    if window is not None:
        return And(
            GreaterThanOrEqual(column, _literal(window.start, dtype)),
            LessThan(column, _literal(window.end, dtype)),
        )
    assert keys is not None
    return EqualTo(column, keys[0]) if len(keys) == 1 else In(column, set(keys))


def _check_rows_inside(
    frame: pl.DataFrame, column: str, keys: Sequence[str] | None, window: dg.TimeWindow | None
) -> None:
    """A row outside the partition being written would survive the next overwrite twice: refuse it."""
    if frame.is_empty():
        return
    series = frame.get_column(column)
    if window is not None:
        start, end = window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
        if series.dtype == pl.Date:
            start, end = start.date(), end.date()  # type: ignore[assignment]
        outside = frame.filter((pl.col(column) < start) | (pl.col(column) >= end) | pl.col(column).is_null())
    else:
        outside = frame.filter(~pl.col(column).is_in(list(keys or [])) | pl.col(column).is_null())
    if not outside.is_empty():
        raise ValueError(
            f"{outside.height} rows have {column} outside the partition being written "
            f"({window or keys}); first: {outside.row(0, named=True)}"
        )


class IcebergIOManager(dg.ConfigurableIOManager):
    """Stores polars/Arrow frames in Iceberg, one Dagster partition per atomic overwrite."""

    lakehouse: dg.ResourceDependency[LakehouseResource]

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pa.Table | None) -> None:
        if obj is None:
            return
        frame = obj if isinstance(obj, pl.DataFrame) else pl.from_arrow(obj)
        assert isinstance(frame, pl.DataFrame)
        meta = context.definition_metadata or {}
        name = table_name_for(context.asset_key)
        replace: BooleanExpression = AlwaysTrue()
        partition_label = ""
        if context.has_asset_partitions:
            column = meta.get(PARTITION_EXPR)
            if not column:
                raise dg.DagsterInvariantViolationError(
                    f"Partitioned asset {context.asset_key.to_user_string()} needs metadata {PARTITION_EXPR!r}."
                )
            keys, window = None, None
            if isinstance(context.asset_partitions_def, dg.TimeWindowPartitionsDefinition):
                window = context.asset_partitions_time_window
                partition_label = f"{window.start.date()}..{window.end.date()}"
            else:
                keys = list(context.asset_partition_keys)
                partition_label = ",".join(keys)
            _check_rows_inside(frame, column, keys, window)
            dtype = frame.select(column).to_arrow().schema.field(column).type
            replace = partition_filter(column, dtype, keys=keys, window=window)

        result = self.lakehouse.lakehouse().write(
            name,
            frame,
            replace=replace,
            partition_by=list(meta.get(PARTITION_BY, [])),
            snapshot_properties={
                "dagster.run-id": context.run_id,
                "dagster.asset-key": context.asset_key.to_user_string(),
                "dagster.partition-key": partition_label,
            },
        )
        context.add_output_metadata(write_metadata(result, replace, column_docs(meta.get(COLUMN_SCHEMA))))

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        assert context.asset_key is not None
        name = table_name_for(context.asset_key)
        lakehouse = self.lakehouse.lakehouse()
        row_filter: BooleanExpression = AlwaysTrue()
        upstream_meta = context.upstream_output.definition_metadata if context.upstream_output else {}
        column = (upstream_meta or {}).get(PARTITION_EXPR)
        if context.has_asset_partitions and column:
            table = lakehouse.load(name)
            dtype = table.schema().find_field(column).field_type
            arrow_type = pa.date32() if str(dtype) == "date" else pa.string()
            upstream_def = context.asset_partitions_def
            if isinstance(upstream_def, dg.TimeWindowPartitionsDefinition):
                row_filter = partition_filter(column, arrow_type, window=context.asset_partitions_time_window)
            else:
                row_filter = partition_filter(column, arrow_type, keys=list(context.asset_partition_keys))
        return lakehouse.read(name, row_filter)
