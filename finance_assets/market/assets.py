"""Daily prices for the universe and the market benchmark, through OpenBB (or its replay)."""

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from functools import cache

import dagster as dg
import polars as pl

from finance_assets.core import checks
from finance_assets.core.checks import Metadata, readable
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR
from finance_assets.core.names import MARKET_BENCHMARK, PRICES_DAILY
from finance_assets.core.partitions import prices_partitions
from finance_assets.edgar.universe import UniverseResource
from finance_assets.market.columns import PRICES_DOCS, PRICES_TABLE_SCHEMA
from finance_assets.market.resources import MarketDataResource
from finance_assets.market.source import PriceFileError, PriceSourceError, UnknownSymbolError, empty_prices

PRICES_KEY = PRICES_DAILY
MARKET_DATA_POOL = "market_data"
SPLIT_JUMP = math.log(1.2)  # an adjusted/close ratio moving more than 20% in a day is a split, not a dividend


def price_symbols(universe: Sequence[str]) -> list[str]:
    return [*universe, MARKET_BENCHMARK]


@cache
def _sessions(start: date, end: date) -> list[date]:
    import exchange_calendars as xcals

    # the calendar must extend past both ends, or sessions_in_range rejects a bound that is not a session
    calendar = xcals.get_calendar(
        "XNYS", start=(start - timedelta(days=10)).isoformat(), end=(end + timedelta(days=10)).isoformat()
    )
    return [d.date() for d in calendar.sessions_in_range(start.isoformat(), end.isoformat())]


