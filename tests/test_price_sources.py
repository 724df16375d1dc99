"""Price sources: replay parsing checked against the raw files, and the OpenBB mapping checked offline.

Expectations are read from the recorded CSVs with plain string / csv-module operations, never from the
code under test.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finance_assets.market import source
from finance_assets.market.replay import ReplayPriceSource
from finance_assets.market.source import (
    PRICE_SCHEMA,
    OpenBBPriceSource,
    PriceFileError,
    PriceSource,
    PriceSourceError,
    UnknownSymbolError,
    openbb_frame_to_prices,
)

PROJECT = Path(__file__).resolve().parents[1]
REPLAY = Path(os.environ.get("REPLAY_DIR") or PROJECT.parent / "shared" / "replay").resolve()
CLEAN_DIR = REPLAY / "prices" / "yahoo_daily_2003_2023"
WEB_DIR = REPLAY / "prices" / "yahoo_web_export_2015_2026"
CLEAN_LAST_DAY = date(2023, 10, 27)  # the clean set was downloaded ~2023-10-30

if not CLEAN_DIR.is_dir() or not WEB_DIR.is_dir():  # pragma: no cover - a broken checkout, not a skip
    raise RuntimeError(f"replay prices not found under {REPLAY}: set REPLAY_DIR to ../shared/replay")


def symbol_for(stem: str) -> str:
    return "^GSPC" if stem == "GSPC" else stem


# ---- raw readers (independent of the code under test) ---------------------------------------------


def raw_clean(stem: str) -> dict[date, list[float]]:
    """{date: [open, high, low, close, volume, adjusted]} from the clean CSV by string splitting."""
    out = {}
    for line in (CLEAN_DIR / f"{stem}.csv").read_text().splitlines()[1:]:
        cells = line.split(",")
        out[date.fromisoformat(cells[0].strip('"'))] = [float(c) for c in cells[1:]]
    return out


def raw_web(stem: str) -> tuple[dict[date, list[float]], list[tuple[date, str]]]:
    """Price rows {date: [open, high, low, close, adj close, volume]} and event rows [(date, text)]."""
    text = (WEB_DIR / f"{stem}.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))[1:]
    fmt = "%d-%b-%y" if "-" in rows[0][0] else "%m/%d/%Y"
    prices: dict[date, list[float]] = {}
    events: list[tuple[date, str]] = []
    for row in rows:
        if not "".join(row).strip():
            continue  # AMZN's trailing ",,,,,," row
        day = datetime.strptime(row[0], fmt).date()
        if row[2] == "":
            events.append((day, " ".join(row[1].replace("\xa0", " ").split())))
        else:
            prices[day] = [float(c.replace(",", "")) for c in row[1:]]
    return prices, events


def only(root: Path, *folders: str) -> Path:
    """A replay root holding only the given recorded price folders (symlinked), to test one layout alone."""
    for folder in folders:
        (root / "prices").mkdir(parents=True, exist_ok=True)
        (root / "prices" / folder).symlink_to(REPLAY / "prices" / folder)
    return root


@pytest.fixture(scope="module")
def clean() -> ReplayPriceSource:
    """The whole recording: the clean Yahoo set is first in the precedence, so it serves its 21 tickers."""
    return ReplayPriceSource(REPLAY, provider="yfinance")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> ReplayPriceSource:
    root = only(tmp_path_factory.mktemp("web"), "yahoo_web_export_2015_2026")
    return ReplayPriceSource(root, provider="yfinance")


# ---- clean set ----------------------------------------------------------------------------------------


def test_replay_is_a_price_source(clean: ReplayPriceSource) -> None:
    assert isinstance(clean, PriceSource)
    assert isinstance(OpenBBPriceSource(), PriceSource)


def test_clean_aapl_row_equals_csv_line(clean: ReplayPriceSource) -> None:
    line = next(ln for ln in (CLEAN_DIR / "AAPL.csv").read_text().splitlines() if ln.startswith('"2023-10-27",'))
    o, h, low, c, v, adj = (float(x) for x in line.split(",")[1:])
    frame = clean.fetch("AAPL", date(2023, 10, 27), date(2023, 10, 27))
    assert frame.schema == PRICE_SCHEMA
    assert frame.to_dicts() == [
        {
            "symbol": "AAPL",
            "date": date(2023, 10, 27),
            "open": o,
            "high": h,
            "low": low,
            "close": c,
            "adj_close": adj,
            "volume": v,
            "dividend": None,
            "split_ratio": None,
            "provider": "yfinance",
            "source_file": "prices/yahoo_daily_2003_2023/AAPL.csv",
        }
    ]


@pytest.mark.parametrize(("symbol", "file_name"), [("^GSPC", "GSPC.csv"), ("BRK-B", "BRK-B.csv")])
def test_symbol_maps_to_file(clean: ReplayPriceSource, symbol: str, file_name: str) -> None:
    assert clean.path_for(symbol) == CLEAN_DIR / file_name
    assert symbol in clean.symbols()
    raw = raw_clean(file_name.removesuffix(".csv"))[date(2020, 3, 16)]
    frame = clean.fetch(symbol, date(2020, 3, 16), date(2020, 3, 16))
    assert frame["symbol"].to_list() == [symbol]
    assert frame.select("open", "high", "low", "close", "volume", "adj_close").row(0) == tuple(raw)


def test_every_clean_file_matches_its_raw_rows(clean: ReplayPriceSource) -> None:
    for path in sorted(CLEAN_DIR.glob("*.csv")):
        raw = raw_clean(path.stem)
        frame = clean.fetch(symbol_for(path.stem), date(1990, 1, 1), date(2030, 1, 1))
        assert frame["date"].to_list() == sorted(raw), path.name
        assert frame["close"].to_list() == [raw[d][3] for d in sorted(raw)], path.name
        assert frame["adj_close"].to_list() == [raw[d][5] for d in sorted(raw)], path.name
        assert frame["volume"].to_list() == [raw[d][4] for d in sorted(raw)], path.name  # incl. 2.45e+08


@pytest.mark.parametrize("folder", ["yahoo_daily_2003_2023", "yahoo_web_export_2015_2026", "stooq_daily_2005_2026"])
def test_range_outside_coverage_is_empty(folder: str, tmp_path: Path) -> None:
    frame = ReplayPriceSource(only(tmp_path, folder)).fetch("MSFT", date(1990, 1, 1), date(1990, 12, 31))
    assert frame.height == 0
    assert frame.schema == PRICE_SCHEMA


def test_unknown_symbol(clean: ReplayPriceSource) -> None:
    with pytest.raises(UnknownSymbolError) as info:
        clean.fetch("ZZZZ", date(2020, 1, 1), date(2020, 1, 31))
    assert info.value.symbol == "ZZZZ"
    assert info.value.path == REPLAY / "prices" / "*/ZZZZ.csv[.gz]"  # no folder has it
    assert "'ZZZZ'" in str(info.value) and str(REPLAY / "prices" / "*/ZZZZ.csv[.gz]") in str(info.value)


def test_bad_requests_are_rejected(clean: ReplayPriceSource) -> None:
    with pytest.raises(ValueError, match="before start"):
        clean.fetch("AAPL", date(2020, 2, 1), date(2020, 1, 1))
    for bad in ("../AAPL", "AAPL,MSFT", "aapl", ""):
        with pytest.raises(ValueError, match="symbol"):
            clean.fetch(bad, date(2020, 1, 1), date(2020, 1, 2))


# ---- every recorded folder, one file per ticker -------------------------------------------------------


def test_every_recorded_folder_is_read_and_each_ticker_served_by_the_first_folder_of_the_precedence(
    clean: ReplayPriceSource,
) -> None:
    stems: dict[str, list[str]] = {}
    for folder in sorted((REPLAY / "prices").iterdir()):
        for path in folder.iterdir():
            stems.setdefault(path.name.split(".csv")[0], []).append(folder.name)
    assert len(clean.symbols()) == len(stems)  # every folder's tickers, each once
    assert clean.source_file("^GSPC") == "prices/yahoo_daily_2003_2023/GSPC.csv"
    assert clean.source_file("A") == "prices/yahoo_sp500_2015_2020/A.csv.gz"  # only in the S&P 500 set
    assert clean.source_file("BA") == "prices/yahoo_sp500_2015_2020/BA.csv.gz"  # S&P 500 set before the web export
    assert clean.source_file("KO") == "prices/yahoo_daily_2003_2023/KO.csv"  # clean Yahoo set before Stooq


def test_sp500_row_equals_its_csv_line(clean: ReplayPriceSource) -> None:
    # prices/yahoo_sp500_2015_2020/A.csv.gz, line 2:
    # 2015-01-12,40.720001220703125,39.95000076293945,40.61000061035156,40.11000061035156,2770800.0,38.22322082519531,A
    frame = clean.fetch("A", date(2015, 1, 12), date(2015, 1, 12))
    assert frame.select("open", "high", "low", "close", "volume", "adj_close", "source_file").row(0) == (
        40.61000061035156,
        40.720001220703125,
        39.95000076293945,
        40.11000061035156,
        2770800.0,
        38.22322082519531,
        "prices/yahoo_sp500_2015_2020/A.csv.gz",
    )
    assert clean.fetch("A", date(2000, 1, 1), date(2030, 1, 1)).height == 1259  # the file's 1,259 rows


def test_a_recorded_sp500_file_with_a_repeated_date_is_rejected_naming_file_and_line(
    clean: ReplayPriceSource,
) -> None:
    # CBS.csv.gz repeats 2019-12-04 as an all-zero bar on line 1236 (the CBS/Viacom merger day)
    with pytest.raises(PriceFileError) as info:
        clean.fetch("CBS", date(2015, 1, 1), date(2020, 1, 31))
    assert info.value.line == 1236 and "duplicate date 2019-12-04 (already on line 1235)" in info.value.problem
    assert str(info.value.path).endswith("yahoo_sp500_2015_2020/CBS.csv.gz")


def test_an_adjusted_only_file_serves_its_adjusted_close_as_both_closes(tmp_path: Path) -> None:
    # prices/stooq_daily_2005_2026/KO.csv, first data line: the values are already adjusted
    first = (REPLAY / "prices/stooq_daily_2005_2026/KO.csv").read_text().splitlines()[1].split(",")
    source = ReplayPriceSource(only(tmp_path, "stooq_daily_2005_2026"))
    row = source.fetch("KO", date.fromisoformat(first[0]), date.fromisoformat(first[0])).row(0, named=True)
    assert (row["open"], row["high"], row["low"]) == tuple(map(float, first[1:4]))
    assert row["close"] == row["adj_close"] == float(first[4]) and row["volume"] == float(first[5])
    assert row["source_file"] == "prices/stooq_daily_2005_2026/KO.csv"


def test_a_cut_off_gzip_file_is_rejected_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "prices" / "yahoo_sp500_2015_2020"
    folder.mkdir(parents=True)
    data = (REPLAY / "prices/yahoo_sp500_2015_2020/A.csv.gz").read_bytes()
    (folder / "A.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(PriceFileError, match=r"A\.csv\.gz, line 1: not a readable gzip file"):
        ReplayPriceSource(tmp_path).fetch("A", date(2015, 1, 1), date(2020, 1, 31))


# ---- messy web export ---------------------------------------------------------------------------------


def test_every_web_export_file_parses_completely(web: ReplayPriceSource) -> None:
    for path in sorted(WEB_DIR.glob("*.csv")):
        prices, events = raw_web(path.stem)
        frame = web.fetch(symbol_for(path.stem), date(1990, 1, 1), date(2030, 1, 1))
        assert frame.schema == PRICE_SCHEMA
        assert frame["date"].to_list() == sorted(prices), path.name  # ascending, nothing dropped
        assert frame["close"].to_list() == [prices[d][3] for d in sorted(prices)], path.name
        assert frame["adj_close"].to_list() == [prices[d][4] for d in sorted(prices)], path.name
        assert frame["volume"].to_list() == [prices[d][5] for d in sorted(prices)], path.name
        n_div = sum("Dividend" in text for _, text in events)
        assert frame["dividend"].is_not_null().sum() == n_div, path.name
        assert frame["split_ratio"].is_not_null().sum() == len(events) - n_div, path.name


# NVIDIA's 10-for-1 split (effective 2024-06-10, public record) is already applied to the export's
# prices, but the export has no "Stock Splits" row for it; every other post-2023-10-27 split is read
# from the export's own event rows below.
UNRECORDED_SPLITS: dict[str, list[tuple[date, float]]] = {"NVDA": [(date(2024, 6, 10), 10.0)]}


def _split_factor_after(stem: str, day: date) -> float:
    _, events = raw_web(stem)
    recorded = []
    for when, text in events:
        if when > day and text.endswith("Stock Splits"):
            new, old = text.split()[0].split(":")
            recorded.append(int(new) / int(old))
    for when, _ratio in UNRECORDED_SPLITS.get(stem, []):
        assert (when, "10:1 Stock Splits") not in events, "the export records it now: drop it from the table"
    return math.prod(recorded) * math.prod(r for when, r in UNRECORDED_SPLITS.get(stem, []) if when > day)


def _close_enough(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 or abs(a - b) <= 1e-6 * abs(b)


def test_web_export_closes_equal_clean_closes(web: ReplayPriceSource) -> None:
    """Both folders are Yahoo closes, split-adjusted at different times (~2023-10-30 vs 2026).

    The clean close divided by the splits that happened after 2023-10-27 must equal the web close
    (which Yahoo rounds to 2 decimals, hence the 0.01 tolerance).
    """
    both = sorted({p.stem for p in CLEAN_DIR.glob("*.csv")} & {p.stem for p in WEB_DIR.glob("*.csv")})
    assert {"AAPL", "MSFT", "NVDA", "TSLA", "GSPC", "WMT"} <= set(both)
    for stem in both:
        expected = raw_clean(stem)
        factor = _split_factor_after(stem, CLEAN_LAST_DAY)
        frame = web.fetch(symbol_for(stem), date(2015, 1, 1), CLEAN_LAST_DAY)
        overlap = {d: c for d, c in zip(frame["date"], frame["close"], strict=True)}
        assert set(overlap) == {d for d in expected if d >= date(2015, 1, 1)}, stem  # same trading days
        bad = [(d, expected[d][3], c) for d, c in overlap.items() if not _close_enough(expected[d][3] / factor, c)]
        assert not bad, f"{stem} (split factor {factor}): {bad[:3]}"
        if stem in ("NVDA", "WMT"):
            assert factor > 1  # guard: these really needed the correction
            assert not all(_close_enough(expected[d][3], c) for d, c in overlap.items())


def test_dividend_and_split_rows_land_in_their_columns(web: ReplayPriceSource) -> None:
    text = (WEB_DIR / "META.csv").read_text(encoding="utf-8-sig")
    event = next(ln for ln in text.splitlines() if ln.startswith("2/21/2024,") and "Dividend" in ln)
    amount = float(event.split(",")[1].replace("\xa0", " ").split()[0])
    assert amount == 0.5  # META's first-ever dividend
    price_line = next(ln for ln in text.splitlines() if ln.startswith("2/21/2024,") and "Dividend" not in ln)
    frame = web.fetch("META", date(2024, 2, 16), date(2024, 2, 23))
    on_day = frame.filter(pl.col("date") == date(2024, 2, 21))
    assert on_day["dividend"].to_list() == [amount]
    assert on_day["close"].to_list() == [float(price_line.split(",")[4])]
    assert frame.filter(pl.col("date") != date(2024, 2, 21))["dividend"].null_count() == frame.height - 1
    assert frame["split_ratio"].null_count() == frame.height

    tsla = web.fetch("TSLA", date(2022, 8, 24), date(2022, 8, 26))
    assert tsla["split_ratio"].to_list() == [None, 3.0, None]  # "8/25/2022,3:1 Stock Splits"
    pfe = web.fetch("PFE", date(2020, 11, 17), date(2020, 11, 17))
    assert pfe["split_ratio"].to_list() == [1054 / 1000]  # the Viatris spin-off, "1054:1000 Stock Splits"


# ---- corrupted copies ---------------------------------------------------------------------------------


def _line_index(lines: list[str], prefix: str) -> int:
    return next(i for i, ln in enumerate(lines) if ln.startswith(prefix))


def _set_cell(line: str, cell: int, value: str) -> str:
    cells = next(csv.reader([line.rstrip("\r\n")]))
    cells[cell] = value
    out = ",".join(f'"{c}"' if "," in c else c for c in cells)
    return out + "\n"


CORRUPTIONS = {
    # name: (file, edit(lines) -> 1-based line number of the problem, expected message fragment)
    "bad date": ("MSFT", lambda ls: _edit(ls, 10, lambda ln: _set_cell(ln, 0, "13/45/2020")), "not a valid"),
    "other date format": (
        "MSFT",
        lambda ls: _edit(ls, 11, lambda ln: _set_cell(ln, 0, "2026-01-15")),
        "date",
    ),
    "garbage number": (
        "MSFT",
        lambda ls: _edit(ls, 20, lambda ln: _set_cell(ln, 4, "41O.5")),
        "not a number",
    ),
    "bad thousands": (
        "GSPC",
        lambda ls: _edit(ls, 30, lambda ln: _set_cell(ln, 6, "1,23,456")),
        "not a number",
    ),
    "extra cell": ("MSFT", lambda ls: _edit(ls, 40, lambda ln: ln.rstrip("\r\n") + ",42\n"), "found 8"),
    "missing cell": ("MSFT", lambda ls: _edit(ls, 41, lambda ln: _drop_last_cell(ln)), "found 6"),
    "empty price cell": ("MSFT", lambda ls: _edit(ls, 42, lambda ln: _set_cell(ln, 3, "")), "empty cell"),
    "unknown event": ("META", lambda ls: _edit_event(ls, "Dividend", "Bonus"), "unrecognised event"),
    "unknown header": (
        "MSFT",
        lambda ls: _edit(ls, 1, lambda ln: ln.replace("Volume", "Turnover")),
        "header",
    ),
    "duplicate date": ("MSFT", lambda ls: _duplicate(ls, 5), "duplicate date"),
    "blank row inside": ("MSFT", lambda ls: _insert(ls, 50, ",,,,,,\n"), "blank row"),
    "orphan event": ("META", lambda ls: _orphan_event(ls), "no price row"),
}


def _edit(lines: list[str], line_no: int, change: Any) -> int:
    lines[line_no - 1] = change(lines[line_no - 1])
    return line_no


def _drop_last_cell(line: str) -> str:
    cells = next(csv.reader([line.rstrip("\r\n")]))
    return ",".join(f'"{c}"' if "," in c else c for c in cells[:-1]) + "\n"


def _edit_event(lines: list[str], old: str, new: str) -> int:
    i = next(i for i, ln in enumerate(lines) if old in ln)
    lines[i] = lines[i].replace(old, new)
    return i + 1


def _duplicate(lines: list[str], line_no: int) -> int:
    lines.insert(line_no, lines[line_no - 1])
    return line_no + 1


def _insert(lines: list[str], line_no: int, text: str) -> int:
    lines.insert(line_no - 1, text)
    return line_no


def _orphan_event(lines: list[str]) -> int:
    """Delete META's 2/21/2024 price row: its dividend row then belongs to no bar."""
    price = next(i for i, ln in enumerate(lines) if ln.startswith("2/21/2024,") and "Dividend" not in ln)
    del lines[price]
    return _line_index(lines, "2/21/2024,") + 1


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_export_is_rejected_with_file_and_line(tmp_path: Path, case: str) -> None:
    stem, corrupt, fragment = CORRUPTIONS[case]
    folder = tmp_path / "prices" / "yahoo_web_export_2015_2026"
    folder.mkdir(parents=True)
    lines = (WEB_DIR / f"{stem}.csv").read_bytes().decode("utf-8").splitlines(keepends=True)
    bad_line = corrupt(lines)
    target = folder / f"{stem}.csv"
    target.write_text("".join(lines), encoding="utf-8", newline="")

    with pytest.raises(PriceFileError) as info:
        ReplayPriceSource(tmp_path).fetch(symbol_for(stem), date(2015, 1, 1), date(2026, 3, 1))
    err = info.value
    assert (err.path.resolve(), err.line) == (target.resolve(), bad_line), str(err)
    assert str(target) in str(err) and f"line {bad_line}:" in str(err)
    assert fragment in err.problem


