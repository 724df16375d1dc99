"""Replay of daily prices from every recorded folder under ``$REPLAY_DIR/prices/``, shaped as the OpenBB path.

Every folder is read; a file's layout is recognised by its header, not configured:

- ``yahoo_daily`` (e.g. ``yahoo_daily_2003_2023/<T>.csv``): clean R ``write.zoo`` output, header
  ``Index,<T>.Open,<T>.High,<T>.Low,<T>.Close,<T>.Volume,<T>.Adjusted``, ISO dates, numbers possibly in
  scientific notation (``2.45e+08``). It records no dividends or splits: those columns are null.
- ``yahoo_sp500`` (``yahoo_sp500_2015_2020/<T>.csv.gz``): clean, header
  ``Date,High,Low,Open,Close,Volume,Adj Close,Name`` (``Name`` must be the file's ticker); no events.
- ``adjusted_ohlcv`` (``stooq_daily_2005_2026/``, ``daily_2024_2026/``): ``Date,Open,High,Low,Close,Volume``
  already adjusted for splits and dividends; the unadjusted close was not recorded, so ``close`` and
  ``adj_close`` are both the adjusted close (``source_file`` says which rows these are). No events.
- ``yahoo_web_export`` (``yahoo_web_export_2015_2026/<T>.csv``, any other header): what the Yahoo website
  exports, messy and inconsistent between files: optional UTF-8 BOM, NBSP in header and event cells,
  ``Close*`` style headers, ``%m/%d/%Y`` dates (JPM's file was re-saved as ``%d-%b-%y``), newest first,
  thousands separators, CRLF or LF, a trailing ``,,,,,,`` row, and inline event rows with empty price
  cells (``0.24 Dividend``, ``4:1 Stock Splits``) that become the ``dividend``/``split_ratio`` of the bar
  on the same date. The export is not complete about events: null means "none recorded", not "none".

**Which file serves a ticker** (one file per ticker, never stitched: sources adjust differently, so a
stitched series would jump where they meet): the first folder of :data:`SOURCE_PRECEDENCE` that has a
file for it, then any other folder in name order. The order ranks by what a file records: unadjusted
*and* adjusted closes over the longest span first (``yahoo_daily_2003_2023``, 20 years), then the S&P 500
cross-section (both closes, 2015-2020), the web export (both closes and events, but messy), and last the
adjusted-only files. ``^GSPC`` is therefore ``yahoo_daily_2003_2023/GSPC.csv``. The chosen file is
recorded in every row (``source_file``, relative to REPLAY_DIR).

Parsing is strict: a file we cannot interpret raises :class:`PriceFileError` naming the file, the
1-based line and the problem; nothing is skipped or guessed except blank rows after the last bar.
Cells are split with :mod:`csv` (exact line numbers), the values are checked and converted vectorised
in polars. Each file is parsed once per process and reused until it changes on disk.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from finance_assets.market.source import (
    PriceFileError,
    UnknownSymbolError,
    check_request,
    conform_prices,
)

Layout = Literal["yahoo_daily", "yahoo_sp500", "adjusted_ohlcv", "yahoo_web_export"]
PRICES_DIR = "prices"
# Folder precedence (see the module docstring); folders not listed follow in name order.
SOURCE_PRECEDENCE: tuple[str, ...] = (
    "yahoo_daily_2003_2023",
    "yahoo_sp500_2015_2020",
    "yahoo_web_export_2015_2026",
    "stooq_daily_2005_2026",
    "daily_2024_2026",
)
_SUFFIXES = (".csv.gz", ".csv")
# Files named after an index without its caret: GSPC.csv holds ^GSPC.
_INDEX_STEMS = frozenset({"GSPC", "DJI", "IXIC", "NDX", "RUT", "VIX"})
_SP500_HEADER = ["Date", "High", "Low", "Open", "Close", "Volume", "Adj Close", "Name"]
_ADJUSTED_HEADER = ["Date", "Open", "High", "Low", "Close", "Volume"]

_BAR_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
_CLEAN_NUMBER = r"^\d+(\.\d+)?([eE][-+]?\d+)?$"  # R writes large round volumes as 2.45e+08
_WEB_NUMBER = r"^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"  # 6,856.54 / 72,366,500 / 272.81; no signs, no exponents
# Accepted web-export date formats: the regex guards the exact shape (4-digit %Y), polars checks validity.
_WEB_DATE_FORMATS: dict[str, re.Pattern[str]] = {
    "%m/%d/%Y": re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"),
    "%d-%b-%y": re.compile(r"^\d{1,2}-[A-Z][a-z]{2}-\d{2}$"),  # chrono: 00-69 -> 20xx, 70-99 -> 19xx
}
_WEB_HEADERS = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "volume": "volume",
}
_DIVIDEND = re.compile(r"^(\d+(?:\.\d+)?) Dividend$")
_SPLIT = re.compile(r"^(\d+):(\d+) Stock Splits$")


def symbol_to_stem(symbol: str) -> str:
    """File name stem for a Yahoo symbol: ``^GSPC`` -> ``GSPC``, ``BRK-B`` -> ``BRK-B``."""
    return symbol.removeprefix("^")


def stem_to_symbol(stem: str) -> str:
    return f"^{stem}" if stem in _INDEX_STEMS else stem


def _stem(path: Path) -> str | None:
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix):
            return path.name.removesuffix(suffix)
    return None


def price_folders(root: Path) -> list[Path]:
    """Every folder under ``root/prices``, in precedence order."""
    base = Path(root) / PRICES_DIR
    folders = {p.name: p for p in base.iterdir() if p.is_dir()} if base.is_dir() else {}
    ranked = [folders[name] for name in SOURCE_PRECEDENCE if name in folders]
    return ranked + [folders[name] for name in sorted(folders) if name not in SOURCE_PRECEDENCE]


class ReplayPriceSource:
    """:class:`~finance_assets.market.source.PriceSource` over every recorded price folder.

    ``root`` is the replay folder (``REPLAY_DIR``, laid out like ``../shared/replay``); ``provider`` is the
    configured live provider name, written to the ``provider`` column so asset code is mode-agnostic.
    """

    def __init__(self, root: Path, provider: str = "yfinance") -> None:
        self.root = Path(root)
        self.provider = provider
        folders = price_folders(self.root)
        if not folders:
            raise FileNotFoundError(
                f"{self.root / PRICES_DIR} has no folders: the replay root must be laid out like ../shared/replay "
                "(prices/<source>/<TICKER>.csv[.gz])."
            )
        self.files: dict[str, list[Path]] = {}  # symbol -> its files, in precedence order
        for folder in folders:
            for path in sorted(folder.iterdir()):
                stem = _stem(path)
                if stem is not None and path.is_file():
                    self.files.setdefault(stem_to_symbol(stem), []).append(path)

    def path_for(self, symbol: str) -> Path:
        """The file that serves ``symbol`` (see the precedence rule); UnknownSymbolError if none does."""
        found = self.files.get(symbol)
        if not found:
            raise UnknownSymbolError(symbol, self.root / PRICES_DIR / f"*/{symbol_to_stem(symbol)}.csv[.gz]")
        return found[0]

    def source_file(self, symbol: str) -> str:
        return self.path_for(symbol).relative_to(self.root).as_posix()

    def symbols(self) -> list[str]:
        """The symbols this replay can serve."""
        return sorted(self.files)

    def fetch(self, symbol: str, start: date, end: date) -> pl.DataFrame:
        check_request(symbol, start, end)
        path = self.path_for(symbol)
        bars = load_price_file(path)
        return conform_prices(
            bars, symbol=symbol, provider=self.provider, start=start, end=end, source_file=self.source_file(symbol)
        )


# ---- parsing -----------------------------------------------------------------------------------------

_CACHE: dict[Path, tuple[tuple[int, int], pl.DataFrame]] = {}
_CACHE_LOCK = threading.Lock()


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; a cut-off file raises EOFError
            raise PriceFileError(path, 1, f"not a readable gzip file ({exc})") from None
    return raw


def detect_layout(path: Path) -> Layout:
    """The layout of a price file, from its header (see the module docstring)."""
    first = next(_rows(path), None)
    if first is None:
        raise PriceFileError(path, 1, "empty file: no header")
    header = first[1]
    if header[:1] == ["Index"]:
        return "yahoo_daily"
    if header == _SP500_HEADER:
        return "yahoo_sp500"
    if header == _ADJUSTED_HEADER:
        return "adjusted_ohlcv"
    return "yahoo_web_export"


def load_price_file(path: Path) -> pl.DataFrame:
    """Parsed bars of one file (date + value columns, ascending), cached per (path, mtime, size)."""
    path = Path(path).resolve()
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    bars = PARSERS[detect_layout(path)](path)
    with _CACHE_LOCK:
        _CACHE[path] = (version, bars)
    return bars


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, cells) for every record; strict UTF-8, BOM dropped, CRLF or LF, gzip if ``.gz``."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PriceFileError(path, line, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise PriceFileError(path, line, f"malformed CSV: {exc}") from None


def _is_blank(cells: list[str]) -> bool:
    return all(not c.strip() for c in cells)


class _Problems:
    """Keeps the earliest problem a validation step finds, so the message names the first bad line it saw."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first: tuple[int, str] | None = None

    def add(self, line: int, problem: str) -> None:
        if self.first is None or line < self.first[0]:
            self.first = (line, problem)

    def raise_first(self) -> None:
        if self.first is not None:
            raise PriceFileError(self.path, *self.first)


