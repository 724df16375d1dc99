"""Walk-forward cross-validation with an embargo of the label horizon, on trading days.

A row at date ``t`` carries the label ln(P[t+h]/P[t]) - ln(B[t+h]/B[t]): its label window is
``(t, t+h]`` in trading days, and the label is only known at ``t+h``. Validating on a period that starts
at ``v`` while training on a row whose window reaches ``v`` (``t+h >= v``) leaks the validation period's
returns into training (the two windows share days), so such rows are dropped from that fold's training
set: the embargo. Windows are counted in exchange sessions, never calendar days: 21 sessions span 28 to
32 calendar days depending on weekends and holidays, so a calendar-day rule is wrong around holidays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np

from finance_assets.ml.spec import HORIZON_TRADING_DAYS

EXCHANGE = "XNYS"


@cache
def sessions(start: date, end: date, exchange: str = EXCHANGE) -> tuple[date, ...]:
    """Exchange sessions in [start, end] (the calendar ships its holiday rules: works offline)."""
    import exchange_calendars as xcals

    calendar = xcals.get_calendar(
        exchange, start=(start - timedelta(days=10)).isoformat(), end=(end + timedelta(days=10)).isoformat()
    )
    return tuple(d.date() for d in calendar.sessions_in_range(start.isoformat(), end.isoformat()))


def month_end_sessions(start: date, end: date, exchange: str = EXCHANGE) -> list[date]:
    """The last session of every calendar month, for months whose last session is in [start, end]."""
    days = sessions(start, _month_end(end), exchange)  # to the month's end: its true last session
    last: dict[tuple[int, int], date] = {}
    for d in days:
        last[(d.year, d.month)] = d
    return [d for d in last.values() if start <= d <= end]


def _month_end(d: date) -> date:
    first_next = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def label_window_ends(
    dates: Sequence[date], calendar: Sequence[date], horizon: int = HORIZON_TRADING_DAYS
) -> list[date | None]:
    """``t -> t+h``: the h-th session strictly after t (None when the calendar ends before it)."""
    cal = np.asarray(calendar, dtype="datetime64[D]")
    at = np.searchsorted(cal, np.asarray(dates, dtype="datetime64[D]"), side="right") + horizon - 1
    return [cal[i].astype(object) if i < len(cal) else None for i in at]


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: train strictly before ``validation_start`` with the embargo applied."""

    index: int
    train: np.ndarray
    validation: np.ndarray
    validation_start: date
    validation_end: date
    embargoed: int  # rows before validation_start dropped because their label window reaches it


def embargoed_split(
    dates: Sequence[date],
    label_ends: Sequence[date | None],
    start: date,
    end: date | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Row indices to train on (label known before ``start``) and to evaluate on (``start <= t <= end``).

    A training row needs ``t < start`` AND ``label_end < start``: its whole label window (t, t+h] lies
    before the first evaluated date. A row without a known label end (past the data) never trains.
    Returns (train, evaluate, number of embargoed rows).
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    ends = np.asarray([e if e is not None else date.max for e in label_ends], dtype="datetime64[D]")
    s = np.datetime64(start, "D")
    before = d < s
    train = before & (ends < s)
    evaluate = d >= s
    if end is not None:
        evaluate &= d <= np.datetime64(end, "D")
    return np.flatnonzero(train), np.flatnonzero(evaluate), int((before & ~train).sum())


def walk_forward_splits(
    dates: Sequence[date],
    label_ends: Sequence[date | None],
    *,
    n_folds: int,
    fold_periods: int,
    min_train_periods: int = 1,
) -> list[Fold]:
    """Expanding-window folds over the last ``n_folds * fold_periods`` distinct dates, in time order.

    Each fold validates on ``fold_periods`` consecutive distinct dates (month ends here) and trains on
    every earlier row whose label is known before the fold starts. Folds whose training set spans fewer
    than ``min_train_periods`` distinct dates are dropped (a fold must learn from something).
    """
    if n_folds < 1 or fold_periods < 1:
        raise ValueError("n_folds and fold_periods must be >= 1")
    distinct = sorted(set(dates))
    needed = n_folds * fold_periods
    if len(distinct) <= needed:
        raise ValueError(
            f"{len(distinct)} distinct dates cannot hold {n_folds} folds of {fold_periods} dates plus training data"
        )
    blocks = [distinct[len(distinct) - needed + k * fold_periods :][:fold_periods] for k in range(n_folds)]
    d = np.asarray(dates, dtype="datetime64[D]")
    folds = []
    for k, block in enumerate(blocks):
        train, validation, embargoed = embargoed_split(dates, label_ends, block[0], block[-1])
        if len(np.unique(d[train])) < min_train_periods or not len(validation):
            continue
        folds.append(Fold(k, train, validation, block[0], block[-1], embargoed))
    if not folds:
        raise ValueError(f"no fold has {min_train_periods} training dates: use fewer/shorter folds or more history")
    return folds
