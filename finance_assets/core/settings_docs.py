"""``docs/configuration.md``, generated from the settings model (``python -m finance_assets.cli config-docs``).

The page is the model: each field's variable, default and docstring, grouped by section. A test fails when
the committed page differs from :func:`render`, so the reference cannot drift from the code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from finance_assets.core.settings import Settings, env_name

HEADER = """\
# Configuration reference

<!-- Generated from finance_assets/core/settings.py by `python -m finance_assets.cli config-docs`; do not edit. -->

Every environment variable the lakehouse reads, parsed and checked in one place
(`finance_assets/core/settings.py`, a pydantic-settings model): a bad value fails at start with a message
naming the variable and the fix. The Dagster code location turns the settings into resources with fields
(`finance_assets/resources.py`), so the launchpad shows each resource's configuration; secrets appear
there as the name of their variable, never the value, and one that is not set fails only the steps that
use it. *Secret* values are never echoed in an error, a log line or a `repr`. `.env.example` has a complete
production configuration.
"""

# Variables outside the model: read by Dagster, the deployment files, the Makefile or the libraries themselves.
OTHERS: tuple[tuple[str, str, str], ...] = (
    (
        "DAGSTER_HOME",
        "Dagster",
        "the instance folder; `python -m finance_assets.cli` defaults it to `$LAKEHOUSE_HOME/dagster`",
    ),
    ("S3_BUCKET", "`deploy/dagster.yaml`", "the bucket of Dagster's compute logs (prod)"),
    ("GIT_COMMIT", "MLflow runs' `git.commit` tag", "the commit, where the image has no git checkout"),
    ("FEAST_PORT, FEAST_WORKERS, MLFLOW_PORT", "`Makefile`", "`make serve-features` / `make mlflow-ui`"),
    (
        "DAGSTER_DISABLE_TELEMETRY, DO_NOT_TRACK, MLFLOW_DISABLE_TELEMETRY, MLFLOW_LOG_UV_FILES, "
        "POLARS_ICEBERG_PLANNER",
        "the libraries",
        "switches the Makefile and the CLI set: nothing phones home",
    ),
)


def _default(value: Any) -> str:
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, bool):
        return "`on`" if value else "`off`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    if isinstance(value, date):
        return f"`{value.isoformat()}`"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value}`"


def render() -> str:
    sections: dict[str, list[str]] = {}
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        section = str(extra.get("section", "other"))
        meaning = " ".join((field.description or "").split()) or "see above"
        if extra.get("secret"):
            meaning += " *Secret.*"
        meaning = meaning.replace("|", "\\|")
        sections.setdefault(section, []).append(f"| `{env_name(name)}` | {_default(field.default)} | {meaning} |")
    parts = [HEADER]
    for section, rows in sections.items():
        parts.append(f"## {section}\n\n| variable | default | meaning |\n|---|---|---|")
        parts.append("\n".join(rows) + "\n")
    others = [f"| {', '.join(f'`{v}`' for v in names.split(', '))} | {by} | {what} |" for names, by, what in OTHERS]
    parts.append("## Read by other components\n\n| variable | read by | meaning |\n|---|---|---|")
    parts.append("\n".join(others) + "\n")
    return "\n".join(parts)