def test_corrupted_clean_file_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "prices" / "yahoo_daily_2003_2023"
    folder.mkdir(parents=True)
    lines = (CLEAN_DIR / "KO.csv").read_text().splitlines(keepends=True)
    lines[99] = lines[99].replace(lines[99].split(",")[4], "NA", 1)  # line 100, the Close cell
    (folder / "KO.csv").write_text("".join(lines))
    with pytest.raises(PriceFileError) as info:
        ReplayPriceSource(tmp_path).fetch("KO", date(2003, 1, 1), date(2004, 1, 1))
    assert info.value.line == 100 and "KO.Close 'NA' is not a number" in str(info.value)


# ---- OpenBB ------------------------------------------------------------------------------------------


def _yfinance_frames(stem: str, start: date, end: date) -> dict[str, Any]:
    """What ``yf_download`` hands the fetcher, for both adjustments, built from raw export rows.

    splits_only: lower-case OHLCV with "Adj Close" dropped, plus dividends/stock_splits (0.0 on quiet
    days). splits_and_dividends: yfinance auto_adjust, i.e. OHLC scaled by adjclose/close.
    """
    import pandas as pd

    prices, events = raw_web(stem)
    days = [d for d in sorted(prices) if start <= d <= end]
    dividends = {d: float(t.split()[0]) for d, t in events if t.endswith("Dividend")}
    base = {
        "date": [d.strftime("%Y-%m-%d") for d in days],
        "volume": [int(prices[d][5]) for d in days],
        "dividends": [dividends.get(d, 0.0) for d in days],
        "stock_splits": [0.0 for _ in days],
    }
    raw = pd.DataFrame(
        {**base, **{k: [prices[d][i] for d in days] for i, k in enumerate(("open", "high", "low", "close"))}}
    )
    ratio = [prices[d][4] / prices[d][3] for d in days]
    adjusted = pd.DataFrame(
        {
            **base,
            **{
                k: [prices[d][i] * r for d, r in zip(days, ratio, strict=True)]
                for i, k in enumerate(("open", "high", "low"))
            },
        }
        | {"close": [prices[d][4] for d in days]}
    )
    return {"splits_only": raw, "splits_and_dividends": adjusted}


