"""The feature server's contract (``python -m finance_assets.features serve``, a real server on loopback).

Errors are 4xx with one plain JSON object naming what was wrong; a value older than its view's TTL is never
served as current; timestamps are ISO-8601. The lakehouse is the Gold session fixture with the feature layer
materialised through Dagster (``tests/test_feast_features.py``). Rows the TTL cases need (a value stamped a day
ago, one stamped eight days ago) are written into a copy of its online store, so the shared one is untouched.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from gold_fixtures import *  # noqa: F403
from test_feast_features import PRICES_TTL_DAYS, FeastLakehouse, feature_server
from test_feast_features import feast_lakehouse as feast_lakehouse  # the module fixture, shared

pytestmark = pytest.mark.slow

FRESH, STALE = "TTLFRESH", "TTLSTALE"


def _request(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw), raw
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw), raw


def _post(base: str, payload: Any) -> tuple[int, Any, bytes]:
    return _request(f"{base}/get-online-features", json.dumps(payload).encode())


@pytest.fixture(scope="module")
def server(feast_lakehouse: FeastLakehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A feature server over a copy of the lakehouse's registry and online store, plus the TTL rows."""
    gold = feast_lakehouse.gold
    home = tmp_path_factory.mktemp("serve") / "lakehouse"
    shutil.copytree(gold.home / "feast", home / "feast", ignore=shutil.ignore_patterns("run"))
    env = {**gold.env, "LAKEHOUSE_HOME": str(home)}
    _write_ttl_rows(feast_lakehouse, env)
    with feature_server(env, home / "serve.log") as base:
        yield base


def _write_ttl_rows(lake: FeastLakehouse, env: dict[str, str]) -> None:
    from contextlib import contextmanager

    from gold_fixtures import session_env

    now = datetime.now(UTC).replace(microsecond=0)
    with contextmanager(session_env)(env):
        store = lake.store()
        prices = store.get_feature_view("price_features")
        rows = {f.name: [0.25, 0.5] for f in prices.features}
        rows |= {"ticker": [FRESH, STALE], "trade_date": [now - timedelta(days=1), now - timedelta(days=8)]}
        store.write_to_online_store("price_features", pd.DataFrame(rows))
        fundamentals = store.get_feature_view("fundamentals")
        row: dict[str, list[Any]] = {f.name: [None] for f in fundamentals.features}
        filed = now - timedelta(days=30)
        row |= {"ticker": [FRESH], "event_timestamp": [filed], "filed_at": [filed], "period_type": ["Q"]}
        row["report_lag_days"] = [35]
        store.write_to_online_store("fundamentals", pd.DataFrame(row))


def test_unknown_entity_key_is_a_400_naming_the_key(server: str) -> None:
    status, body, _ = _post(server, {"feature_service": "return_model_v1", "entities": {"tickr": ["AAPL"]}})
    assert status == 400
    assert body == {
        "error": "unknown entity key 'tickr': the requested features are keyed by ticker",
        "field": "entities.tickr",
    }


def test_missing_entity_key_is_a_400(server: str) -> None:
    status, body, _ = _post(server, {"feature_service": "return_model_v1", "entities": {}})
    assert status == 400 and body["field"] == "entities"


def test_unknown_feature_is_a_404_naming_the_feature_and_its_view(server: str) -> None:
    status, body, _ = _post(server, {"features": ["price_features:momentum_7d"], "entities": {"ticker": ["AAPL"]}})
    assert status == 404
    assert body["field"] == "features"
    assert body["error"].startswith("unknown feature 'momentum_7d' of feature view 'price_features' (it has: ")
    assert "momentum_21d" in body["error"]


def test_unknown_feature_view_is_a_404(server: str) -> None:
    status, body, _ = _post(server, {"features": ["prices:close"], "entities": {"ticker": ["AAPL"]}})
    assert (status, body) == (404, {"error": "unknown feature view 'prices'", "field": "features"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b'["AAPL"]', None),
        (
            json.dumps({"feature_service": "return_model_v1", "entities": {"ticker": "AAPL"}}).encode(),
            "entities.ticker",
        ),
        (json.dumps({"features": ["price_features"], "entities": {"ticker": ["AAPL"]}}).encode(), "features"),
        (json.dumps({"entities": {"ticker": ["AAPL"]}}).encode(), "features"),
    ],
    ids=["not-json", "not-an-object", "entity-not-a-list", "feature-without-view", "nothing-requested"],
)
def test_bad_request_is_a_400_with_a_plain_json_error(server: str, body: bytes, field: str | None) -> None:
    status, answer, _ = _request(f"{server}/get-online-features", body)
    assert status == 400
    assert isinstance(answer, dict) and isinstance(answer["error"], str) and answer["error"]
    assert answer.get("field") == field


def test_unknown_feature_service_is_one_json_404(server: str) -> None:
    status, body, raw = _post(server, {"feature_service": "return_model_v9", "entities": {"ticker": ["AAPL"]}})
    assert status == 404
    assert isinstance(json.loads(raw), dict)  # decoded once, an object: not a JSON string holding JSON
    assert body == {"error": "unknown feature service 'return_model_v9'", "field": "feature_service"}


def test_a_value_older_than_its_ttl_is_null_outside_max_age(server: str) -> None:
    status, body, _ = _post(
        server, {"features": ["price_features:momentum_21d"], "entities": {"ticker": [FRESH, STALE, "AAPL"]}}
    )
    assert status == 200
    names = body["metadata"]["feature_names"]
    served = dict(zip(names, body["results"], strict=True))["momentum_21d"]
    # written a day ago: within the 7-day TTL, served as written
    assert served["values"][0] == 0.25 and served["statuses"][0] == "PRESENT"
    # eight days ago: past the TTL. The replay's AAPL bars end on 2023-10-27: years past it.
    assert served["values"][1:] == [None, None]
    assert served["statuses"][1:] == ["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE"]
    stamps = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in served["event_timestamps"]]
    assert (datetime.now(UTC) - stamps[1]).days >= PRICES_TTL_DAYS  # the age stays visible
    assert stamps[2].date().isoformat() == "2023-10-27"  # last recorded bar (replay prices/yahoo_daily_2003_2023)


def test_timestamps_are_iso_8601(server: str) -> None:
    status, body, _ = _post(server, {"feature_service": "return_model_v1", "entities": {"ticker": [FRESH]}})
    assert status == 200
    served = dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))
    filed_at = served["filed_at"]["values"][0]
    assert isinstance(filed_at, str) and filed_at.endswith("Z"), filed_at  # not epoch seconds
    written = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    assert abs(datetime.fromisoformat(filed_at.replace("Z", "+00:00")) - written) < timedelta(minutes=10)
    assert served["report_lag_days"]["values"][0] == 35


def test_health_and_other_routes_pass_through(server: str) -> None:
    with urllib.request.urlopen(f"{server}/health", timeout=10) as response:
        assert response.status == 200
