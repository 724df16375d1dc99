"""The one-sort partition split (core/iceberg_partitions.py) is pyiceberg's split, only linear."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyiceberg.io.pyarrow as pyiceberg_arrow
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, IdentityTransform, MonthTransform
from pyiceberg.types import DateType, DoubleType, NestedField, StringType

from finance_assets.core import iceberg_partitions

SCHEMA = Schema(
    NestedField(1, "cik", StringType(), required=False),
    NestedField(2, "period_end", DateType(), required=False),
    NestedField(3, "value", DoubleType(), required=False),
)
SPECS = {
    "identity": PartitionSpec(PartitionField(1, 1000, IdentityTransform(), "cik")),
    "identity and month": PartitionSpec(
        PartitionField(1, 1000, IdentityTransform(), "cik"), PartitionField(2, 1001, MonthTransform(), "period_month")
    ),
    "bucket": PartitionSpec(PartitionField(1, 1000, BucketTransform(8), "cik_bucket")),
}


def _table(rows: int, companies: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ciks = [f"{i:010d}" for i in range(companies)] + [None]  # a null key is a partition of its own
    days = rng.integers(0, 3000, rows)
    return pa.table(
        {
            "cik": pa.array([ciks[i] for i in rng.integers(0, len(ciks), rows)], pa.string()),
            "period_end": pa.array(days.astype("datetime64[D]"), pa.date32()),
            "value": pa.array(rng.random(rows)),
        }
    )


def _split(function, spec: PartitionSpec, table: pa.Table) -> dict[tuple, list[tuple]]:
    parts = {}
    for part in function(spec=spec, schema=SCHEMA, arrow_table=table):
        key = tuple(v.value for v in part.partition_key.field_values)
        assert key not in parts, f"partition {key} split twice"
        assert part.arrow_table_partition.column_names == table.column_names
        parts[key] = sorted(part.arrow_table_partition.to_pylist(), key=lambda r: (r["period_end"], r["value"]))
    return parts


@pytest.mark.parametrize("spec", SPECS, ids=list(SPECS))
@pytest.mark.parametrize("seed", [1, 2])
def test_the_one_sort_split_gives_pyiceberg_s_partitions_and_rows(spec: str, seed: int) -> None:
    assert iceberg_partitions.original() is not iceberg_partitions.determine_partitions  # a real oracle
    table = _table(rows=5_000, companies=40, seed=seed)
    ours = _split(iceberg_partitions.determine_partitions, SPECS[spec], table)
    theirs = _split(iceberg_partitions.original(), SPECS[spec], table)
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    assert sum(len(rows) for rows in ours.values()) == table.num_rows


def test_an_empty_table_and_a_single_row_split_like_pyiceberg_s() -> None:
    spec = SPECS["identity"]
    for table in (_table(0, 3, 0), _table(1, 3, 0)):
        assert _split(iceberg_partitions.determine_partitions, spec, table) == _split(
            iceberg_partitions.original(), spec, table
        )


def test_the_lakehouse_writer_splits_through_the_one_sort_version(tmp_path) -> None:
    import polars as pl

    from finance_assets.core.iceberg import IcebergLakehouse

    assert pyiceberg_arrow._determine_partitions is iceberg_partitions.determine_partitions
    lakehouse = IcebergLakehouse(
        {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"file://{tmp_path / 'warehouse'}"}
    )
    lakehouse.ensure_namespaces()
    frame = pl.from_arrow(_table(2_000, 25, 3))
    lakehouse.write("silver.split", frame, partition_by=["identity(cik)"])
    table = lakehouse.load("silver.split")
    files = table.inspect.files().to_pylist()
    assert len(files) == frame.get_column("cik").n_unique()  # one file per company, nulls included
    back = pl.from_arrow(table.scan().to_arrow())
    assert back.sort(back.columns, nulls_last=True).equals(frame.sort(frame.columns, nulls_last=True))