def _fetcher_results(symbol: str, frame: Any, start: date, end: date, adjustment: str) -> Any:
    """Run the provider's own transform so field names, aliases and types are exactly OpenBB's."""
    from openbb_core.app.model.obbject import OBBject
    from openbb_yfinance.models.equity_historical import (
        YFinanceEquityHistoricalFetcher,
        YFinanceEquityHistoricalQueryParams,
    )

    query = YFinanceEquityHistoricalQueryParams(symbol=symbol, start_date=start, end_date=end, adjustment=adjustment)
    results = YFinanceEquityHistoricalFetcher.transform_data(query, frame)
    return OBBject(results=results, provider="yfinance")


def test_fetcher_data_model_has_the_fields_we_map() -> None:
    from openbb_yfinance.models.equity_historical import YFinanceEquityHistoricalData

    fields = set(YFinanceEquityHistoricalData.model_fields)
    assert {"date", "open", "high", "low", "close", "volume", "dividend", "split_ratio"} <= fields
    assert YFinanceEquityHistoricalData.__alias_dict__ == {
        "split_ratio": "stock_splits",
        "dividend": "dividends",
    }


def test_openbb_mapping_equals_replay_frame(web: ReplayPriceSource) -> None:
    start, end = date(2024, 2, 14), date(2024, 2, 23)
    frames = _yfinance_frames("META", start, end)
    raw = _fetcher_results("META", frames["splits_only"], start, end, "splits_only")
    adjusted = _fetcher_results("META", frames["splits_and_dividends"], start, end, "splits_and_dividends")
    assert raw.results[0].split_ratio == 0.0  # yfinance's "no event", which the schema turns into null

    # the live path records no file: source_file is null there, the replayed file's path here
    expected = web.fetch("META", start, end).with_columns(pl.lit(None, pl.String).alias("source_file"))
    assert expected.height == 7 and expected["dividend"].drop_nulls().to_list() == [0.5]
    # Every shape OpenBB offers: the OBBject, its .results, to_df() (date index), to_polars().
    for shape in (lambda o: o, lambda o: o.results, lambda o: o.to_df(), lambda o: o.to_polars()):
        mapped = openbb_frame_to_prices(shape(raw), "META", "yfinance", adjusted=shape(adjusted))
        assert_frame_equal(mapped, expected)


