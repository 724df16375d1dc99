"""Tuning, final fit, MLflow logging and the champion gate of the return model (no Dagster here).

Protocol, for a training cutoff C (default: the last date a label became known):
1. rows = month-end entity rows whose label is known by C;
2. holdout = the last ``holdout_months`` month ends; everything before it, minus the embargo (rows whose
   label window reaches the holdout), is the development set;
3. Optuna (TPE sampler, median pruner, resumable storage) searches XGBoost parameters, scoring each trial
   by walk-forward CV on the development set (embargoed folds, see :mod:`splits`), objective = mean
   pinball loss over the three quantiles; every trial is a nested MLflow run. The study's name comes from
   the data and the protocol and ``n_trials`` is the STUDY's budget, so several processes or pods tuning
   the same data share one study on the RDB storage and stop together at the budget (each trial is
   seeded by its number: workers never draw the same parameters; tests/prod/test_prod_parallel_tuning.py);
4. the best parameters are refitted on the development set and scored on the holdout (out of sample):
   the challenger's numbers, next to the unconditional-quantile baseline;
5. the final model is refitted on ALL rows and registered; ``champion`` moves to it only if it beats the
   current champion on the same holdout (pinball loss), both evaluated out of sample there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version as package_version
from typing import Any

import mlflow.xgboost
import numpy as np
import optuna
import polars as pl
from mlflow.models import infer_signature
from optuna.samplers import RandomSampler
from optuna.samplers._lazy_random_state import LazyRandomState

from finance_assets.ml import metrics, model, plots
from finance_assets.ml.dataset import STATEMENT_TABLES
from finance_assets.ml.spec import (
    CHAMPION_ALIAS,
    CODE_VERSION,
    FOLD_MONTHS,
    HOLDOUT_MONTHS,
    HORIZON_TRADING_DAYS,
    LABELS_TABLE,
    MIN_TRAIN_MONTHS,
    MODEL_NAME,
    N_FOLDS,
    N_TRIALS,
    PREDICTION_COLUMNS,
    QUANTILES,
    SEED,
    TUNING_TIMEOUT_SECONDS,
)
from finance_assets.ml.splits import embargoed_split, walk_forward_splits
from finance_assets.ml.tracking import MlflowClient, champion, mlflow, safe_tags

log = logging.getLogger(__name__)
MODEL_REQUIREMENTS = ("xgboost", "scikit-learn", "numpy", "pandas")
optuna.logging.set_verbosity(optuna.logging.WARNING)
CV_METRICS_ATTR = "cv_metrics"
WORKER_ATTR = "worker"  # host:pid of the process that ran a trial (a pod's host name is the pod)


class TrialSeededTPESampler(optuna.samplers.TPESampler):
    """TPE whose random draws are seeded by ``seed + trial number``, not once per process.

    A seeded sampler's random stream belongs to its instance: two processes tuning one study with
    ``TPESampler(seed=42)`` draw the same startup trials and evaluate every parameter set twice. Trial
    numbers are unique within a study (the storage hands them out), so seeding each trial from its number
    keeps one process reproducible and keeps workers apart. (Optuna has no public per-trial seed; this
    resets the two random states its ``__init__`` creates.)
    """

    def __init__(self, *, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._trial_seed_base = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seed = self._trial_seed_base + trial.number
        self._rng = LazyRandomState(seed)
        self._random_sampler = RandomSampler(seed=seed)
        super().before_trial(study, trial)


@dataclass(frozen=True)
class TrainConfig:
    n_trials: int = N_TRIALS
    timeout_seconds: float | None = TUNING_TIMEOUT_SECONDS
    n_folds: int = N_FOLDS
    fold_months: int = FOLD_MONTHS
    holdout_months: int = HOLDOUT_MONTHS
    min_train_months: int = MIN_TRAIN_MONTHS
    cutoff: date | None = None
    seed: int = SEED
    fixed_params: Mapping[str, Any] | None = None  # skip tuning: fit exactly these parameters
    study_name: str | None = None
    min_improvement: float = 0.0  # challenger must beat the champion's holdout pinball loss by this much


@dataclass(frozen=True)
class TrainingData:
    """Rows (ticker, as_of_date, label, label_end, <features>) and where they came from."""

    frame: pl.DataFrame
    features: list[str]
    feature_service: str
    snapshots: dict[str, int]  # every Iceberg table behind the rows -> snapshot id
    metadata_locations: dict[str, str] = field(default_factory=dict)
    training_set_table: str | None = None  # the persisted training set (its snapshot is in snapshots)


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    model_version: str
    decision: str  # "promoted" | "kept" | "first"
    champion_version: str  # after the gate
    study_name: str | None
    trials_run: int
    trials_total: int
    best_params: dict[str, Any]
    cutoff: date
    holdout_start: date
    holdout: dict[str, float]
    baseline: dict[str, float]
    champion_holdout: dict[str, float] | None
    cv: dict[str, float]


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


def frame_digest(frame: pl.DataFrame) -> str:
    """Content hash of a frame (row order fixed): the same data gives the same study."""
    return hashlib.sha256(frame.sort("as_of_date", "ticker").write_csv().encode()).hexdigest()[:12]


def prepare(frame: pl.DataFrame, cutoff: date | None) -> tuple[pl.DataFrame, date]:
    """Labelled rows whose label is known by the cutoff, in time order."""
    labelled = frame.filter(pl.col("label").is_not_null() & pl.col("label_end").is_not_null())
    if labelled.is_empty():
        raise ValueError("the training set has no labelled rows: load prices and build gold.labels first")
    cutoff = cutoff or labelled["label_end"].max()  # type: ignore[assignment]
    rows = labelled.filter(pl.col("label_end") <= cutoff).sort("as_of_date", "ticker")
    if rows.is_empty():
        raise ValueError(f"no label is known by the cutoff {cutoff}")
    return rows, cutoff  # type: ignore[return-value]


def _xy(frame: pl.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return frame.select(pl.col(features).cast(pl.Float64)).to_numpy(), frame["label"].to_numpy()


def _scored(frame: pl.DataFrame, preds: np.ndarray) -> pl.DataFrame:
    return frame.select("ticker", "as_of_date", "label").with_columns(
        [pl.Series(name, preds[:, i]) for i, name in enumerate(PREDICTION_COLUMNS)]
    )


def _baseline(train_y: np.ndarray, n: int) -> np.ndarray:
    """The unconditional quantiles of the training labels: the forecast with no information."""
    return np.tile(np.quantile(train_y, QUANTILES), (n, 1))


class Trainer:
    """One training run: a parent MLflow run holding the study's trials, the model and the gate."""

    def __init__(
        self,
        data: TrainingData,
        config: TrainConfig,
        *,
        client: MlflowClient,
        experiment_id: str,
        optuna_storage: str,
        run_name: str,
        tags: Mapping[str, Any],
        model_name: str = MODEL_NAME,
        log_fn: Callable[[str], None] = log.info,
    ):
        self.data = data
        self.config = config
        self.client = client
        self.experiment_id = experiment_id
        self.optuna_storage = optuna_storage
        self.run_name = run_name
        self.tags = dict(tags)
        self.model_name = model_name
        self.log = log_fn
        self.features = list(data.features)
        self.best_value = math.nan
        self.best_cv: dict[str, float] = {}
        self.trials_ran: list[int] = []
        self.rows, self.cutoff = prepare(data.frame, config.cutoff)
        dates = self.rows["as_of_date"].to_list()
        distinct = sorted(set(dates))
        if len(distinct) <= config.holdout_months:
            raise ValueError(f"{len(distinct)} month ends cannot hold a {config.holdout_months}-month holdout")
        self.holdout_start: date = distinct[-config.holdout_months]
        dev_idx, holdout_idx, self.holdout_embargoed = embargoed_split(
            dates, self.rows["label_end"].to_list(), self.holdout_start
        )
        self.dev = self.rows[dev_idx]
        self.holdout = self.rows[holdout_idx]
        self.folds = walk_forward_splits(
            self.dev["as_of_date"].to_list(),
            self.dev["label_end"].to_list(),
            n_folds=config.n_folds,
            fold_periods=config.fold_months,
            min_train_periods=config.min_train_months,
        )

    # ---- tuning ----------------------------------------------------------------------------------
    def study_name(self) -> str:
        if self.config.study_name:
            return self.config.study_name
        protocol = {
            "search_space": model.SEARCH_SPACE_VERSION,
            "code": CODE_VERSION,
            "features": self.features,
            "cutoff": self.cutoff,
            "holdout_months": self.config.holdout_months,
            "n_folds": self.config.n_folds,
            "fold_months": self.config.fold_months,
            "min_train_months": self.config.min_train_months,
            "seed": self.config.seed,
        }
        return f"{self.model_name}.{self.data.feature_service}.{frame_digest(self.rows)}.{_digest(protocol)}"

    def _cv(self, params: Mapping[str, Any], trial: optuna.Trial | None = None) -> dict[str, float]:
        """Walk-forward CV of ``params``; reports each fold to the pruner; metrics of every fold."""
        fold_losses: list[float] = []
        scored = []
        for fold in self.folds:
            train, valid = self.dev[fold.train], self.dev[fold.validation]
            x, y = _xy(train, self.features)
            booster = model.fit(x, y, params, seed=self.config.seed)
            preds = model.predict(booster, _xy(valid, self.features)[0])
            result = metrics.evaluate(_scored(valid, preds))
            fold_losses.append(result["pinball_mean"])
            scored.append(_scored(valid, preds))
            mlflow.log_metrics(metrics.prefixed(result, "fold."), step=fold.index)
            mlflow.log_metrics({"fold.train_rows": len(train), "fold.embargoed_rows": fold.embargoed}, step=fold.index)
            if trial is not None:
                trial.report(float(np.mean(fold_losses)), step=fold.index)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {fold.index}")
        out = metrics.prefixed(metrics.evaluate(pl.concat(scored)), "cv.")
        out["cv.pinball_mean_of_folds"] = float(np.mean(fold_losses))
        return out

    def _objective(self, trial: optuna.Trial) -> float:
        self.trials_ran.append(trial.number)  # this process's trials (other workers may share the study)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        params = model.search_space(trial, min(len(fold.train) for fold in self.folds))
        started = time.monotonic()
        with mlflow.start_run(
            run_name=f"trial {trial.number}",
            nested=True,
            tags=safe_tags(
                {
                    **self.tags,
                    "optuna.study": trial.study.study_name,
                    "optuna.trial": trial.number,
                    "mlflow.runName": f"trial {trial.number}",
                    "mlflow.note.content": f"Optuna trial {trial.number} of {trial.study.study_name}: "
                    + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()),
                }
            ),
        ):
            mlflow.log_params(params)
            try:
                result = self._cv(params, trial)
            except optuna.TrialPruned:
                mlflow.set_tag("optuna.state", "PRUNED")
                mlflow.log_metric("duration_seconds", time.monotonic() - started)
                raise
            mlflow.set_tag("optuna.state", "COMPLETE")
            mlflow.log_metrics({**result, "duration_seconds": time.monotonic() - started})
        trial.set_user_attr(CV_METRICS_ATTR, result)  # the parent logs the best trial's under the same names
        return result["cv.pinball_mean_of_folds"]

    def tune(self) -> tuple[dict[str, Any], str | None, int, int]:
        """Best parameters, study name, trials this process ran now, finished trials in the study."""
        if self.config.fixed_params is not None:
            return dict(self.config.fixed_params), None, 0, 0
        name = self.study_name()
        self.trials_ran = []
        with warnings.catch_warnings():  # heartbeats (and constant_liar) are "experimental" in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # a trial left RUNNING by a killed process is failed after the grace period and retried once
            storage = optuna.storages.RDBStorage(
                self.optuna_storage,
                heartbeat_interval=60,
                grace_period=180,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
            # constant liar: a worker treats the trials other workers are running as bad, and samples elsewhere
            sampler = TrialSeededTPESampler(seed=self.config.seed, constant_liar=True)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction="minimize",
            sampler=sampler,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            load_if_exists=True,
        )
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        finished = sum(t.state in done for t in study.trials)
        remaining = max(0, self.config.n_trials - finished)
        self.log(f"study {name}: {finished} finished trials, running {remaining} more")
        if remaining:
            # the budget is the study's: stop when all workers together have finished n_trials (each worker
            # may finish the one trial it is running then, so a study of k workers can end k - 1 over)
            budget = optuna.study.MaxTrialsCallback(self.config.n_trials, states=done)
            study.optimize(
                self._objective, n_trials=remaining, timeout=self.config.timeout_seconds, catch=(), callbacks=[budget]
            )
        total = sum(t.state in done for t in study.trials)
        mine = set(self.trials_ran)
        ran = sum(t.state in done for t in study.trials if t.number in mine)
        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not completed:
            raise RuntimeError(f"study {name} has no completed trial (all pruned or failed)")
        self.best_value = float(study.best_value)
        self.best_cv = dict(study.best_trial.user_attrs.get(CV_METRICS_ATTR, {}))
        self._log_study(study)
        return dict(study.best_params), name, ran, total

    def _log_study(self, study: optuna.Study) -> None:
        """Optuna's optimisation history and parameter importances, as artifacts of the parent run."""
        values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
        mlflow.log_figure(
            plots.optimisation_history(values, f"{study.study_name}: objective by trial"),
            "optuna/optimisation_history.png",
        )
        try:
            importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError) as error:  # too few completed trials to tell
            self.log(f"no parameter importances: {error}")
            return
        mlflow.log_dict({k: float(v) for k, v in importances.items()}, "optuna/param_importances.json")
        mlflow.log_figure(
            plots.feature_importance(importances, "Optuna parameter importances (fANOVA)"),
            "optuna/param_importances.png",
        )

    # ---- evaluation ------------------------------------------------------------------------------
    def holdout_predictions(self, params: Mapping[str, Any], features: list[str] | None = None) -> pl.DataFrame:
        """Fit on the development set, predict the holdout (out of sample)."""
        features = features or self.features
        booster = model.fit(*_xy(self.dev, features), params, seed=self.config.seed)
        return _scored(self.holdout, model.predict(booster, _xy(self.holdout, features)[0]))

    def champion_holdout(self, current: Any) -> tuple[pl.DataFrame | None, str]:
        """The champion's holdout predictions, out of sample, and how they were obtained.

        Its own artifact when it was trained before the holdout starts (the deployed model itself);
        otherwise its recipe (parameters, features) refitted on the same development set, since its
        artifact has seen the holdout's labels and would win unfairly. None when the feature service no
        longer serves its features: it cannot predict any more, and the gate lets the challenger in.
        """
        run = self.client.get_run(current.run_id)
        cutoff_tag = run.data.tags.get("training.cutoff")
        features = json.loads(run.data.tags.get("model.features", "[]")) or None
        if cutoff_tag and date.fromisoformat(cutoff_tag) < self.holdout_start:
            booster = mlflow.xgboost.load_model(f"models:/{self.model_name}/{current.version}")
            names = booster.get_booster().feature_names or features
            if names and set(names) <= set(self.holdout.columns):
                preds = model.predict(booster, self.holdout.select(names).to_pandas())
                return _scored(self.holdout, preds), "artifact"
        params = mlflow.artifacts.load_dict(f"runs:/{current.run_id}/model_params.json")
        if features and not set(features) <= set(self.rows.columns):
            gone = sorted(set(features) - set(self.rows.columns))
            return None, f"unservable: the feature service no longer serves the champion's {gone}"
        return self.holdout_predictions(params, features), "refit"

    # ---- the run ---------------------------------------------------------------------------------
    def universe_tags(self) -> dict[str, Any]:
        """What the run learned from: universe size and the month-end range (searchable run tags)."""
        return {
            "universe.tickers": self.rows["ticker"].n_unique(),
            "data.first_as_of": str(self.rows["as_of_date"].min()),
            "data.last_as_of": str(self.rows["as_of_date"].max()),
            "data.rows": self.rows.height,
        }

    def description(self) -> str:
        """The run's description (MLflow shows it on the run page): what was trained, on what, how."""
        how = (
            f"fixed parameters {dict(self.config.fixed_params)}"
            if self.config.fixed_params is not None
            else f"Optuna, {self.config.n_trials} trials"
        )
        universe = self.universe_tags()
        return (
            f"{self.model_name} on feature service {self.data.feature_service} ({len(self.features)} features), "
            f"{universe['universe.tickers']} tickers, month ends {universe['data.first_as_of']} to "
            f"{universe['data.last_as_of']} ({self.rows.height} rows); {how}; walk-forward CV "
            f"{len(self.folds)} x {self.config.fold_months} months with a {HORIZON_TRADING_DAYS}-session embargo; "
            f"holdout from {self.holdout_start}."
        )

    def run(self) -> TrainResult:
        tags = safe_tags(
            {
                **self.tags,
                "model.name": self.model_name,
                "model.features": json.dumps(self.features),
                "feature_service": self.data.feature_service,
                "code_version": CODE_VERSION,
                "training.cutoff": self.cutoff.isoformat(),
                "holdout.start": self.holdout_start.isoformat(),
                **self.universe_tags(),
                "mlflow.note.content": self.description(),
                **{f"data.snapshot.{t}": s for t, s in sorted(self.data.snapshots.items())},
            }
        )
        with mlflow.start_run(run_name=self.run_name, experiment_id=self.experiment_id, tags=tags) as parent:
            run_id = parent.info.run_id
            mlflow.log_params(
                {
                    "cv.n_folds": len(self.folds),
                    "cv.fold_months": self.config.fold_months,
                    "cv.min_train_months": self.config.min_train_months,
                    "cv.embargo_trading_days": HORIZON_TRADING_DAYS,
                    "holdout.months": self.config.holdout_months,
                    "optuna.n_trials": self.config.n_trials,
                    "optuna.timeout_seconds": self.config.timeout_seconds,
                    "seed": self.config.seed,
                    "rows.total": self.rows.height,
                    "rows.development": self.dev.height,
                    "rows.holdout": self.holdout.height,
                    "rows.holdout_embargoed": self.holdout_embargoed,
                    "tickers": ",".join(sorted(self.rows["ticker"].unique().to_list())),
                }
            )
            self._log_datasets()
            started = time.monotonic()
            best, study_name, trials_run, trials_total = self.tune()
            if study_name:
                mlflow.set_tag("optuna.study", study_name)
            mlflow.log_metric("tuning_seconds", time.monotonic() - started)
            mlflow.log_params({f"best.{k}": v for k, v in best.items()})
            mlflow.log_dict(best, "model_params.json")  # the recipe a later challenger is compared with
            if self.config.fixed_params is not None:
                cv = self._cv(best)
                mlflow.log_metrics(cv)
            else:
                # the best trial's CV metrics under the trials' names: parent and trials compare in one table
                cv = self.best_cv or {"cv.pinball_mean_of_folds": self.best_value}
                mlflow.log_metrics(cv)

            holdout = self.holdout_predictions(best)
            holdout_metrics = metrics.evaluate(holdout)
            baseline = metrics.evaluate(
                _scored(self.holdout, _baseline(self.dev["label"].to_numpy(), self.holdout.height))
            )
            mlflow.log_metrics(metrics.prefixed(holdout_metrics, "holdout."))
            mlflow.log_metrics(metrics.prefixed(baseline, "holdout.baseline."))
            for row in metrics.monthly_rank_ic(holdout).iter_rows(named=True):
                if row["rank_ic"] is not None:
                    step = row["as_of_date"].year * 100 + row["as_of_date"].month
                    mlflow.log_metric("holdout.rank_ic_month", row["rank_ic"], step=step)
            mlflow.log_text(holdout.write_csv(), "holdout_predictions.csv")

            version = self._log_final_model(best, holdout)
            decision, champion_version, champion_metrics = self._gate(run_id, version, holdout_metrics)
        return TrainResult(
            run_id=run_id,
            experiment_id=self.experiment_id,
            model_version=version,
            decision=decision,
            champion_version=champion_version,
            study_name=study_name,
            trials_run=trials_run,
            trials_total=trials_total,
            best_params=best,
            cutoff=self.cutoff,
            holdout_start=self.holdout_start,
            holdout=holdout_metrics,
            baseline=baseline,
            champion_holdout=champion_metrics,
            cv=cv,
        )

    def _log_datasets(self) -> None:
        """The training rows as MLflow dataset inputs naming each Iceberg table and snapshot read."""
        training = self.rows.select("ticker", "as_of_date", "label", *self.features).to_pandas()
        for table, snapshot_id in sorted(self.data.snapshots.items()):
            with warnings.catch_warnings():  # a file:// metadata location matches two equivalent source types
                warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(
                    training,
                    source=self.data.metadata_locations[table],
                    name=f"{table}@{snapshot_id}",
                    digest=str(snapshot_id),
                    targets="label" if table in (self.data.training_set_table, LABELS_TABLE) else None,
                )
            mlflow.log_input(dataset, context=self._dataset_role(table))

    def _dataset_role(self, table: str) -> str:
        """training (the persisted set), labels, lineage (read only to name source filings), features."""
        if table == self.data.training_set_table:
            return "training"
        if table == LABELS_TABLE:
            return "labels"
        return "lineage" if table in STATEMENT_TABLES else "features"

    def _log_final_model(self, best: Mapping[str, Any], holdout: pl.DataFrame) -> str:
        x = self.rows.select(pl.col(self.features).cast(pl.Float64)).to_pandas()
        booster = model.fit(x, self.rows["label"].to_numpy(), best, seed=self.config.seed)
        # the most complete rows make the most telling example (missing values stay NaN: they are valid)
        example = x.iloc[np.argsort(x.isna().sum(axis=1).to_numpy(), kind="stable")[:5]]
        signature = infer_signature(x.head(50), model.predict(booster, x.head(50)))
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=self.model_name,
            model_format="ubj",
            # what loading the booster needs, stated (MLflow would otherwise export the whole uv lock)
            pip_requirements=[
                f"{pkg}=={package_version(pkg)}" for pkg in ("xgboost", "scikit-learn", "numpy", "pandas")
            ],
        )
        version = str(info.registered_model_version)
        importance = model.feature_importance(booster, self.features)
        mlflow.log_dict(importance, "feature_importance.json")
        mlflow.log_figure(
            plots.feature_importance(importance, f"{self.model_name} v{version}: feature importance (gain)"),
            "plots/feature_importance.png",
        )
        mlflow.log_figure(
            plots.predicted_vs_realized(holdout, f"holdout from {self.holdout_start} (out of sample)"),
            "plots/predicted_vs_realized.png",
        )
        for key, value in {
            "training.cutoff": self.cutoff.isoformat(),
            "feature_service": self.data.feature_service,
            "dagster.run_id": self.tags.get("dagster.run_id"),
            "data.snapshots": json.dumps(self.data.snapshots, sort_keys=True),
        }.items():
            if value is not None:
                self.client.set_model_version_tag(self.model_name, version, key, value)
        return version

    def _gate(
        self, run_id: str, version: str, challenger: dict[str, float]
    ) -> tuple[str, str, dict[str, float] | None]:
        """Move ``champion`` to ``version`` only if it beats the current champion on the holdout."""
        current = champion(self.client, self.model_name)
        score = challenger["pinball_mean"]
        if current is None:
            self.client.set_registered_model_alias(self.model_name, CHAMPION_ALIAS, version)
            mlflow.set_tags({"champion.decision": "first", "champion.previous_version": "none"})
            self.client.set_model_version_tag(self.model_name, version, "champion.decision", "first")
            return "first", version, None
        preds, how = self.champion_holdout(current)
        previous = str(current.version)  # an int from some stores, a str from others
        tags = {"champion.previous_version": previous, "champion.evaluation": how}
        if preds is None:
            # a champion whose features are no longer served cannot predict: keeping it blocks every
            # future prediction, so the challenger replaces it (recorded as such, without a comparison)
            decision, champion_metrics = "promoted", None
        else:
            champion_metrics = metrics.evaluate(preds)
            mlflow.log_metrics(metrics.prefixed(champion_metrics, "holdout.champion."))
            delta = score - champion_metrics["pinball_mean"]
            mlflow.log_metric("holdout.challenger_minus_champion.pinball_mean", delta)
            decision = "promoted" if delta < -self.config.min_improvement else "kept"
            # the comparison on the champion's run too: one metric step per challenger version
            step = int(version)
            self.client.log_metric(current.run_id, "challenger.holdout.pinball_mean", score, step=step)
            self.client.log_metric(
                current.run_id, "champion.holdout.pinball_mean", champion_metrics["pinball_mean"], step=step
            )
        mlflow.set_tags({**tags, "champion.decision": decision})
        self.client.set_tag(current.run_id, f"challenged_by.v{version}", f"{decision} (run {run_id}, {how})")
        self.client.set_model_version_tag(self.model_name, version, "champion.decision", decision)
        if decision == "promoted":
            self.client.set_registered_model_alias(self.model_name, CHAMPION_ALIAS, version)
            self.client.set_model_version_tag(self.model_name, previous, "champion.replaced_by", version)
            self.log(f"champion: v{previous} -> v{version} (holdout pinball {score:.5f})")
            return decision, version, champion_metrics
        self.log(f"champion stays v{previous}: challenger v{version} {decision} ({how})")
        return decision, previous, champion_metrics


def nan_to_none(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}
