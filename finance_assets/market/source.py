"""The daily-price contract (:class:`PriceSource`, :data:`PRICE_SCHEMA`) and its live OpenBB implementation.

What ``obb.equity.price.historical(provider="yfinance")`` returns (openbb-yfinance 2.0 on yfinance 1.7, read
from the installed fetcher ``openbb_yfinance.models.equity_historical`` and ``utils.helpers.yf_download``):

- an ``OBBject`` whose ``.results`` is a list of ``YFinanceEquityHistoricalData``: ``date`` (a ``date``
  for daily bars), ``open``, ``high``, ``low``, ``close``, ``volume`` (int), ``vwap`` (always None),
  plus ``dividend`` (yfinance "Dividends", split-adjusted amount) and ``split_ratio`` (yfinance
  "Stock Splits", e.g. 4.0 for 4:1) when ``include_actions=True`` (the default). Both are 0.0 on days
  without an event, and the provider drops the column altogether when the whole download has none.
- ``adjustment="splits_only"`` (default): OHLC as Yahoo serves them, i.e. split-adjusted as of the
  download day, and yfinance's "Adj Close" is dropped. ``adjustment="splits_and_dividends"``: yfinance
  ``auto_adjust`` multiplies OHLC by adjclose/close, so ``close`` *is* the adjusted close and the
  unadjusted one is gone. No single call yields both, so :class:`OpenBBPriceSource` makes one call of
  each and joins them on date.
- ``yf_download`` always downloads from ``start_date`` to today and filters ``date <= end_date`` only
  when ``end_date > start_date`` (a one-day query returns everything since that day): we re-filter.
- No rows raises ``EmptyDataError``, for an empty range and for an unknown symbol alike (Yahoo does not
  tell them apart); we return an empty frame for both. A *failed download* (DNS, HTTP, rate limit) also
  ends as ``EmptyDataError``: yfinance swallows it and only logs ``['AAPL']: DNSError(...)`` on its
  ``yfinance`` logger (checked offline here). We watch that logger during the call and raise instead.
- ``to_df()``/``to_polars()`` go through pandas and drop all-null columns; we read ``.results``.

Importing this module does not import ``openbb``: building the app takes seconds (and on a fresh
environment writes its static package into site-packages), so it happens once per process, on first use.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

logger = logging.getLogger(__name__)

PRICE_SCHEMA = pl.Schema(
    {
        "symbol": pl.String,  # as requested, e.g. "^GSPC", "BRK-B"
        "date": pl.Date,
        "open": pl.Float64,  # open/high/low/close: split-adjusted as of the source's download day
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "adj_close": pl.Float64,  # split- and dividend-adjusted close
        # Float64, not Int64: sources write volumes as 2.45e+08 (R) or adjust them for splits; exact
        # for every integer below 2**53.
        "volume": pl.Float64,
        "dividend": pl.Float64,  # split-adjusted cash amount on its ex-date; null = no event recorded
        "split_ratio": pl.Float64,  # new/old shares on the split date (4:1 -> 4.0); null = no split
        "provider": pl.String,  # the configured provider name, identical in live and replay mode
        # replay: the recorded file that served this ticker, relative to REPLAY_DIR
        # (e.g. prices/yahoo_sp500_2015_2020/A.csv.gz); live: null
        "source_file": pl.String,
    }
)
PRICE_COLUMNS: tuple[str, ...] = tuple(PRICE_SCHEMA.names())

# Yahoo symbols: indices (^GSPC), share classes (BRK-B), FX/futures (EURUSD=X, ES=F), listings (0700.HK).
_SYMBOL = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,19}$")


class PriceSourceError(Exception):
    """A price source could not deliver a trustworthy frame."""


class UnknownSymbolError(PriceSourceError, LookupError):
    """The source has no data file for the symbol (replay's equivalent of a 404)."""

    def __init__(self, symbol: str, path: Path | str) -> None:
        self.symbol = symbol
        self.path = Path(path)
        super().__init__(
            f"no recorded prices for symbol {symbol!r}: {self.path} does not exist. Replay only knows the "
            "symbols that have a file there; drop the symbol from UNIVERSE or record its prices."
        )


class PriceFileError(PriceSourceError, ValueError):
    """A recorded price file could not be interpreted; names the file, the 1-based line and the problem."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}, line {line}: {problem}")


@runtime_checkable
class PriceSource(Protocol):
    """Daily bars for one symbol, ``start`` and ``end`` inclusive, as a :data:`PRICE_SCHEMA` frame.

    A range with no bars yields an empty frame (with the schema), never an error.
    """

    def fetch(self, symbol: str, start: date, end: date) -> pl.DataFrame: ...


def empty_prices() -> pl.DataFrame:
    return pl.DataFrame(schema=PRICE_SCHEMA)


def check_request(symbol: str, start: date, end: date) -> None:
    """Reject malformed requests up front: a bad symbol must not become a file path or a multi-symbol call."""
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not a single upper-case Yahoo symbol (e.g. 'AAPL', 'BRK-B', '^GSPC').")
    if end < start:
        raise ValueError(f"end {end} is before start {start}: the range is inclusive on both ends.")


def conform_prices(
    bars: pl.DataFrame,
    *,
    symbol: str,
    provider: str,
    start: date | None = None,
    end: date | None = None,
    source_file: str | None = None,
) -> pl.DataFrame:
    """Cut ``bars`` (date + value columns) to ``[start, end]`` and shape it exactly as :data:`PRICE_SCHEMA`.

    Both sources end here, so live and replay frames cannot drift apart in column order or dtypes.
    """
    frame = bars
    if start is not None:
        frame = frame.filter(pl.col("date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("date") <= end)
    frame = frame.sort("date").with_columns(
        pl.lit(symbol, dtype=pl.String).alias("symbol"),
        pl.lit(provider, dtype=pl.String).alias("provider"),
        pl.lit(source_file, dtype=pl.String).alias("source_file"),
    )
    frame = frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in PRICE_SCHEMA.items())
    if frame.height and frame["date"].is_duplicated().any():
        dupes = frame.filter(pl.col("date").is_duplicated())["date"].unique().sort().to_list()
        raise PriceSourceError(f"{provider} returned several bars for {symbol} on {dupes[:5]}")
    return frame


# ---- OpenBB ------------------------------------------------------------------------------------------

_OBB: Any | None = None
_OBB_LOCK = threading.Lock()
_OBB_BUILD_SECONDS: float | None = None


def _build_obb() -> Any:
    from openbb import obb  # the expensive part: imports every installed extension and builds the app

    return obb


def get_obb() -> Any:
    """The process-wide OpenBB app, built on first use (thread-safe), never at import."""
    global _OBB, _OBB_BUILD_SECONDS
    if _OBB is None:
        with _OBB_LOCK:
            if _OBB is None:
                started = time.perf_counter()
                app = _build_obb()
                _OBB_BUILD_SECONDS = time.perf_counter() - started
                logger.info("built the OpenBB app in %.2f s", _OBB_BUILD_SECONDS)
                _OBB = app
    return _OBB


def obb_build_seconds() -> float | None:
    """How long building the OpenBB app took in this process (None until it is built): run metadata."""
    return _OBB_BUILD_SECONDS


# The (unadjusted-for-dividends, adjusted) ``adjustment`` values per provider whose output we have mapped.
# Other providers name and apply adjustments differently: refuse them rather than mislabel columns.
_ADJUSTMENTS: Mapping[str, tuple[str, str]] = {"yfinance": ("splits_only", "splits_and_dividends")}

# Loggers where providers report the download failures they swallow before raising EmptyDataError.
_PROVIDER_LOGGERS: Mapping[str, str] = {"yfinance": "yfinance"}
# An exception repr in such a log line (a hard failure), unless it is Yahoo's "no data for this ticker/range".
_FAILURE = re.compile(r"\b(\w+(?:Error|Exception))\(")
_NO_DATA_ERRORS = frozenset({"YFTickerMissingError", "YFTzMissingError", "YFPricesMissingError"})


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _logged_errors(logger_name: str | None) -> Iterator[list[str]]:
    """ERROR messages the provider's library logs while the block runs."""
    if logger_name is None:
        yield []
        return
    handler, logger = _Collect(), logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def download_failures(messages: Sequence[str], symbol: str) -> list[str]:
    """The logged lines about ``symbol`` that report a failed download rather than absent data."""
    failures = []
    for message in messages:
        if f"'{symbol.upper()}'" not in message:
            continue
        kinds = set(_FAILURE.findall(message))
        if kinds - _NO_DATA_ERRORS:
            failures.append(message.strip())
    return failures


_ALIASES = {"dividends": "dividend", "stock_splits": "split_ratio", "adj close": "adj_close"}


def _results_frame(data: Any) -> pl.DataFrame:
    """OBBject, list of Data models or dicts, pandas or polars frame -> polars frame, lower-case columns."""
    results = getattr(data, "results", data)
    if results is None:
        frame = pl.DataFrame()
    elif isinstance(results, pl.DataFrame):
        frame = results
    elif type(results).__module__.split(".")[0] == "pandas":
        if "date" not in results.columns and results.index.name == "date":
            results = results.reset_index()  # OBBject.to_df() puts the date in the index
        frame = pl.from_pandas(results)
    elif isinstance(results, Sequence) and not isinstance(results, str | bytes):
        rows = [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in results]
        frame = pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()
    else:
        raise TypeError(f"cannot read OpenBB results of type {type(results).__name__}")

    renames: dict[str, str] = {}
    for column in frame.columns:
        name = column.strip().lower()
        name = _ALIASES.get(name, name).replace(" ", "_")
        if name in renames.values():
            raise ValueError(f"OpenBB results have two columns that both mean {name!r}: {frame.columns}")
        renames[column] = name
    return frame.rename(renames)


def _bars(frame: pl.DataFrame) -> pl.DataFrame:
    """Date + value columns of :data:`PRICE_SCHEMA`; absent optional columns become null."""
    if frame.width == 0:  # no results at all
        return empty_prices().drop("symbol", "provider", "source_file")
    missing = [c for c in ("date", "open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise ValueError(f"OpenBB results lack {missing}; columns present: {frame.columns}")

    dtype = frame.schema["date"]
    if dtype == pl.String:
        day = pl.col("date").str.to_date("%Y-%m-%d", strict=True)
    elif isinstance(dtype, pl.Datetime):
        if frame.filter(pl.col("date").dt.time() != pl.time(0)).height:
            raise ValueError("OpenBB results are intraday bars (timestamps with a time of day), not daily")
        day = pl.col("date").dt.date()
    else:
        day = pl.col("date").cast(pl.Date, strict=True)

    def value(name: str) -> pl.Expr:
        expr = pl.col(name) if name in frame.columns else pl.lit(None)
        return expr.cast(pl.Float64, strict=True)

    def event(name: str) -> pl.Expr:
        # yfinance writes 0.0 on days without a dividend/split; the schema says null (= no event).
        expr = value(name)
        return pl.when(expr != 0).then(expr).otherwise(None).alias(name)

    return frame.select(
        day.alias("date"),
        *(value(c).alias(c) for c in ("open", "high", "low", "close", "adj_close", "volume")),
        event("dividend"),
        event("split_ratio"),
    )


def openbb_frame_to_prices(
    df_or_results: Any,
    symbol: str,
    provider: str,
    *,
    adjusted: Any | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """Map OpenBB ``equity.price.historical`` output to :data:`PRICE_SCHEMA`.

    ``df_or_results`` is the unadjusted-for-dividends call (OBBject, ``.results``, ``to_df()`` or
    ``to_polars()`` output). ``adjusted`` is the ``splits_and_dividends`` call, whose ``close`` becomes
    ``adj_close``; without it an ``adj_close`` column must already be present (other providers).
    Kept free of ``obb`` so it can be tested offline on frames shaped like the fetcher's output.
    """
    bars = _bars(_results_frame(df_or_results))
    if start is not None:
        bars = bars.filter(pl.col("date") >= start)
    if end is not None:
        bars = bars.filter(pl.col("date") <= end)

    if adjusted is not None:
        adj = _bars(_results_frame(adjusted)).select("date", pl.col("close").alias("adj_close"))
        if start is not None:
            adj = adj.filter(pl.col("date") >= start)
        if end is not None:
            adj = adj.filter(pl.col("date") <= end)
        only_raw = sorted(set(bars["date"].to_list()) - set(adj["date"].to_list()))
        only_adj = sorted(set(adj["date"].to_list()) - set(bars["date"].to_list()))
        if only_raw or only_adj or adj["date"].is_duplicated().any():
            raise PriceSourceError(
                f"{provider} returned different days for {symbol} with and without dividend adjustment "
                f"(only unadjusted: {only_raw[:5]}, only adjusted: {only_adj[:5]}); the data changed "
                "between the two calls, retry."
            )
        bars = bars.drop("adj_close").join(adj, on="date", how="left", validate="m:1")
    elif bars["adj_close"].null_count() == bars.height and bars.height:
        raise ValueError(
            "no adjusted close: pass the adjustment='splits_and_dividends' results as `adjusted`, "
            "or results that carry an adj_close column."
        )
    return conform_prices(bars, symbol=symbol, provider=provider)


class OpenBBPriceSource:
    """Live daily bars through the OpenBB Platform (``obb.equity.price.historical``).

    Two provider calls per fetch (split-adjusted, then split+dividend-adjusted), joined on date: the
    only way to get both ``close`` and ``adj_close`` from the yfinance provider.
    """

    def __init__(self, provider: str = "yfinance") -> None:
        if provider not in _ADJUSTMENTS:
            raise ValueError(
                f"price provider {provider!r} is not mapped to PRICE_SCHEMA (known: {sorted(_ADJUSTMENTS)}); "
                "its adjustment options and fields differ, so add and test its mapping first."
            )
        self.provider = provider

    def _historical(self, symbol: str, start: date, end: date, adjustment: str) -> Any:
        """One provider call; a swallowed download failure is raised, true absence of data is not."""
        from openbb_core.provider.utils.errors import EmptyDataError

        with _logged_errors(_PROVIDER_LOGGERS.get(self.provider)) as logged:
            try:
                return get_obb().equity.price.historical(
                    symbol=symbol,
                    start_date=start,
                    end_date=end,
                    provider=self.provider,
                    adjustment=adjustment,
                    interval="1d",
                    include_actions=True,
                )
            except EmptyDataError as exc:
                if failures := download_failures(logged, symbol):
                    raise PriceSourceError(
                        f"{self.provider} download of {symbol} ({start} to {end}) failed, so 'no data' "
                        f"cannot be trusted: {'; '.join(failures)[:500]}"
                    ) from exc
                raise

    def fetch(self, symbol: str, start: date, end: date) -> pl.DataFrame:
        check_request(symbol, start, end)
        get_obb()  # build outside the try: a broken install must not look like "no data"
        from openbb_core.provider.utils.errors import EmptyDataError

        split_only, split_and_dividend = _ADJUSTMENTS[self.provider]
        try:
            raw = self._historical(symbol, start, end, split_only)
        except EmptyDataError:
            return empty_prices()
        try:
            adjusted = self._historical(symbol, start, end, split_and_dividend)
        except EmptyDataError as exc:
            raise PriceSourceError(
                f"{self.provider} returned bars for {symbol} without dividend adjustment but none with it; retry."
            ) from exc
        return openbb_frame_to_prices(raw, symbol, self.provider, adjusted=adjusted, start=start, end=end)
