"""Servers the project's tools start on loopback: the one harness of tests, benchmarks and docs/screenshots.py.

Starting ``dagster-webserver``, ``mlflow ui``, the feature server or SeaweedFS for a test, a benchmark or a
screenshot is always the same four steps, done here once: a free port on 127.0.0.1, the process in **its own
session** (so stopping it by its PID's group stops its workers too, and nothing else), waiting until it
answers (failing early, with its log, when it exits first), and stopping it: SIGTERM, SIGKILL after a grace
period. Standard library only: importing this costs nothing, and it is importable wherever the package is.

    with running("mlflow", argv, log, ready=f"{url}/health", env=env) as server:
        ...  # server.pid, server.log_tail()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A server exited before it was ready, or did not get ready in time (the message holds its log's tail)."""


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct free loopback ports (held open together, so they differ from each other)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class ServerProcess:
    """A server we started, in its own process group: stopping it stops its workers too."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_seconds: float | None = None  # from start until it answered (set by :func:`running`)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, grace_seconds: float = 30.0) -> None:
        """SIGTERM to the group we created (by its PID), SIGKILL after the grace period."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # workers of a server whose master exited first (gunicorn's, uvicorn's) are still in its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


def start_server(
    name: str, argv: list[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ServerProcess:
    """``argv`` in its own session, stdout and stderr to ``log``, no stdin."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stop() signals exactly what we started
        )
    return ServerProcess(name, process, log)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """``url`` answers a GET with 2xx (raises while nothing listens: :func:`wait_until` retries)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return 200 <= response.status < 300


def wait_until(
    server: ServerProcess, ready: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25
) -> float:
    """Poll ``ready`` until true; the seconds it took. Stops the server and raises if it exits or times out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} exited with {server.process.returncode} before {what} (log {server.log}):\n"
                f"{server.log_tail()}"
            )
        with contextlib.suppress(Exception):
            if ready():
                return time.monotonic() - started
        time.sleep(interval)
    server.stop()
    raise ServerError(
        f"{server.name} did not get {what} within {timeout:.0f} s (log {server.log}):\n{server.log_tail()}"
    )


@contextlib.contextmanager
def running(
    name: str,
    argv: list[str],
    log: Path,
    *,
    ready: str | Callable[[], bool],
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    interval: float = 0.5,
) -> Iterator[ServerProcess]:
    """A server from start until it is ``ready`` (a URL answering 2xx, or a predicate), stopped on exit."""
    check = (lambda: http_ok(ready)) if isinstance(ready, str) else ready
    what = ready if isinstance(ready, str) else "ready"
    server = start_server(name, argv, log, env=env, cwd=cwd)
    try:
        server.ready_seconds = wait_until(server, check, timeout=timeout, what=what, interval=interval)
        yield server
    finally:
        server.stop()
