"""The dbt plugin as it was before it streamed: sources read whole with ``scan().to_arrow()``, models whole.

Only for ``benchmarks/dbt_memory.py`` (the "before" rows): the production plugin with the two data paths
put back to what they were: ``load`` returns what dbt-duckdb's built-in ``iceberg`` plugin returns (the
whole table materialised in Python as one Arrow table, then copied into DuckDB), and ``store`` reads the
model's whole Parquet file into one Arrow table before writing it. Everything else (snapshot pinning,
the writer, schema alignment) is the production code.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from dbt.adapters.duckdb.utils import SourceConfig

from finance_assets.transform import dbt_plugin


class Plugin(dbt_plugin.Plugin):
    def load(self, source_config: SourceConfig) -> pa.Table:
        return self.pinned_scan(source_config).to_arrow()

    def model_rows(self, path: str) -> pa.Table:
        table = dbt_plugin.drop_placeholder_row(pq.read_table(path))
        return table.cast(pa.schema([pa.field(f.name, f.type, nullable=True) for f in table.schema]))
