"""Column descriptions for the Dagster UI: a table's schema plus one sentence per column, checked complete.

Bronze schemas are Arrow (or polars) constants next to their parsers; their column docs live beside them in each
domain's ``columns.py``. :func:`described_schema` joins the two into ``dagster/column_schema`` metadata and
fails at import when a column has no description (or a description names no column), so a column added to a
schema without a sentence fails every test that loads the code location. The Iceberg IO manager keeps these
descriptions on each materialisation's schema (:func:`finance_assets.core.io_manager.column_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

COLUMN_SCHEMA = "dagster/column_schema"


def _columns(schema: Any) -> list[tuple[str, str]]:
    if hasattr(schema, "names") and hasattr(schema, "types"):  # pyarrow.Schema
        return [(f.name, str(f.type)) for f in schema]
    items = schema.items() if hasattr(schema, "items") else schema  # polars Schema / dict / pairs
    return [(name, str(dtype)) for name, dtype in items]


def described_schema(schema: Any, docs: Mapping[str, str], *, table: str) -> dg.TableSchema:
    """``schema``'s columns, in order, each with its sentence from ``docs``; a gap either way is an error."""
    columns = _columns(schema)
    names = [name for name, _ in columns]
    missing = [name for name in names if not docs.get(name)]
    unknown = sorted(set(docs) - set(names))
    if missing or unknown:
        raise ValueError(f"{table}: columns without a description {missing}, descriptions of no column {unknown}")
    return dg.TableSchema(columns=[dg.TableColumn(name, dtype, description=docs[name]) for name, dtype in columns])


def column_docs(schema: dg.TableSchema | None) -> dict[str, str]:
    """The descriptions of a ``dagster/column_schema`` value (empty for None)."""
    if schema is None:
        return {}
    schema = getattr(schema, "schema", schema)  # a TableSchemaMetadataValue holds the schema
    return {c.name: c.description for c in schema.columns if c.description}
