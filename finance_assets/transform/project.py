"""The dbt project (``dbt_project/``) as dagster-dbt sees it, and the one way its manifest gets made.

dagster-dbt builds the asset graph from ``dbt_project/target/manifest.json``, which is git-ignored: it
must exist before :mod:`finance_assets.transform.assets` is imported. :func:`prepare_manifest` runs
``dbt parse`` (through ``DbtProject.preparer``); it is called

- at import of the assets module when no manifest exists yet (a fresh clone, CI, tests),
- by ``dagster dev`` on every code-location load (``prepare_if_dev``), so model edits show up, and
- by ``finance_assets.pipeline.materialize_all`` (``make demo``) before the graph is loaded, so a stale
  manifest from an older checkout never drives a build.

This module does not import the manifest, so importing it is cheap.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject

from finance_assets.core.settings import environment, get_settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The dbt CLI of this interpreter's environment, also when the venv is not activated (PATH lacks it).
_VENV_BIN = Path(sys.executable).parent
DBT_EXECUTABLE = str(_VENV_BIN / "dbt") if (_VENV_BIN / "dbt").exists() else (shutil.which("dbt") or "dbt")


@contextmanager
def dbt_environment(**extra: str) -> Iterator[None]:
    """Environment for a dbt subprocess (dagster-dbt passes ``os.environ`` on).

    dbt runs with the project folder as its working directory, so a relative LAKEHOUSE_HOME would point
    somewhere else there: it is made absolute (the same folder this process uses). Telemetry stays off.
    """
    values = {
        "LAKEHOUSE_HOME": str(get_settings().home),
        "PATH": os.pathsep.join([str(_VENV_BIN), os.environ.get("PATH", "")]),
        "DO_NOT_TRACK": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }
    with environment(values):
        yield


def prepare_manifest(*, force: bool = False) -> Path:
    """Write ``dbt_project/target/manifest.json`` (``dbt parse``) unless it exists and ``force`` is off."""
    if force or not dbt_project.manifest_path.exists():
        with dbt_environment():
            dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path
