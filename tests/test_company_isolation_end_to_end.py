"""Issue 13, shown end to end: one multi-company range, three good companies and four broken ones.

Through the real launch path (``cli materialize``: named jobs, ranged runs, the instance on disk) and the
dbt statement models (``dbt build`` through the Dagster dbt asset). The replay folder is a copy of the
recordings with, on purpose:
- SNOW: companyfacts recorded, its submissions (filing index) not: filings fail, facts and statements land;
- GOOGL: in SEC's ticker map, nothing recorded: both endpoints answer 404;
- TSM: companyfacts cut off mid-transfer (truncated JSON);
- MRVL: its revenue facts in "USX" instead of "USD" (an unexpected unit).
Prices are recorded for AAPL, MSFT and NVDA only (plus the GSPC benchmark): after Gold, the feature layer
(Feast registry + online store) and the return model (tiny Optuna budget, predictions June-August 2023,
online predictions) run as Dagster runs; the good companies are served online and predicted, the others not.
Expected counts come from the recorded payloads.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import polars as pl
import pytest
from gold_fixtures import _statement_selection

from finance_assets.core.companies import COMPANIES_CHECK
from finance_assets.core.iceberg import IcebergLakehouse
from finance_assets.core.names import INGEST_STATUS_TABLE
from finance_assets.core.partitions import companies_partitions
from finance_assets.core.settings import Settings

FACTS = dg.AssetKey(["bronze", "edgar_company_facts"])
FILINGS = dg.AssetKey(["bronze", "edgar_filings"])
UNIVERSE = ("AAPL", "MSFT", "NVDA", "SNOW", "GOOGL", "TSM", "MRVL")
GOOD = ("AAPL", "MSFT", "NVDA")
BAD = ("GOOGL", "TSM", "MRVL")
PRICE_SOURCE = "yahoo_daily_2003_2023"  # 2003-10-30 -> 2023-10-27, the three good companies recorded
PRICES_START = "2022-06-01"  # a short history keeps the run short
# a tiny tuning budget (tests/test_ml_pipeline.py shows the model itself); labels known by the cutoff
TUNED = {
    "n_trials": 2,
    "n_folds": 2,
    "fold_months": 2,
    "holdout_months": 2,
    "min_train_months": 3,
    "cutoff_date": "2023-05-31",
    "timeout_seconds": 120.0,
}
PREDICTED = ("2023-06-01", "2023-08-01")  # out of sample
ISOLATED = (
    "MLFLOW_TRACKING_URI",
    "OPTUNA_STORAGE",
    "LAKEHOUSE_AUTOMATION",
    "RETRAIN_MIN_RANK_IC",
    "RETRAIN_MIN_COVERAGE",
)
CIKS = {"AAPL": 320193, "MSFT": 789019, "NVDA": 1045810, "SNOW": 1640147, "TSM": 1046179, "MRVL": 1835632}


def _recorded(replay_dir: Path, ticker: str) -> bytes:
    path = replay_dir / f"edgar/companyfacts/CIK{CIKS[ticker]:010d}.json"
    return path.read_bytes() if path.exists() else gzip.decompress(path.with_suffix(".json.gz").read_bytes())


def _fact_count(body: bytes) -> int:
    doc = orjson.loads(body)
    return sum(len(f) for c in doc["facts"].values() for b in c.values() for f in b["units"].values())


def _put(root: Path, ticker: str, body: bytes) -> None:
    target = root / f"edgar/companyfacts/CIK{CIKS[ticker]:010d}.json"
    target.with_suffix(".json.gz").unlink(missing_ok=True)
    target.write_bytes(body)


def _status(keys: tuple[str, ...], asset: dg.AssetKey) -> dict[str, str]:
    instance = dg.DagsterInstance.get()
    found = instance.get_status_by_partition(asset, list(keys), companies_partitions) or {}
    return {k: v.value for k, v in found.items()}


def _files_of(lake: IcebergLakehouse, ticker: str) -> set[str]:
    frame = pl.from_arrow(lake.load("bronze.edgar_company_facts").inspect.files())
    assert isinstance(frame, pl.DataFrame)
    return {r["file_path"] for r in frame.iter_rows(named=True) if (r["partition"] or {}).get("ticker") == ticker}


def _dbt(selection: list[str]) -> dg.ExecuteInProcessResult:
    from finance_assets.definitions import build_definitions

    defs = build_definitions(Settings.from_env())
    return dg.materialize(
        list(defs.assets or []),
        selection=selection,
        instance=dg.DagsterInstance.get(),
        resources=defs.resources,
        raise_on_error=False,
    )


@pytest.mark.slow
def test_one_range_lands_the_good_companies_everywhere_and_reruns_only_the_failed(
    lakehouse_env: Path, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "replay"
    shutil.copytree(replay_dir / "edgar", root / "edgar", ignore=shutil.ignore_patterns("snapshots", "13f"))
    _put(root, "TSM", _recorded(replay_dir, "TSM")[:20000])
    mrvl: dict[str, Any] = orjson.loads(_recorded(replay_dir, "MRVL"))
    revenues = mrvl["facts"]["us-gaap"]["RevenueFromContractWithCustomerExcludingAssessedTax"]["units"]
    revenues["USX"] = revenues.pop("USD")
    _put(root, "MRVL", orjson.dumps(mrvl))
    # prices for the good companies only, from one recorded source (the bad ones have none: not in any layer)
    (root / "prices" / PRICE_SOURCE).mkdir(parents=True)
    for ticker in (*GOOD, "GSPC"):  # GSPC: the S&P 500 index, the benchmark of the excess-return labels
        shutil.copy(replay_dir / "prices" / PRICE_SOURCE / f"{ticker}.csv", root / "prices" / PRICE_SOURCE)
    monkeypatch.setenv("REPLAY_DIR", str(root))
    monkeypatch.setenv("UNIVERSE", ",".join(UNIVERSE))
    monkeypatch.setenv("PRICES_START", PRICES_START)
    for name in ISOLATED:  # MLflow/Optuna stores are this lakehouse's own, whatever the shell exports
        monkeypatch.delenv(name, raising=False)
    from finance_assets.cli import materialize

    settings = Settings.from_env()
    assert materialize(settings, "bronze/sec_company_tickers") == 0
    code = materialize(settings, "bronze/edgar_filings,bronze/edgar_company_facts", partition_range="AAPL...MRVL")
    assert code == 1  # some companies failed, and said so

    # Dagster shows exactly the bad partitions as failed, per asset
    assert _status(UNIVERSE, FACTS) == {
        **dict.fromkeys(("AAPL", "MSFT", "NVDA", "SNOW"), "MATERIALIZED"),
        **dict.fromkeys(("GOOGL", "TSM", "MRVL"), "FAILED"),
    }
    assert _status(UNIVERSE, FILINGS) == {
        **dict.fromkeys(("AAPL", "MSFT", "NVDA", "TSM", "MRVL"), "MATERIALIZED"),
        **dict.fromkeys(("SNOW", "GOOGL"), "FAILED"),
    }

    lake = IcebergLakehouse.from_settings(settings)
    facts = lake.read("bronze.edgar_company_facts")
    assert dict(facts.group_by("ticker").len().iter_rows()) == {
        t: _fact_count(_recorded(replay_dir, t)) for t in ("AAPL", "MSFT", "NVDA", "SNOW")
    }
    status = lake.read(INGEST_STATUS_TABLE)
    latest = {(r["asset_key"], r["ticker"]): r for r in status.sort("attempted_at").iter_rows(named=True)}
    facts_status = {t: latest[("bronze/edgar_company_facts", t)] for t in UNIVERSE}
    assert {t: r["status"] for t, r in facts_status.items()} == {
        **dict.fromkeys(("AAPL", "MSFT", "NVDA", "SNOW"), "ok"),
        "GOOGL": "not_found",
        "TSM": "malformed",
        "MRVL": "rejected",
    }
    assert facts_status["TSM"]["error"].startswith("TSM (CIK 0001046179) companyfacts: malformed payload")
    assert "unexpected unit 'USX'" in facts_status["MRVL"]["error"]
    assert "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax" in facts_status["MRVL"]["error"]
    assert latest[("bronze/edgar_filings", "SNOW")]["status"] == "not_found"
    assert "SNOW (CIK 0001640147) submissions" in latest[("bronze/edgar_filings", "SNOW")]["error"]

    # Silver and Gold for the good companies; SNOW's statements come from its facts alone
    selection = _statement_selection(_definitions())
    dbt = _dbt(selection)
    assert dbt.success
    income = lake.read("gold.income_statement")
    assert {"AAPL", "NVDA", "SNOW"} <= set(income.get_column("ticker").unique().to_list())
    assert not {"GOOGL", "TSM", "MRVL"} & set(income.get_column("ticker").unique().to_list())

    # ... and in the Feast online store and the predictions; the bad ones in neither
    _features_and_predictions(settings, lake)

    # the input is fixed (GOOGL stays unrecorded): `--failed` re-runs exactly the failed partitions
    aapl_rows = facts.filter(pl.col("ticker") == "AAPL").sort(facts.columns, nulls_last=True)
    aapl_files = _files_of(lake, "AAPL")
    first_run = {r.run_id for r in _materializations("AAPL")}
    _put(root, "TSM", _recorded(replay_dir, "TSM"))
    _put(root, "MRVL", _recorded(replay_dir, "MRVL"))
    assert materialize(settings, "bronze/edgar_company_facts", failed=True) == 1  # GOOGL still 404
    assert _status(UNIVERSE, FACTS) == {**dict.fromkeys(UNIVERSE, "MATERIALIZED"), "GOOGL": "FAILED"}
    reruns = dg.DagsterInstance.get().get_runs(dg.RunsFilter(tags={"lakehouse/launched_by": "cli"}), limit=1)
    assert reruns[0].tags.get("dagster/asset_partition_range_start") == "GOOGL"
    after = lake.read("bronze.edgar_company_facts")
    assert after.filter(pl.col("ticker") == "AAPL").sort(after.columns, nulls_last=True).equals(aapl_rows)
    assert _files_of(lake, "AAPL") == aapl_files
    assert {r.run_id for r in _materializations("AAPL")} == first_run
    assert dict(after.group_by("ticker").len().iter_rows()) == {t: _fact_count(_recorded(replay_dir, t)) for t in CIKS}
    assert _dbt(selection).success
    income = lake.read("gold.income_statement")
    assert {"TSM", "MRVL"} <= set(income.get_column("ticker").unique().to_list())


def _run(selection: list[str], **kwargs: Any) -> dg.ExecuteInProcessResult:
    """One Dagster run of ``selection`` with the project's definitions; fails the test naming the failed steps."""
    defs = _definitions()
    result = dg.materialize(
        list(defs.assets or []),
        selection=selection,
        instance=dg.DagsterInstance.get(),
        resources=defs.resources,
        raise_on_error=False,
        **kwargs,
    )
    failures = [e.event_specific_data.error.to_string() for e in result.get_step_failure_events()]  # type: ignore[union-attr]
    assert result.success, f"{selection} failed:\n" + "\n".join(failures)
    return result


