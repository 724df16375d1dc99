"""`make dev` (the README's way to open the Dagster UI) stops cleanly: nothing of it outlives a SIGTERM or a Ctrl-C.

The issue this guards: the recipe's shell swallowed SIGTERM and `dagster dev` (webserver + daemon) kept
running after make was told to stop. The test starts `make dev` exactly as a user does, in its own session,
waits until the UI answers, sends SIGTERM to make as a process manager does, and requires that every process
of that session is gone. (Ctrl-C reaches every process of the terminal's foreground group, dagster's own path.)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from finance_assets.core.loopback import free_port, http_ok, start_server, wait_until

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _session_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_dev_serves_the_ui_and_leaves_no_process_after_sigterm_to_make(
    tmp_path: Path, lakehouse_env: Path
) -> None:
    port = free_port()
    env = os.environ | {"DAGSTER_PORT": str(port), "LAKEHOUSE_AUTOMATION": "off"}
    server = start_server("make dev", ["make", "--no-print-directory", "dev"], tmp_path / "dev.log", env=env, cwd=REPO)
    try:
        wait_until(server, lambda: http_ok(f"http://127.0.0.1:{port}/server_info"), timeout=300, what="the UI")
        os.kill(server.pid, signal.SIGTERM)  # to make alone, as a process manager stops it
        server.process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _session_alive(server.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _session_alive(server.pid), f"processes of `make dev` outlived SIGTERM:\n{server.log_tail()}"
    finally:
        server.stop(grace_seconds=5)
