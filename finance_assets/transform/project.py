"""The dbt project (``dbt_project/``) as dagster-dbt sees it, and the build step that writes its manifest.

dagster-dbt builds the asset graph from ``dbt_project/target/manifest.json``, which is git-ignored: it must
exist before :mod:`finance_assets.transform.assets` is imported, and importing never writes it. It is made by

- ``make setup`` / ``python -m finance_assets.cli prepare`` (:func:`prepare_manifest`, ``dbt parse``),
- ``make demo`` (``cli demo`` re-parses first, so a stale manifest from an older checkout never drives a build),
- ``dagster dev`` on every code-location load (:func:`prepare_if_dev`, only under ``dagster dev``), so model
  edits show up, and the test session's start (``tests/conftest.py``).

This module does not import the manifest, so importing it is cheap.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from finance_assets.core.settings import environment

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The dbt CLI of this interpreter's environment, also when the venv is not activated (PATH lacks it).
_VENV_BIN = Path(sys.executable).parent
DBT_EXECUTABLE = str(_VENV_BIN / "dbt") if (_VENV_BIN / "dbt").exists() else (shutil.which("dbt") or "dbt")


def tool_environment() -> dict[str, str]:
    """What every dbt subprocess gets besides the lakehouse's settings: this venv's dbt first, no telemetry."""
    return {
        "PATH": os.pathsep.join([str(_VENV_BIN), os.environ.get("PATH", "")]),
        "DO_NOT_TRACK": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


class ManifestMissingError(RuntimeError):
    """The dbt manifest was not prepared: the build step did not run."""


def prepare_manifest(*, force: bool = False) -> Path:
    """Write ``dbt_project/target/manifest.json`` (``dbt parse``) unless it exists and ``force`` is off."""
    if force or not dbt_project.manifest_path.exists():
        with environment(tool_environment()):
            dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path


def prepare_if_dev() -> None:
    """``dagster dev`` only: re-parse on every code-location load, so model edits show up in the UI."""
    with environment(tool_environment()):
        dbt_project.prepare_if_dev()


def manifest_path() -> Path:
    """The prepared manifest, or an error saying which build step makes it."""
    if not dbt_project.manifest_path.exists():
        raise ManifestMissingError(
            f"{dbt_project.manifest_path} does not exist: the dbt project was not parsed. Run `make setup` "
            "(or `python -m finance_assets.cli prepare`) once per checkout and after editing dbt_project/."
        )
    return dbt_project.manifest_path