def _features_and_predictions(settings: Settings, lake: IcebergLakehouse) -> None:
    """Prices, the whole dbt project, the feature layer (Feast registry + online store) and the return model's
    predictions, each launched as a Dagster run; the good companies land in every layer, the bad ones in none."""
    from finance_assets.core.partitions import range_tags
    from finance_assets.features.assets import feature_selection
    from finance_assets.pipeline import price_range
    from finance_assets.resources import resources_for
    from finance_assets.transform.assets import dbt_selection

    _run(["bronze/prices_daily"], tags=range_tags(*price_range(settings)))
    # dbt: the models the features and the model read (no 13F, no FMP in this universe's replay)
    _run(_feature_models(dbt_selection(), [*feature_selection(), "ml/training_set", "ml/predictions"]))
    prices = lake.read("bronze.prices_daily")
    priced = set(prices.get_column("ticker").unique().to_list())
    assert set(GOOD) <= priced and not {*BAD, "SNOW"} & priced

    _run(feature_selection())
    _run(["ml/training_set"])
    config = {"ops": {"ml__return_model": {"config": TUNED}}}
    _run(["ml/return_model"], run_config=config)
    _run(["ml/predictions"], tags=range_tags(*PREDICTED))
    _run(["ml/online_predictions"])

    predictions = lake.read("ml.predictions")
    months = predictions.group_by("ticker").agg(pl.col("as_of_date").n_unique())
    assert dict(months.iter_rows()) == dict.fromkeys(GOOD, 3)  # June, July, August 2023 month ends
    assert predictions.filter(pl.col("pred_p50").is_null()).is_empty()

    from finance_assets.features import catalog

    store = resources_for(Settings.from_env(), secrets="values")["feast"].store()
    served = store.get_online_features(
        features=store.get_feature_service(catalog.SERVING_SERVICE), entity_rows=[{"ticker": t} for t in UNIVERSE]
    ).to_dict()
    by_ticker = {t: {k: v[i] for k, v in served.items()} for i, t in enumerate(served["ticker"])}
    for ticker in GOOD:
        assert by_ticker[ticker]["momentum_21d"] is not None, ticker
        assert by_ticker[ticker]["pred_p50"] is not None, ticker
    for ticker in (*BAD, "SNOW"):  # no prices recorded for these: no price features, no prediction
        assert by_ticker[ticker]["momentum_21d"] is None, ticker
        assert by_ticker[ticker]["pred_p50"] is None, ticker


def _feature_models(models: list[str], assets: list[str]) -> list[str]:
    """The dbt models that ``assets`` read, directly or not."""
    graph = _definitions().resolve_asset_graph()
    found: set[dg.AssetKey] = set()
    stack = [dg.AssetKey.from_user_string(k) for k in assets]
    while stack:
        for parent in graph.get(stack.pop()).parent_keys:
            if parent not in found and parent.to_user_string() in models:
                found.add(parent)
                stack.append(parent)
    return [key.to_user_string() for key in found]


def _definitions() -> dg.Definitions:
    from finance_assets.definitions import build_definitions

    return build_definitions(Settings.from_env())


def _materializations(ticker: str) -> list[Any]:
    return list(
        dg.DagsterInstance.get()
        .fetch_materializations(dg.AssetRecordsFilter(asset_key=FACTS, asset_partitions=[ticker]), limit=10)
        .records
    )


def test_the_companies_check_is_declared_on_every_company_asset() -> None:
    from finance_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    company_assets = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def == companies_partitions]
    assert {FACTS, FILINGS} <= set(company_assets) and len(company_assets) >= 8
    for key in company_assets:
        assert dg.AssetCheckKey(key, COMPANIES_CHECK) in graph.get(key).check_keys, key
