"""Bad input as a user meets it: on the command line and in Dagster runs, each error names the input and the fix.

The settings and parsers have their own unit tests (test_settings.py, test_edgar_parse.py,
test_price_sources.py); here the same mistakes go through ``python -m finance_assets.cli``, the
``dagster`` CLI and Dagster materialisations, and the test checks what reaches the user: the exit
status, one readable line or the step failure, and that nothing was fetched or written first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import orjson
import pytest

from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.settings import Settings
from finance_assets.resources import resources_for

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
TICKERS = "bronze/sec_company_tickers"
FACTS = "bronze/edgar_company_facts"
PRICES = "bronze/prices_daily"
EXCHANGE_URL = "https://www.sec.gov/files/company_tickers_exchange.json"
LAKEHOUSE_VARS = ("LAKEHOUSE_PROFILE", "LAKEHOUSE_HOME", "REPLAY_DIR", "UNIVERSE", "SEC_USER_AGENT", "FMP_API_KEY")


def _materialize(selection: list[str], **kwargs: object) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import defs

    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        instance=dg.DagsterInstance.get(),
        resources=resources_for(Settings.from_env()),
        raise_on_error=False,
        **kwargs,  # type: ignore[arg-type]
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    [failure] = result.get_step_failure_events()
    return failure.event_specific_data.error.to_string()


def _tables() -> list[str]:
    lake = IcebergLakehouse.from_settings(Settings.from_env())
    return [".".join(t) for (ns,) in lake.catalog.list_namespaces() for t in lake.catalog.list_tables(ns)]


# ---- python -m finance_assets.cli: a configuration mistake is one line and exit status 2 ----------------


def _cli(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in LAKEHOUSE_VARS and k != "DAGSTER_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "finance_assets.cli", command],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _bad_replay_dir(tmp_path: Path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "no-such-dir")
    if kind == "a file":
        (tmp_path / "replay.tar").write_bytes(b"not a directory")
        return str(tmp_path / "replay.tar")
    (tmp_path / "empty").mkdir()
    return str(tmp_path / "empty")


CLI_CASES = {
    # case: (variable, value or a _bad_replay_dir kind, what the one line must say)
    "unknown profile": (
        "LAKEHOUSE_PROFILE",
        "staging",
        "LAKEHOUSE_PROFILE='staging' does not exist. Use one of local, prod",
    ),
    "replay dir missing": ("REPLAY_DIR", "missing", "is not a readable directory. Point it at the recorded responses"),
    "replay dir is a file": ("REPLAY_DIR", "a file", "is not a readable directory. Point it at the recorded responses"),
    "replay dir not a recording": (
        "REPLAY_DIR",
        "empty",
        "has no edgar/ folder: it is not laid out like ../shared/replay",
    ),
    "empty universe": (
        "UNIVERSE",
        " , ",
        "is empty. Give tickers, CIKs, a file or a named universe, e.g. UNIVERSE=AAPL,MSFT",
    ),
    "anonymous user agent": (
        "SEC_USER_AGENT",
        "python-httpx/0.28",
        'e.g. SEC_USER_AGENT="Jane Doe jane.doe@example.com"',
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
@pytest.mark.parametrize("command", ["demo", "init", "summary"])
def test_cli_configuration_error_is_one_line_and_exit_2(tmp_path: Path, case: str, command: str) -> None:
    variable, value, expected = CLI_CASES[case]
    if variable == "REPLAY_DIR":
        value = _bad_replay_dir(tmp_path, value)
    home = tmp_path / "home"
    result = _cli(command, {variable: value, "LAKEHOUSE_HOME": str(home)}, cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith(f"configuration error: {variable}=")
    assert expected in lines[0]
    assert not home.exists()  # failed before touching anything


# ---- Dagster runs ---------------------------------------------------------------------------------------


@pytest.fixture
def instance_home(lakehouse_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNIVERSE", "AAPL")
    from finance_assets.cli import init

    init(Settings.from_env())
    return lakehouse_env


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request that reaches httpx's real transport is noted and refused."""
    requests: list[str] = []

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        raise httpx.ConnectError(f"test: {request.url.host} is not reachable")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    return requests