def test_openbb_mapping_without_action_columns() -> None:
    """yf_download drops dividends/stock_splits when the range has none: they become null, not errors."""
    start, end = date(2024, 2, 14), date(2024, 2, 16)
    frames = {k: v.drop(columns=["dividends", "stock_splits"]) for k, v in _yfinance_frames("META", start, end).items()}
    raw = _fetcher_results("META", frames["splits_only"], start, end, "splits_only")
    adjusted = _fetcher_results("META", frames["splits_and_dividends"], start, end, "splits_and_dividends")
    mapped = openbb_frame_to_prices(raw.to_polars(), "META", "yfinance", adjusted=adjusted.to_polars())
    assert mapped.schema == PRICE_SCHEMA and mapped.height == 3
    assert mapped["dividend"].null_count() == mapped["split_ratio"].null_count() == 3
    with pytest.raises(ValueError, match="adjusted close"):
        openbb_frame_to_prices(raw, "META", "yfinance")


class _FakeObb:
    """Stands in for ``obb``: serves fetcher-transformed frames with ``yf_download``'s date filtering."""

    def __init__(self, frames: dict[str, Any], empty: bool = False, log: str | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.frames, self.empty, self.log = frames, empty, log
        self.equity = SimpleNamespace(price=SimpleNamespace(historical=self.historical))

    def historical(self, **kwargs: Any) -> Any:
        from openbb_core.provider.utils.errors import EmptyDataError

        self.calls.append(kwargs)
        if self.log:  # what yfinance.download logs when it swallows a per-ticker failure
            logging.getLogger("yfinance").error(self.log)
        if self.empty:
            raise EmptyDataError()
        frame = self.frames[kwargs["adjustment"]]
        start, end = kwargs["start_date"], kwargs["end_date"]
        keep = frame["date"] >= start.isoformat()
        if end > start:  # yf_download only applies end_date when it is after start_date
            keep &= frame["date"] <= end.isoformat()
        return _fetcher_results(kwargs["symbol"], frame[keep], start, end, kwargs["adjustment"])


def test_openbb_source_fetch_with_fake_obb(monkeypatch: pytest.MonkeyPatch, web: ReplayPriceSource) -> None:
    fake = _FakeObb(_yfinance_frames("META", date(2024, 2, 14), date(2024, 2, 23)))
    monkeypatch.setattr(source, "_OBB", fake)
    day = date(2024, 2, 21)
    frame = OpenBBPriceSource("yfinance").fetch("META", day, day)  # one-day query: yf_download returns more
    assert_frame_equal(frame, web.fetch("META", day, day).with_columns(pl.lit(None, pl.String).alias("source_file")))
    assert [c["adjustment"] for c in fake.calls] == ["splits_only", "splits_and_dividends"]
    assert all(c["provider"] == "yfinance" and c["symbol"] == "META" for c in fake.calls)

    monkeypatch.setattr(source, "_OBB", _FakeObb({}, empty=True))
    empty = OpenBBPriceSource().fetch("META", date(1990, 1, 1), date(1990, 1, 31))
    assert empty.height == 0 and empty.schema == PRICE_SCHEMA

    with pytest.raises(ValueError, match="not mapped"):
        OpenBBPriceSource("fmp")


@pytest.mark.parametrize(
    ("logged", "fails"),
    [
        # Real line (shortened), captured offline from obb.equity.price.historical(provider="yfinance"):
        (
            "['META']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com')",
            True,
        ),
        ("['META']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')", True),
        ("['META']: possibly delisted; no price data found  (1d 1990-01-01 -> 1990-01-31)", False),
        ("['META']: YFTzMissingError('$META: possibly delisted; no timezone found')", False),
        ("['MSFT']: DNSError('another ticker in another thread')", False),
    ],
)
def test_swallowed_download_failure_is_not_reported_as_no_data(
    monkeypatch: pytest.MonkeyPatch, logged: str, fails: bool
) -> None:
    monkeypatch.setattr(source, "_OBB", _FakeObb({}, empty=True, log=logged))
    if fails:
        with pytest.raises(PriceSourceError, match="cannot be trusted"):
            OpenBBPriceSource().fetch("META", date(1990, 1, 1), date(1990, 1, 31))
    else:
        assert OpenBBPriceSource().fetch("META", date(1990, 1, 1), date(1990, 1, 31)).height == 0


def test_obb_is_built_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []

    def slow_build() -> object:
        builds.append(1)
        time.sleep(0.05)
        return object()

    monkeypatch.setattr(source, "_OBB", None)
    monkeypatch.setattr(source, "_OBB_BUILD_SECONDS", None)
    monkeypatch.setattr(source, "_build_obb", slow_build)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(source.get_obb())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({id(g) for g in got}) == 1
    assert source.obb_build_seconds() is not None


def test_importing_the_sources_does_not_import_openbb() -> None:
    code = (
        "import sys\n"
        "import finance_assets.market.source, finance_assets.market.replay\n"
        "names = ('openbb', 'openbb_core', 'openbb_yfinance')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.skipif(not os.environ.get("PRICES_LIVE_TEST"), reason="live Yahoo call: set PRICES_LIVE_TEST=1")
def test_live_openbb_fetch_matches_schema() -> None:  # pragma: no cover - needs the internet
    frame = OpenBBPriceSource().fetch("AAPL", date(2024, 8, 1), date(2024, 8, 31))
    assert frame.schema == PRICE_SCHEMA and frame.height > 15
    assert frame.filter(pl.col("date") == date(2024, 8, 12))["dividend"].to_list() == [0.25]