def _check_values(table: pl.DataFrame, columns: dict[str, str], number: str, problems: _Problems) -> pl.DataFrame:
    """Validate string cells against ``number`` (regex) and convert them to Float64, vectorised."""
    for column, label in columns.items():
        bad = table.filter(~pl.col(column).str.contains(number)).head(1)
        if bad.height:
            problems.add(bad["line"][0], f"{label} {bad[column][0]!r} is not a number")
    problems.raise_first()
    return table.with_columns(
        pl.col(c).str.replace_all(",", "", literal=True).cast(pl.Float64, strict=True) for c in columns
    )


def _check_dates(table: pl.DataFrame, fmt: str, shape: re.Pattern[str] | str, problems: _Problems) -> pl.DataFrame:
    pattern = shape.pattern if isinstance(shape, re.Pattern) else shape
    table = table.with_columns(
        pl.when(pl.col("date_text").str.contains(pattern))
        .then(pl.col("date_text").str.to_date(fmt, strict=False))
        .alias("date")
    )
    bad = table.filter(pl.col("date").is_null()).head(1)
    if bad.height:
        problems.add(bad["line"][0], f"date {bad['date_text'][0]!r} is not a valid {fmt} date")
    repeats = (
        table.filter(pl.col("date").is_not_null())
        .with_columns(pl.col("line").min().over("date").alias("first_line"))
        .filter(pl.col("line") > pl.col("first_line"))
        .sort("line")
        .head(1)
    )
    if repeats.height:
        repeat = repeats.row(0, named=True)
        problems.add(repeat["line"], f"duplicate date {repeat['date']} (already on line {repeat['first_line']})")
    problems.raise_first()
    return table


