"""What the Dagster UI shows an operator, asserted over the code location (``build_definitions``).

Every asset has a team owner; every Iceberg table has a column schema with a description for each column;
every schedule runs in one time zone; an asset key's prefix is its group (the layer). And the metadata of a
real materialisation of Bronze (EDGAR, FMP, prices, 13F) and the dbt build reads as people read it (the
session's Gold lakehouse, tests/gold_fixtures.py; the ML layer's in tests/test_ml_pipeline.py).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg
import pytest
from gold_fixtures import *  # noqa: F403
from gold_fixtures import GoldLakehouse
from readable_metadata import instance_metadata, problems, significant_digits

from finance_assets.core.automation import TIMEZONE
from finance_assets.core.settings import Settings


@cache
def _defs() -> dg.Definitions:
    from finance_assets.definitions import build_definitions

    return build_definitions(Settings.from_env({}))


def _nodes() -> list[dg.AssetSpec]:
    graph = _defs().resolve_asset_graph()
    return [node.to_asset_spec() for node in graph.asset_nodes]


def _tables() -> list[dg.AssetSpec]:
    return [spec for spec in _nodes() if "iceberg" in spec.kinds]


def test_every_asset_has_a_team_owner() -> None:
    missing = [spec.key.to_user_string() for spec in _nodes() if not any(o.startswith("team:") for o in spec.owners)]
    assert not missing


def test_owners_follow_the_layer() -> None:
    owners = {spec.key.to_user_string(): spec.owners for spec in _nodes()}
    assert owners["bronze/edgar_company_facts"] == ["team:data-engineering"]
    assert owners["gold/income_statement"] == ["team:data-engineering"]
    assert owners["ml/predictions"] == ["team:quant-research"]
    assert owners["gold/fundamental_features"] == ["team:quant-research"]  # the feature layer's table


def test_every_asset_key_prefix_is_its_group() -> None:
    wrong = [(s.key.to_user_string(), s.group_name) for s in _nodes() if s.key.path[0] != s.group_name]
    assert not wrong


def test_every_schedule_runs_in_the_one_time_zone() -> None:
    zones = {schedule.name: schedule.execution_timezone for schedule in _defs().schedules or []}
    assert zones and set(zones.values()) == {TIMEZONE}, zones


@pytest.mark.parametrize("key", sorted(s.key.to_user_string() for s in _tables()))
def test_every_table_describes_every_column(key: str) -> None:
    spec = next(s for s in _tables() if s.key.to_user_string() == key)
    value = spec.metadata.get("dagster/column_schema")
    assert value is not None, f"{key} has no column schema"
    schema = getattr(value, "schema", value)
    assert schema.columns, key
    undescribed = [c.name for c in schema.columns if not (c.description or "").strip()]
    assert not undescribed, f"{key}: {undescribed}"


def test_bronze_column_schema_matches_the_arrow_schema_it_writes() -> None:
    from finance_assets.edgar.parse import COMPANY_FACTS_SCHEMA

    spec = next(s for s in _tables() if s.key.to_user_string() == "bronze/edgar_company_facts")
    value = spec.metadata["dagster/column_schema"]
    schema = getattr(value, "schema", value)
    assert [c.name for c in schema.columns] == COMPANY_FACTS_SCHEMA.names
    fy = next(c for c in schema.columns if c.name == "fy")
    assert "FILING" in fy.description  # fy/fp belong to the filing, not the period (pitfall 1)


def test_a_schema_without_a_sentence_for_a_column_is_an_error() -> None:
    import pyarrow as pa

    from finance_assets.core.columns import described_schema

    schema = pa.schema([("cik", pa.string()), ("value", pa.float64())])
    with pytest.raises(ValueError, match=r"bronze.x: columns without a description \['value'\]"):
        described_schema(schema, {"cik": "the CIK"}, table="bronze.x")


def test_mlflow_run_links_are_absolute_urls_of_the_mlflow_ui() -> None:
    from finance_assets.ml.tracking import run_link
    from finance_assets.resources import resources_for

    local = resources_for(Settings.from_env({}))["mlflow"]
    assert local.ui_url == "http://127.0.0.1:5000"  # `make mlflow-ui` over the embedded store
    server = resources_for(Settings.from_env({"MLFLOW_TRACKING_URI": "https://mlflow.example.test"}), secrets="values")
    assert server["mlflow"].ui_url == "https://mlflow.example.test"  # the tracking server serves the UI
    assert run_link(local.ui_url, "3", "abc123") == "http://127.0.0.1:5000/#/experiments/3/runs/abc123"


def test_filing_signal_features_declares_the_columns_it_builds() -> None:
    from datetime import date

    import polars as pl

    from finance_assets.features import tables
    from finance_assets.features.columns import FILING_SIGNAL_FEATURES_SCHEMA

    signals = pl.DataFrame(
        {
            "ticker": ["X"],
            "signal_type": ["amendment"],
            "signal_date": [date(2024, 1, 10)],
            "accession_number": ["a1"],
        }
    )
    built = tables.filing_signal_features(signals).schema
    assert built == pl.DataFrame(FILING_SIGNAL_FEATURES_SCHEMA.empty_table()).schema  # names, order and types


def test_feature_columns_reuse_the_feature_catalog_sentences() -> None:
    from finance_assets.features.catalog import FINANCIAL_RATIOS

    spec = next(s for s in _tables() if s.key.to_user_string() == "gold/ratio_features")
    value = spec.metadata["dagster/column_schema"]
    docs = {c.name: c.description for c in getattr(value, "schema", value).columns}
    assert docs["earnings_yield"] == next(f.description for f in FINANCIAL_RATIOS if f.name == "earnings_yield")


def test_replaced_rows_read_as_sql_not_as_an_expression_repr() -> None:
    from datetime import datetime

    import pyarrow as pa

    from finance_assets.core.io_manager import partition_filter, readable_filter

    month = dg.TimeWindow(datetime(2024, 1, 1), datetime(2024, 2, 1))
    assert readable_filter(partition_filter("trade_date", pa.date32(), window=month)) == (
        "trade_date >= '2024-01-01' AND trade_date < '2024-02-01'"
    )
    assert readable_filter(partition_filter("ticker", pa.string(), keys=["MSFT", "AAPL"])) == (
        "ticker IN ('AAPL', 'MSFT')"
    )
    assert readable_filter(partition_filter("ticker", pa.string(), keys=["AAPL"])) == "ticker = 'AAPL'"


def test_mlflow_experiment_links_open_the_saved_view_of_the_key_metrics(tmp_path: Path) -> None:
    """Issue 17.4: the runs table opens with the key metric columns. MLflow 3.17 keeps no server-side default
    layout; its UI opens a *saved view* (experiment tag ``mlflow.sharedViewState.<id>``) from the URL parameter
    ``viewStateShareKey``. Asserted: the tag on a real experiment, in the envelope the UI parses, naming columns
    of metrics the code logs, the link we hand out, and the two names in the installed UI bundle itself."""
    import json

    import mlflow
    import numpy as np
    import polars as pl

    from finance_assets.ml import backtest, metrics, tracking

    client, experiment_id = tracking.configure(
        tracking.MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    )
    tags = client.get_experiment(experiment_id).tags
    envelope = json.loads(tags["mlflow.sharedViewState.key-metrics"])
    # what the UI's saved-view parser requires, or it ignores the view
    assert isinstance(envelope["name"], str) and isinstance(envelope["createdAt"], int)
    state = json.loads(envelope["state"])
    metric_columns = [c for c in state["selectedColumns"] if c.startswith("metrics.")]
    assert metric_columns == [f"metrics.`{key}`" for key in tracking.KEY_METRICS]
    assert {"cv.rank_ic_mean", "holdout.rank_ic_mean", "holdout.rank_ic_tstat", "backtest.net_sharpe"} <= set(
        tracking.KEY_METRICS
    )
    # every key metric is a name the training and backtest runs log
    rng = np.random.default_rng(0)
    months = np.repeat(np.array(["2024-01-31", "2024-02-29", "2024-03-31"], dtype="datetime64[D]"), 20)
    label = rng.normal(size=len(months))
    frame = pl.DataFrame(
        {"as_of_date": months, "label": label, "pred_p10": label - 1, "pred_p50": label / 2, "pred_p90": label + 1}
    )
    evaluated = metrics.evaluate(frame)
    statistics = backtest.comparison_table({}, {})["statistic"].to_list()
    logged = {f"{p}.{k}" for p in ("cv", "holdout") for k in evaluated}
    logged |= {f"{p}.{k}" for p in ("backtest", "placebo") for k in statistics}
    assert set(tracking.KEY_METRICS) <= logged, set(tracking.KEY_METRICS) - logged
    # an experiment whose view is stale (an older layout) gets the current one back
    client.set_experiment_tag(experiment_id, "mlflow.sharedViewState.key-metrics", "{}")
    tracking.configure(tracking.MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts")))
    assert client.get_experiment(experiment_id).tags["mlflow.sharedViewState.key-metrics"] == json.dumps(
        envelope, separators=(",", ":")
    )
    link = tracking.experiment_link("http://127.0.0.1:5000/", experiment_id)
    assert link == f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?viewStateShareKey=key-metrics"
    # the installed UI reads exactly these names (an MLflow upgrade that renames them fails here)
    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    main = next(bundle.glob("main.*.js")).read_text(errors="replace")
    assert '"viewStateShareKey"' in main and '"mlflow.sharedViewState."' in main


def test_significant_digits_counts_as_people_read_a_number() -> None:
    assert [significant_digits(x) for x in (0.1235, 0.0001235, 123500.0, 12.0, 1.5e-05, 0.0)] == [4, 4, 4, 2, 2, 0]
    assert significant_digits(0.12345678901234567) > 4 and significant_digits(100.25) == 5
    offences = problems(
        [
            ("a", dg.MetadataValue.float(0.12345678)),
            ("b", dg.MetadataValue.json({"ic": [0.1, 0.333333333]})),
            ("c", dg.MetadataValue.text("Reference(name='ticker')")),
            ("d", dg.MetadataValue.url("#/experiments/1")),
            ("e", dg.MetadataValue.text("{'a': 1}")),
            ("f", dg.MetadataValue.float(0.1235)),
            ("g", dg.MetadataValue.url("http://127.0.0.1:5000/#/experiments/1")),
            ("h", dg.MetadataValue.md("| ticker | rows |\n|---|---|\n| AAPL | 3 |")),
            ("i", dg.MetadataValue.md("filter: EqualTo(term=Reference(name='ticker'))")),
        ]
    )
    assert [o.split(":")[0] for o in offences] == ["a", "b", "c", "d", "e", "i"], offences


@pytest.mark.slow
def test_bronze_and_dbt_metadata_reads_as_people_read_it(gold_lakehouse: GoldLakehouse) -> None:
    """Issue 19.3, over every materialisation and check evaluation of the Gold lakehouse's runs: no float with more
    than 4 significant digits, no object or expression repr, no dict dumped as text, no relative link."""
    entries = list(instance_metadata(gold_lakehouse.instance))
    assets = {where.split(" ")[0] for where, _ in entries}
    layers = {asset.split("/")[0] for asset in assets}
    assert {"bronze", "silver", "gold"} <= layers, layers  # a representative set did materialise
    assert len(entries) > 200, len(entries)
    offences = problems(entries)
    assert not offences, "\n".join(offences[:30])