def test_live_edgar_without_sec_user_agent_fails_before_any_request(
    instance_home: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.delenv("REPLAY_DIR")
    monkeypatch.delenv("SEC_USER_AGENT", raising=False)
    text = _failure(_materialize([TICKERS]))
    assert "SEC_USER_AGENT is not set" in text
    assert 'export SEC_USER_AGENT="Jane Doe jane.doe@example.com"' in text  # the fix
    assert no_network == []
    assert "bronze.sec_company_tickers" not in _tables()


def _replay_copy(tmp_path: Path, replay_dir: Path, files: list[str]) -> Path:
    """A REPLAY_DIR holding copies of ``files`` (copies, not links: replay refuses paths leaving its root)."""
    root = tmp_path / "replay"
    (root / "edgar").mkdir(parents=True)
    for name in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(replay_dir / name, target)
    return root


def test_malformed_cik_in_the_ticker_map_names_the_cik_and_the_url(
    instance_home: Path, tmp_path: Path, replay_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _replay_copy(tmp_path, replay_dir, ["edgar/company_tickers_exchange.json", "edgar/company_tickers.json"])
    exchange = root / "edgar/company_tickers_exchange.json"
    doc = orjson.loads(exchange.read_bytes())
    doc["data"][0][0] = "32O193"  # AAPL's CIK with a letter O for a zero
    exchange.write_bytes(orjson.dumps(doc))
    monkeypatch.setenv("REPLAY_DIR", str(root))

    text = _failure(_materialize([TICKERS]))
    assert "Malformed CIK '32O193': expected up to 10 digits" in text  # the input and the expected form
    assert f"SEC EDGAR ticker map from {EXCHANGE_URL}" in text  # where it came from
    assert "No table was changed. Re-materialise once SEC serves a valid payload" in text  # what to do
    assert "bronze.sec_company_tickers" not in _tables()


def test_reversed_partition_range_names_the_range_and_the_fix(instance_home: Path) -> None:
    tags = {"dagster/asset_partition_range_start": "2023-06-01", "dagster/asset_partition_range_end": "2023-01-01"}
    text = _failure(_materialize([PRICES], tags=tags))
    assert "2023-06-01...2023-01-01 ends before it starts" in text
    assert "2023-01-01...2023-06-01" in text  # the corrected range


@pytest.mark.parametrize(("asset", "key"), [(PRICES, "2023-10-28"), (PRICES, "2023-13-45"), (FACTS, "ZZZQ")])
def test_partition_key_that_does_not_exist_is_named_and_nothing_runs(instance_home: Path, asset: str, key: str) -> None:
    # prices are monthly partitions keyed by their first day (2023-10-01); ZZZQ was never registered as a company
    with pytest.raises(dg.DagsterUnknownPartitionError, match=f"partition with key `{key}`"):
        _materialize([asset], partition_key=key)
    assert dg.DagsterInstance.get().get_runs() == []
    assert _tables() == []


# ---- the dagster CLI, live mode, behind a proxy that proves nothing left the machine -------------------


@pytest.fixture
def connection_recorder() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback 'proxy' that notes the first bytes of every connection and hangs up."""
    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(15)  # a busy machine may take a while to send the first line
                try:
                    seen.append(conn.recv(200))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    stop.set()
    thread.join(5)
    server.close()


def test_dagster_cli_names_an_unknown_ticker_and_a_missing_fmp_key_without_any_request(
    instance_home: Path, connection_recorder: tuple[str, list[bytes]]
) -> None:
    assert _materialize([TICKERS]).success  # the ticker map, from the recordings
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("companies", ["ZZZQ"])  # typed into the UI's "Add partition"
    proxy, seen = connection_recorder
    env = {k: v for k, v in os.environ.items() if k not in ("REPLAY_DIR", "FMP_API_KEY")}
    env |= {"SEC_USER_AGENT": "Bad Input tests@example.com", "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "finance_assets.definitions",
            "--select",
            f"{FACTS},bronze/fmp_profile",
            "--partition",
            "ZZZQ",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "Ticker 'ZZZQ' is not in SEC's ticker map" in output, output[-3000:]
    assert "Check the spelling in UNIVERSE or the partition key" in output
    assert "FMP_API_KEY is not set" in output and "export FMP_API_KEY=<key>" in output, output[-3000:]
    assert seen == [], seen  # neither failure cost a request
    tables = _tables()
    assert "bronze.edgar_company_facts" not in tables and "bronze.fmp_profile" not in tables

    # control: in this environment the project's client does go through the recorder
    probe = (
        "from finance_assets.core.http import SourceClient, SourceError\n"
        "try:\n"
        "    SourceClient(source='probe', user_agent='Probe p@example.com', max_retries=0).get("
        "'https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json')\n"
        "except SourceError:\n"
        "    pass\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, timeout=60, check=True)
    assert [line.split(b"\r\n")[0] for line in seen] == [b"CONNECT data.sec.gov:443 HTTP/1.1"], seen
