"""The feast CLI on the active profile: ``python -m finance_assets.features <feast command> [options]``.

Runs ``feast --chdir feature_repo --feature-store-yaml <profile's YAML> <command> ...`` with the YAML's
``${VAR}``s taken from the ``feast`` resource composed from the environment's settings (LAKEHOUSE_PROFILE
picks the file; nothing is edited or rendered to disk). Examples::

    python -m finance_assets.features plan
    python -m finance_assets.features apply
    python -m finance_assets.features serve --host 127.0.0.1 --port 6566 --max-requests 0

``serve`` takes ``feast serve``'s options and runs Feast's app behind the lakehouse's wrapper
(:mod:`finance_assets.features.server`: 4xx errors as plain JSON, TTLs enforced online, ISO-8601 timestamps).
It runs the interpreter optimised (``-O``): Feast decorates its registry classes with typeguard's
``@typechecked``, which re-checks every field of the feature service each time a request deserialises
it from the cached registry (~1 ms of a ~3 ms request); typeguard is a no-op under ``-O``. Optimised bytecode
(``*.opt-1.pyc``) is written on the first start (the image compiles it at build): without it every start compiles
every module afresh.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finance_assets.core.entry import ignore_known_warnings
from finance_assets.core.settings import Settings, SettingsError
from finance_assets.features.store import FEATURE_REPO
from finance_assets.resources import resources_for

if TYPE_CHECKING:
    from finance_assets.features.resources import FeastResource


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
        # -O reads *.opt-1.pyc, which uv does not compile: let this process write them next to the bytecode uv wrote,
        # even when the shell sets PYTHONDONTWRITEBYTECODE, or EVERY start recompiles every module (measured: twice
        # the start-up, a minute on a busy machine). A read-only environment gets them at build (deploy/Dockerfile).
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
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
    if argv[:1] == ["serve"]:
        return _serve(feast, argv[1:])
    from feast.cli.cli import cli

    args = ["--chdir", str(FEATURE_REPO), "--feature-store-yaml", str(feast.config_file()), *argv]
    return int(cli.main(args=args, prog_name="feast", standalone_mode=False) or 0)


def _serve(feast: FeastResource, argv: list[str]) -> int:
    """``feast serve``'s options, with the app behind :class:`finance_assets.features.server.LakehouseFeatureApi`."""
    import click
    from feast.cli.serve import serve_command

    from finance_assets.features.server import serve

    def run(type_: str, metrics: bool, **options: Any) -> None:
        if type_ != "http":
            raise click.BadParameter("only --type http is served (the lakehouse's REST feature server)")
        if metrics:
            raise click.BadParameter("--metrics is not supported by the lakehouse feature server")
        workers = options.pop("workers")
        serve(store, workers=max(1, os.cpu_count() or 1) * 2 + 1 if workers == -1 else workers, **options)

    store = feast.store()
    params = [copy.copy(param) for param in serve_command.params]
    for param in params:
        # Feast's CLI re-reads the registry every 5 s, in a thread of each worker: ~0.35 s holding the GIL, a
        # stall of every request in flight (p99 of a 100-entity call 332 ms against a p50 of 55). The registry
        # only changes when the features job applies it; follow its own cache TTL (feature_store.yaml, 60 s).
        if param.name == "registry_ttl_sec":
            param.default = getattr(store.config.registry, "cache_ttl_seconds", None) or param.default
    command = click.Command("serve", params=params, callback=run, help=serve_command.help)
    return int(command.main(args=argv, prog_name="python -m finance_assets.features serve", standalone_mode=False) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