def _bars_of_clean(table: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    if "adjusted" in names:
        table = table.with_columns(pl.col("adjusted").alias("close"), pl.col("adjusted").alias("adj_close"))
    return table.select(
        "date",
        *_BAR_COLUMNS,
        pl.lit(None, dtype=pl.Float64).alias("dividend"),
        pl.lit(None, dtype=pl.Float64).alias("split_ratio"),
    ).sort("date")


def _fast_clean(path: Path, expected: list[str], names: list[str]) -> pl.DataFrame | None:
    """The clean layouts read in one polars pass; None when anything is off (the strict path then names it).

    Why two paths: the line-exact validation below costs ~80 ms a file on a loaded 2-core machine, which
    is half a minute for the 482-file S&P 500 folder; almost every file is clean, and for those this pass
    checks the same rules (header, non-negative finite numbers, ISO dates, no repeated date, the Name
    column) in one query.
    """
    text = _read_bytes(path).decode("utf-8", errors="strict").removeprefix("\ufeff")
    numbers = [n for n in names if n not in ("date_text", "name")]
    try:
        table = pl.read_csv(
            io.StringIO(text),
            has_header=True,
            new_columns=names,
            schema_overrides={n: (pl.Float64 if n in numbers else pl.String) for n in names},
            raise_if_empty=True,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if next(csv.reader([first_line])) != expected or table.width != len(names):
        return None
    table = table.with_columns(
        pl.when(pl.col("date_text").str.len_chars() == 10)
        .then(pl.col("date_text").str.to_date("%Y-%m-%d", strict=False))
        .alias("date")
    )
    stem = _stem(path) or path.stem
    bad = table.select(
        pl.any_horizontal(
            pl.col("date").is_null().any(),
            pl.col("date").is_duplicated().any(),
            *((pl.col(n).is_null() | ~pl.col(n).is_finite() | (pl.col(n) < 0)).any() for n in numbers),
            *([(pl.col("name") != stem).any()] if "name" in names else []),
        )
    ).item()
    return None if bad else _bars_of_clean(table, names)


def _parse_clean(path: Path, expected: list[str], names: list[str]) -> pl.DataFrame:
    """A clean CSV whose header is exactly ``expected``; ``names`` are the cells' meanings (``date_text``,
    bar columns, ``name`` = the ticker the file must hold, ``adjusted`` = close and adj_close at once)."""
    try:
        fast = _fast_clean(path, expected, names)
    except UnicodeDecodeError:
        fast = None
    if fast is not None:
        return fast
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise PriceFileError(path, 1, "empty file: no header")
    if first[1] != expected:
        raise PriceFileError(path, 1, f"unexpected header {first[1]}; expected {expected}")

    lines: list[int] = []
    cells: list[list[str]] = []
    blank_line: int | None = None
    for line, row in rows:
        if _is_blank(row):
            blank_line = blank_line or line
            continue
        if blank_line is not None:
            raise PriceFileError(path, blank_line, "blank row between data rows")
        if len(row) != len(expected):
            raise PriceFileError(path, line, f"expected {len(expected)} cells, found {len(row)}: {row}")
        lines.append(line)
        cells.append(row)

    table = pl.DataFrame(
        {"line": lines, **{n: [r[i] for r in cells] for i, n in enumerate(names)}},
        schema={"line": pl.Int64, **dict.fromkeys(names, pl.String)},
    )
    problems = _Problems(path)
    if "name" in names:
        stem = _stem(path) or path.stem
        wrong = table.filter(pl.col("name") != stem).head(1)
        if wrong.height:
            problems.add(wrong["line"][0], f"Name {wrong['name'][0]!r} is not the file's ticker {stem!r}")
    numbers = [n for n in names if n not in ("date_text", "name")]
    labels = {n: expected[names.index(n)] for n in numbers}
    table = _check_values(table, labels, _CLEAN_NUMBER, problems)
    table = _check_dates(table, "%Y-%m-%d", r"^\d{4}-\d{2}-\d{2}$", problems)
    return _bars_of_clean(table, names)


def parse_yahoo_daily(path: Path) -> pl.DataFrame:
    """Clean ``Index,<T>.Open,...,<T>.Adjusted`` file -> bars; dividends and splits are not recorded."""
    path = Path(path)
    stem = _stem(path) or path.stem
    expected = ["Index", *(f"{stem}.{c}" for c in ("Open", "High", "Low", "Close", "Volume", "Adjusted"))]
    return _parse_clean(path, expected, ["date_text", "open", "high", "low", "close", "volume", "adj_close"])


def parse_yahoo_sp500(path: Path) -> pl.DataFrame:
    """Clean ``Date,High,Low,Open,Close,Volume,Adj Close,Name`` file -> bars; no events recorded."""
    names = ["date_text", "high", "low", "open", "close", "volume", "adj_close", "name"]
    return _parse_clean(Path(path), _SP500_HEADER, names)


def parse_adjusted_ohlcv(path: Path) -> pl.DataFrame:
    """``Date,Open,High,Low,Close,Volume`` already adjusted -> bars with close = adj_close = the adjusted close."""
    names = ["date_text", "open", "high", "low", "adjusted", "volume"]
    return _parse_clean(Path(path), _ADJUSTED_HEADER, names)


def _normalise_header(cell: str) -> str:
    """'\\ufeffAdj Close**\\xa0' -> 'adj close'."""
    text = " ".join(cell.replace("\ufeff", "").replace("\xa0", " ").split())
    return text.rstrip("*").strip().lower()


def _web_date_format(path: Path, line: int, text: str) -> str:
    for fmt, shape in _WEB_DATE_FORMATS.items():
        if shape.match(text):
            return fmt
    raise PriceFileError(
        path, line, f"date {text!r} matches none of the known export formats {list(_WEB_DATE_FORMATS)}"
    )


def _event(text: str) -> tuple[str, float] | str:
    """('dividend', amount) or ('split_ratio', new/old), else the reason the cell is not an event."""
    normal = " ".join(text.replace("\xa0", " ").split())
    if m := _DIVIDEND.match(normal):
        return "dividend", float(m.group(1))
    if m := _SPLIT.match(normal):
        new, old = int(m.group(1)), int(m.group(2))
        if new == 0 or old == 0:
            return f"split ratio {normal!r} has a zero term"
        return "split_ratio", new / old
    return f"unrecognised event row {text!r} (expected '<amount> Dividend' or '<new>:<old> Stock Splits')"


def parse_yahoo_web_export(path: Path) -> pl.DataFrame:
    """Yahoo website export -> bars with dividend/split events folded onto their dates, ascending."""
    path = Path(path)
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise PriceFileError(path, 1, "empty file: no header")
    header = [_normalise_header(c) for c in first[1]]
    unknown = [first[1][i] for i, h in enumerate(header) if h not in _WEB_HEADERS]
    if unknown:
        raise PriceFileError(path, 1, f"unknown header cell(s) {unknown}; expected {list(_WEB_HEADERS)}")
    fields = [_WEB_HEADERS[h] for h in header]
    if sorted(fields) != sorted(_WEB_HEADERS.values()):
        raise PriceFileError(path, 1, f"header {first[1]} must name each of {list(_WEB_HEADERS)} once")
    date_at = fields.index("date")
    value_at = [i for i in range(len(fields)) if i != date_at]

    fmt: str | None = None
    bars: list[tuple[int, list[str]]] = []
    events: dict[str, list[tuple[int, str, float]]] = {"dividend": [], "split_ratio": []}
    blank_line: int | None = None
    for line, row in rows:
        if _is_blank(row):
            blank_line = blank_line or line
            continue
        if blank_line is not None:
            raise PriceFileError(path, blank_line, "blank row between data rows")
        if len(row) != len(fields):
            raise PriceFileError(path, line, f"expected {len(fields)} cells, found {len(row)}: {row}")
        day = row[date_at]
        if not day:
            raise PriceFileError(path, line, f"row has no date: {row}")
        fmt = fmt or _web_date_format(path, line, day)
        filled = [i for i in value_at if row[i].strip()]
        if len(filled) == len(value_at):
            bars.append((line, row))
        elif len(filled) == 1 and filled[0] == value_at[0]:
            found = _event(row[filled[0]])
            if isinstance(found, str):
                raise PriceFileError(path, line, found)
            kind, amount = found
            events[kind].append((line, day, amount))
        else:
            empty = [fields[i] for i in value_at if i not in filled]
            raise PriceFileError(path, line, f"price row with empty cell(s) {empty}: {row}")
    if fmt is None:
        raise PriceFileError(path, 2, "no data rows")

    names = {fields[i]: i for i in value_at}
    table = pl.DataFrame(
        {
            "line": [line for line, _ in bars],
            "date_text": [row[date_at] for _, row in bars],
            **{name: [row[i] for _, row in bars] for name, i in names.items()},
        },
        schema={"line": pl.Int64, "date_text": pl.String, **dict.fromkeys(names, pl.String)},
    )
    problems = _Problems(path)
    labels = {name: f"{header[i]!r} value" for name, i in names.items()}
    table = _check_values(table, labels, _WEB_NUMBER, problems)
    shape = _WEB_DATE_FORMATS[fmt]
    table = _check_dates(table, fmt, shape, problems)

    bar_dates = table.select("date", "line")
    for kind, found in events.items():
        ev = pl.DataFrame(
            {
                "line": [e[0] for e in found],
                "date_text": [e[1] for e in found],
                kind: [e[2] for e in found],
            },
            schema={"line": pl.Int64, "date_text": pl.String, kind: pl.Float64},
        )
        ev = _check_dates(ev, fmt, shape, problems)  # also rejects two dividends (or splits) on one date
        orphans = ev.join(bar_dates, on="date", how="anti")
        if orphans.height:
            orphan = orphans.sort("line").row(0, named=True)
            problems.add(orphan["line"], f"{kind} event on {orphan['date']} has no price row for that date")
        problems.raise_first()
        table = table.join(ev.select("date", kind), on="date", how="left", validate="1:1")

    return table.select("date", *_BAR_COLUMNS, "dividend", "split_ratio").sort("date")


PARSERS = {
    "yahoo_daily": parse_yahoo_daily,
    "yahoo_sp500": parse_yahoo_sp500,
    "adjusted_ohlcv": parse_adjusted_ohlcv,
    "yahoo_web_export": parse_yahoo_web_export,
}
