"""What an entry point sets up for its process, never an import: the third-party warnings we know and accept.

Each is ignored by its message (and module where it helps), with the reason it is not ours to fix. The CLI,
the demo's second process and the Feast CLI wrapper call :func:`ignore_known_warnings`; the test suite adds
the same list to pytest's filters (``tests/conftest.py``), next to "a deprecated call in finance_assets is
an error" (``pyproject.toml``). A warning not listed here is shown.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import warnings

# (message regex, category, module regex, why it is accepted)
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str, str], ...] = (
    (
        r"Parameter `backfill_policy` of function `asset` is currently in beta",
        Warning,  # dagster.BetaWarning
        "",
        "backfill policies are beta in Dagster 1.13; the company and price assets use them on purpose "
        "(one run per 100 companies, a price range in one run)",
    ),
    (
        r"sqlglot\[rs\] is deprecated",
        UserWarning,
        "",
        "dagster-dbt requires sqlglot[rs]; sqlglot 30 (whose sqlglotc replaces it) breaks Feast's DuckDB "
        "point-in-time joins (measured), so sqlglot stays <30",
    ),
    (r"sqlglotrs is deprecated", DeprecationWarning, "", "the same sqlglot[rs] tokenizer"),
    (
        r"InitResourceContext\.dagster_run is deprecated",
        DeprecationWarning,
        "",
        "Dagster 1.13's InitResourceContext.replace_config reads its own deprecated dagster_run when it "
        "initialises a nested resource (lakehouse -> s3, sec -> http); no caller of ours involved",
    ),
    (
        r"AssetExecutionContext\.op is deprecated",
        DeprecationWarning,
        "dagster_dbt",
        "dagster-dbt 0.29 reads context.op (deprecated in Dagster 1.13) to select the dbt nodes",
    ),
    (
        r"Inheritance class ClientSession from ClientSession is discouraged",
        DeprecationWarning,
        "",
        "openbb-core subclasses aiohttp.ClientSession, which aiohttp discourages",
    ),
)


def ignore_known_warnings() -> None:
    """Ignore exactly the :data:`KNOWN_WARNINGS` in this process."""
    for message, category, module, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def pytest_filters() -> list[str]:
    """The same list as pytest ``filterwarnings`` entries (``action:message:category:module``)."""
    return [f"ignore:{message}:{category.__name__}:{module}" for message, category, module, _ in KNOWN_WARNINGS]


def stop_on_sigterm() -> None:
    """SIGTERM stops this process as Ctrl-C does, and terminates the child processes it started.

    Python's default SIGTERM ends the process on the spot: the run in progress would stay STARTED holding
    its pool slot. As a KeyboardInterrupt, Dagster fails the run and releases its slots on the way out, and
    the demo's prices process (a child) is terminated with it.
    """

    def handler(signum: int, frame: object) -> None:
        for child in multiprocessing.active_children():
            child.terminate()
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def stop_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies, even by SIGKILL (prctl PR_SET_PDEATHSIG).

    A child process (the demo's prices backfill) must not outlive the launcher that started it; elsewhere
    this is a no-op and ``cli recover --stop-orphans`` stops such workers.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
