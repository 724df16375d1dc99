"""Training on the market: seconds per Optuna trial on the full recorded S&P 500 cross-section, and the
out-of-sample backtest (real vs placebo) of the best recipe.

Data: the 482 recorded members (``../shared/replay/prices/yahoo_sp500_2015_2020``, 473 with a year of
history) at month ends 2016-01 -> 2019-12, label = 21-session forward excess log return over ^GSPC, 11 price
features of feature set v2, built by ``tests/market_replay.py`` (the test-support reader of the recorded
cross-section: the demo's own Bronze load of these files is not what this measures). A trial is what
``ml/return_model`` runs per Optuna trial: embargoed walk-forward CV (4 folds x 6 months), one multi-quantile
XGBoost fit per fold, on 1 thread (``model.BASE_PARAMS``). MLflow and Optuna stores are temporary SQLite
files, as in the embedded profile.

Figures: median seconds per completed trial (target: a 30-trial budget fits the 900 s default timeout,
i.e. < 30 s per trial), trials run, and the backtest table (IC with t-stat, Sharpe with its error, real and
placebo); no skill target is set.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import REPO, Figure, Result, new_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Plot

NAME = "training"
DESCRIPTION = "Seconds per Optuna trial on the 482-ticker cross-section; backtest real vs placebo of the best recipe"
TIMEOUT_BUDGET_S = 900.0
FULL_TRIALS, QUICK_TRIALS = 8, 3


def run(quick: bool) -> Result:
    sys.path.insert(0, str(REPO / "tests"))  # tests/market_replay.py: the recorded cross-section as a frame
    import mlflow
    import optuna
    import polars as pl
    from market_replay import WIDE_FEATURES, market_frame

    from finance_assets.ml import backtest
    from finance_assets.ml.spec import N_TRIALS
    from finance_assets.ml.training import TrainConfig, Trainer, TrainingData

    result = Result(NAME, DESCRIPTION, quick)
    trials = QUICK_TRIALS if quick else FULL_TRIALS
    started = time.monotonic()
    frame = market_frame()
    build_s = time.monotonic() - started
    scratch = Path(tempfile.mkdtemp(prefix="bench-training-"))
    uri = f"sqlite:///{scratch / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("bench", artifact_location=(scratch / "artifacts").as_uri())
    data = TrainingData(
        frame=frame, features=list(WIDE_FEATURES), feature_service="bench_replay_price_features", snapshots={}
    )
    trainer = Trainer(
        data,
        TrainConfig(
            n_trials=trials, timeout_seconds=None, n_folds=4, fold_months=6, holdout_months=6, min_train_months=12
        ),
        client=client,
        experiment_id=experiment_id,
        optuna_storage=f"sqlite:///{scratch / 'optuna.db'}",
        run_name="bench",
        tags={},
    )
    with mlflow.start_run(experiment_id=experiment_id):
        best, study_name, _, _ = trainer.tune()
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{scratch / 'optuna.db'}")
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE and t.datetime_complete and t.datetime_start
    ]
    per_trial = statistics.median(durations)
    rows, tickers = trainer.rows.height, trainer.rows["ticker"].n_unique()
    result.figures.append(
        Figure(
            "seconds per completed Optuna trial (full cross-section)",
            round(per_trial, 2),
            "s",
            f"{TIMEOUT_BUDGET_S:g} s / {N_TRIALS} trials",
            round(per_trial / (TIMEOUT_BUDGET_S / N_TRIALS), 3),
            "< 1x",
            per_trial < TIMEOUT_BUDGET_S / N_TRIALS,
            note=f"{tickers} tickers, {rows} rows, {len(WIDE_FEATURES)} features, {len(trainer.folds)} folds; "
            f"{len(durations)} completed of {trials} (pruned ones stop early)",
        )
    )
    config = backtest.BacktestConfig()
    real = backtest.run(frame, list(WIDE_FEATURES), best, config, placebo=False)
    placebo = backtest.run(frame, list(WIDE_FEATURES), best, config, placebo=True)
    table = backtest.comparison_table(real.summary, placebo.summary)
    for row in table.iter_rows(named=True):
        result.figures.append(
            Figure(
                f"backtest {row['statistic']}",
                round(row["real"], 4),
                "",
                "placebo",
                None,
                "-",
                None,
                note=f"placebo {row['placebo']:.4f}",
            )
        )
    result.details = {
        "frame_build_s": round(build_s, 2),
        "trial_seconds": durations,
        "best_params": {k: (float(v) if isinstance(v, float) else v) for k, v in best.items()},
        "backtest_real_vs_placebo": table.to_dicts(),
        "backtest_monthly": real.monthly.with_columns(pl.col("as_of_date").cast(pl.String)).to_dicts(),
        "tickers": tickers,
        "rows": rows,
    }
    return result


def plot(result: Result) -> Plot:
    """Seconds per Optuna trial against the budget, and the backtest's cumulative long-short return (gross, net)."""
    import numpy as np

    per_trial = result.figures[0] if result.figures else None  # the target as recorded with the result
    target = per_trial.value / per_trial.ratio if per_trial and per_trial.value and per_trial.ratio else None
    details = result.details
    fig, (trials, curve) = new_plot(11, 4.5, 1, 2)
    seconds = details.get("trial_seconds", [])
    trials.bar(range(1, len(seconds) + 1), seconds, color="#4C72B0")
    if target is not None and per_trial is not None:
        trials.axhline(target, color="#C44E52", linewidth=1, label=f"target: {per_trial.against}")
    trials.set_title(f"seconds per trial ({details.get('tickers', '?')} tickers, {details.get('rows', '?')} rows)")
    trials.set_xlabel("trial")
    trials.set_ylabel("s")
    trials.legend()
    monthly = details.get("backtest_monthly", [])
    if monthly:
        dates = np.array([m["as_of_date"] for m in monthly], dtype="datetime64[D]")
        for key, label in (("long_short_return", "gross"), ("long_short_return_net", "net of costs")):
            values = np.array([m.get(key) if m.get(key) is not None else np.nan for m in monthly], dtype=float)
            curve.plot(dates, np.exp(np.nancumsum(values)) - 1, label=label)
    curve.axhline(0, color="black", linewidth=0.5)
    curve.set_title("backtest: cumulative long-short return (out of sample)")
    curve.set_ylabel("cumulative return")
    curve.legend()
    fig.autofmt_xdate()
    return fig