def calendar_gaps(frame: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """NYSE sessions inside each ticker's covered span that have no bar."""
    if frame.is_empty():
        return pl.DataFrame(schema={"ticker": pl.String, "date": pl.Date})
    sessions = pl.DataFrame({"date": _sessions(start, end)}, schema={"date": pl.Date})
    spans = frame.group_by("ticker").agg(pl.col("date").min().alias("first"), pl.col("date").max().alias("last"))
    expected = spans.join(sessions, how="cross").filter(pl.col("date").is_between(pl.col("first"), pl.col("last")))
    return expected.select("ticker", "date").join(frame.select("ticker", "date"), on=["ticker", "date"], how="anti")


def split_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Days where adj_close/close jumps like a split, with the provider's split ratio if it reported one."""
    ratio = (
        frame.sort("ticker", "date")
        .with_columns((pl.col("adj_close") / pl.col("close")).log().alias("log_ratio"))
        .with_columns((pl.col("log_ratio") - pl.col("log_ratio").shift(1).over("ticker")).alias("jump"))
    )
    return ratio.filter((pl.col("jump").abs() > SPLIT_JUMP) | (pl.col("split_ratio").fill_null(1.0) != 1.0)).select(
        "ticker", "date", "jump", "split_ratio"
    )


_OHLC_BROKEN = (pl.col("low") > pl.min_horizontal("open", "close") + 1e-9) | (
    pl.col("high") < pl.max_horizontal("open", "close") - 1e-9
)


def _ohlc_consistent() -> checks.FrameCheck:
    """WARN, naming the tickers: a source's odd bar is that ticker's data gap, kept as recorded, not a run failure.

    The recorded S&P 500 set has three such bars (CBOE and DIS on 2020-01-10, DXC on 2018-06-01: high below
    open); failing the whole run for them would stop 485 other tickers' prices.
    """

    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        bad = frame.filter(_OHLC_BROKEN)
        tickers = sorted(bad.get_column("ticker").unique().to_list()) if bad.height else []
        return bad.is_empty(), {
            "violations": bad.height,
            "tickers_ohlc_inconsistent": ", ".join(tickers) or "none",
            "sample": str(bad.select("ticker", "date", "open", "high", "low", "close").head(5).to_dicts()),
        }

    return checks.FrameCheck(
        "ohlc_consistent",
        "low <= open, close <= high on every bar (WARN: names the tickers whose recorded bars break it).",
        evaluate,
        severity=dg.AssetCheckSeverity.WARN,
    )


def _unexplained_splits() -> checks.FrameCheck:
    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        events = split_events(frame)
        unexplained = events.filter((pl.col("jump").abs() > SPLIT_JUMP) & pl.col("split_ratio").is_null())
        return unexplained.is_empty(), {
            "split_events": events.height,
            "unexplained_jumps": unexplained.height,
            "sample": str(events.head(10).to_dicts()),
        }

    return checks.FrameCheck(
        "split_events_explained",
        "Every jump of adj_close/close (a split) matches a split the provider reported.",
        evaluate,
        severity=dg.AssetCheckSeverity.WARN,
    )


def ticker_status(symbol: str, exc: Exception) -> tuple[str, str]:
    """(status, reason) of a ticker whose prices did not load: not_found, malformed or source_error."""
    if isinstance(exc, UnknownSymbolError):
        return "not_found", str(exc)
    if isinstance(exc, PriceFileError):
        return "malformed", str(exc)
    return "source_error", f"{type(exc).__name__}: {exc}"


def _every_ticker_loaded(failed: dict[str, tuple[str, str]]) -> checks.FrameCheck:
    """WARN, naming each ticker whose prices did not load and why: one ticker's gap never stops the others."""

    def evaluate(frame: pl.DataFrame) -> tuple[bool, Metadata]:
        by_status: dict[str, list[str]] = {}
        for symbol, (status, _) in sorted(failed.items()):
            by_status.setdefault(status, []).append(symbol)
        return not failed, {
            "failed_tickers": len(failed),
            **{f"tickers_{status}": ", ".join(symbols) for status, symbols in by_status.items()},
            "reasons": dg.MetadataValue.md(
                "\n".join(f"- **{s}** ({st}): {reason}" for s, (st, reason) in sorted(failed.items())[:50]) or "none"
            ),
        }

    return checks.FrameCheck(
        "every_ticker_loaded",
        "Every ticker's prices loaded; names each one that did not (not_found / malformed / source_error) and why.",
        evaluate,
        severity=dg.AssetCheckSeverity.WARN,
    )


PRICE_CHECKS = (
    checks.unique_key("ticker", "date"),
    _ohlc_consistent(),
    checks.no_rows_where(
        "volume_non_negative",
        "volume >= 0.",
        pl.col("volume") < 0,
        show=["ticker", "date", "volume"],
    ),
    _unexplained_splits(),
    _every_ticker_loaded({}),
)


@dg.asset(
    key=PRICES_KEY,
    group_name="bronze",
    partitions_def=prices_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="iceberg_io_manager",
    kinds={"iceberg", "python", "openbb"},
    pool=MARKET_DATA_POOL,
    metadata={
        PARTITION_EXPR: "date",
        PARTITION_BY: ["year(date)"],
        COLUMN_SCHEMA: described_schema(PRICES_TABLE_SCHEMA, PRICES_DOCS, table="bronze.prices_daily"),
    },
    check_specs=checks.specs(PRICES_KEY, PRICE_CHECKS),
    description=(
        "Daily OHLCV, adjusted close, dividends and splits for every UNIVERSE member and ^GSPC via OpenBB "
        "(equity.price.historical); in replay, from the recorded file chosen per ticker (source_file). Monthly "
        "partitions; a multi-month backfill is one run and one fetch per ticker. A ticker whose prices fail "
        "fails alone: the others land, the check every_ticker_loaded names it."
    ),
)
def prices_daily(
    context: dg.AssetExecutionContext, market_data: MarketDataResource, universe: UniverseResource
) -> Iterator:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date() - timedelta(days=1)  # end-exclusive window
    if end < start:
        first, last = context.partition_key_range.start, context.partition_key_range.end
        raise dg.Failure(
            f"Partition range {first}...{last} ends before it starts: give the earlier month first ({last}...{first})."
        )
    source = market_data.source()
    symbols = price_symbols(universe.price_tickers())
    frames, rows_per_ticker, failed = [], {}, {}
    for symbol in symbols:
        try:
            bars = source.fetch(symbol, start, end)
        except (PriceSourceError, ValueError, OSError) as exc:  # one ticker's problem: the others still land
            failed[symbol] = ticker_status(symbol, exc)
            if failed[symbol][0] != "not_found":
                context.log.warning(f"prices of {symbol} not loaded ({failed[symbol][0]}): {exc}")
            bars = empty_prices()
        rows_per_ticker[symbol] = bars.height
        frames.append(bars)
    if len(failed) == len(symbols):
        raise dg.Failure(
            f"no ticker's prices loaded between {start} and {end} ({len(symbols)} tried); first: "
            f"{next(iter(failed.items()))}. Nothing was written.",
        )
    frame = pl.concat(frames).rename({"symbol": "ticker"}).sort("ticker", "date")
    if frame.is_empty():
        context.log.warning(f"no bars between {start} and {end} for any ticker (holiday, weekend or uncovered range)")
    gaps = calendar_gaps(frame, start, end)
    splits = split_events(frame)
    not_found = sorted(s for s, (status, _) in failed.items() if status == "not_found")
    files = dict(frame.select("ticker", "source_file").unique().drop_nulls().iter_rows()) if frame.height else {}
    yield dg.Output(
        frame,
        metadata=readable(  # dicts and lists as JSON, not as their Python repr
            {
                "date_range": f"{start}..{end}",
                "tickers": len(symbols),
                "tickers_with_rows": sum(1 for n in rows_per_ticker.values() if n),
                "tickers_failed": ", ".join(f"{s} ({st})" for s, (st, _) in sorted(failed.items()) if st != "not_found")
                or "none",
                "tickers_unknown_to_source": ", ".join(not_found) or "none",
                "tickers_per_source_folder": dict(sorted(Counter(f.rsplit("/", 1)[0] for f in files.values()).items())),
                "calendar_gaps": gaps.height,
                "calendar_gap_sample": json.loads(gaps.head(10).write_json()),
                "split_events": json.loads(splits.head(20).write_json()),
                "provider": market_data.provider,
                "replay": market_data.replay,
            }
        ),
    )
    checks_now = (*PRICE_CHECKS[:-1], _every_ticker_loaded(failed))
    yield from checks.results(PRICES_KEY, frame, checks_now)
