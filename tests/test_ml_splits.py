"""Walk-forward splits with an embargo of the label horizon, on NYSE sessions (no lakehouse needed)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from finance_assets.ml.splits import (
    embargoed_split,
    label_window_ends,
    month_end_sessions,
    sessions,
    walk_forward_splits,
)

CALENDAR = sessions(date(2017, 1, 1), date(2024, 12, 31))
TICKERS = ("AAPL", "MSFT", "NVDA")


def _rows(dates: list[date]) -> tuple[list[date], list[date | None]]:
    """Every ticker on every date, with its label window end (21 sessions later)."""
    all_dates = [d for d in dates for _ in TICKERS]
    return all_dates, label_window_ends(all_dates, CALENDAR)


def test_label_window_counts_sessions_not_calendar_days() -> None:
    # 2023-11-22: Thanksgiving (11-23) and Christmas (12-25) fall inside the next 21 sessions
    (end,) = label_window_ends([date(2023, 11, 22)], CALENDAR, horizon=21)
    assert end == date(2023, 12, 22)
    window = [d for d in CALENDAR if date(2023, 11, 22) < d <= end]
    assert len(window) == 21 and date(2023, 11, 23) not in window
    naive_weekdays = [date(2023, 11, 22) + timedelta(days=i) for i in range(1, 40)]
    naive_end = [d for d in naive_weekdays if d.weekday() < 5][20]
    assert naive_end < end  # a weekday count would end the window too early (one holiday inside)
    # a non-session date (Saturday) starts its window on the next session
    (weekend_end,) = label_window_ends([date(2023, 11, 25)], CALENDAR, horizon=1)
    assert weekend_end == date(2023, 11, 27)
    # past the calendar: unknown, never a training row
    assert label_window_ends([CALENDAR[-3]], CALENDAR, horizon=21) == [None]


def test_month_end_sessions_are_the_last_nyse_session() -> None:
    ends = month_end_sessions(date(2023, 1, 1), date(2024, 4, 30))
    assert date(2023, 3, 31) in ends  # a Friday
    assert date(2023, 4, 28) in ends  # April 30 is a Sunday
    assert date(2024, 3, 28) in ends  # Good Friday 2024-03-29: exchange closed
    assert date(2023, 12, 29) in ends
    assert len(ends) == 16 and all(e in CALENDAR for e in ends)
    # a month whose last session is after `end` is not a month end yet
    assert month_end_sessions(date(2024, 4, 1), date(2024, 4, 29)) == []


@pytest.mark.parametrize(("n_folds", "fold_periods"), [(2, 1), (4, 3), (3, 6)])
def test_no_training_label_window_reaches_its_validation_window(n_folds: int, fold_periods: int) -> None:
    dates, ends = _rows(month_end_sessions(date(2018, 1, 1), date(2023, 12, 31)))
    folds = walk_forward_splits(dates, ends, n_folds=n_folds, fold_periods=fold_periods, min_train_periods=6)
    assert len(folds) == n_folds
    d = np.asarray(dates, dtype="datetime64[D]")
    e = np.asarray([x or date.max for x in ends], dtype="datetime64[D]")
    previous_end = None
    for fold in folds:
        start = np.datetime64(fold.validation_start)
        # (t, t+21] of every training row ends strictly before the first validation date
        assert e[fold.train].max() < start
        assert d[fold.train].max() < start
        # the embargo drops exactly the earlier rows whose window reaches the validation start
        dropped = np.setdiff1d(np.flatnonzero(d < start), fold.train)
        assert len(dropped) == fold.embargoed
        assert (e[dropped] >= start).all()
        # validation blocks are consecutive and never overlap
        assert d[fold.validation].min() == start and d[fold.validation].max() == np.datetime64(fold.validation_end)
        assert len(np.unique(d[fold.validation])) == fold_periods
        if previous_end is not None:
            assert fold.validation_start > previous_end
        previous_end = fold.validation_end


def test_month_end_embargo_is_decided_in_sessions() -> None:
    """The previous month end's label usually ends on or after the next month end: it must go."""
    dates, ends = _rows(month_end_sessions(date(2022, 1, 1), date(2023, 12, 31)))
    for start in (date(2023, 3, 31), date(2023, 6, 30), date(2023, 12, 29)):
        train, _, embargoed = embargoed_split(dates, ends, start)
        kept = {dates[i] for i in train}
        previous = max(d for d in dates if d < start)
        (prev_end,) = label_window_ends([previous], CALENDAR)
        assert (previous in kept) == (prev_end < start)  # type: ignore[operator]
        assert embargoed == (len(TICKERS) if prev_end >= start else 0)  # type: ignore[operator]
    # 2023-02-28 + 21 sessions = 2023-03-29 (no holiday in March): kept for a 2023-03-31 start
    assert label_window_ends([date(2023, 2, 28)], CALENDAR) == [date(2023, 3, 29)]
    # 2023-05-31 + 21 sessions = 2023-06-30 (Juneteenth inside): reaches a 2023-06-30 start, dropped
    assert label_window_ends([date(2023, 5, 31)], CALENDAR) == [date(2023, 6, 30)]


def test_daily_rows_lose_exactly_the_horizon_before_validation() -> None:
    days = [d for d in CALENDAR if date(2022, 1, 1) <= d <= date(2023, 12, 31)]
    dates, ends = _rows(days)
    start = date(2023, 7, 3)
    train, valid, embargoed = embargoed_split(dates, ends, start, date(2023, 7, 31))
    assert embargoed == 21 * len(TICKERS)  # the 21 sessions before the start, for every ticker
    last_train = max(dates[i] for i in train)
    assert label_window_ends([last_train], CALENDAR) < [start]  # type: ignore[operator]
    assert len(valid) == len([d for d in days if start <= d <= date(2023, 7, 31)]) * len(TICKERS)


def test_unknown_label_end_never_trains_and_too_short_history_is_an_error() -> None:
    dates = [date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)]
    train, _, embargoed = embargoed_split(dates, [date(2023, 3, 1), None, None], date(2023, 3, 31))
    assert list(train) == [0] and embargoed == 1
    with pytest.raises(ValueError, match="cannot hold"):
        walk_forward_splits(dates, [None] * 3, n_folds=2, fold_periods=2)
