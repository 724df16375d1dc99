"""The feast CLI on the active profile: ``python -m finance_assets.features <feast command> [options]``.

Runs ``feast --chdir feature_repo --feature-store-yaml <profile's YAML> <command> ...`` with the YAML's
``${VAR}``s taken from the ``feast`` resource composed from the environment's settings (LAKEHOUSE_PROFILE
picks the file; nothing is edited or rendered to disk). Examples::

    python -m finance_assets.features plan
    python -m finance_assets.features apply
    python -m finance_assets.features serve --host 127.0.0.1 --port 6566 --max-requests 0

``serve`` runs the interpreter optimised (``-O``): Feast decorates its registry classes with typeguard's
``@typechecked``, which re-checks every field of the feature service each time a request deserialises
it from the cached registry (~1 ms of a ~3 ms request); typeguard is a no-op under ``-O``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from finance_assets.core.entry import ignore_known_warnings
from finance_assets.core.settings import Settings, SettingsError
from finance_assets.features.store import FEATURE_REPO
from finance_assets.resources import resources_for


def main(argv: list[str]) -> int:
    ignore_known_warnings()
    try:
        settings = Settings.from_env()
        feast = resources_for(settings, secrets="values")["feast"]
        feast.repo_config()  # validates the profile's values (and creates the embedded folders)
        environment = feast.cli_environment()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ.update(environment)
    if argv[:1] == ["serve"] and not sys.flags.optimize:
        os.execv(sys.executable, [sys.executable, "-O", "-m", "finance_assets.features", *argv])
    if argv[:1] == ["serve"] and not os.environ.get("XDG_RUNTIME_DIR"):
        # gunicorn puts its control socket in $XDG_RUNTIME_DIR or ~/.gunicorn: one per lakehouse, not one per
        # user shared by every server on the machine (a read-only home in a container: a private temp dir)
        runtime = settings.home / "feast" / "run"
        try:
            runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            runtime = Path(tempfile.mkdtemp(prefix="feast-serve-"))
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from feast.cli.cli import cli

    args = ["--chdir", str(FEATURE_REPO), "--feature-store-yaml", str(feast.config_file()), *argv]
    return int(cli.main(args=args, prog_name="feast", standalone_mode=False) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
