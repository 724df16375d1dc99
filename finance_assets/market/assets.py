"""Daily prices for the universe and the market benchmark, through OpenBB (or its replay)."""

import math
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from functools import cache

import dagster as dg
import polars as pl

from finance_assets.core import checks
from finance_assets.core.checks import Metadata
from finance_assets.core.columns import COLUMN_SCHEMA, described_schema
from finance_assets.core.io_manager import PARTITION_BY, PARTITION_EXPR
from finance_assets.core.names import MARKET_BENCHMARK, PRICES_DAILY
from finance_assets.core.partitions import prices_partitions
from finance_assets.core.resources import UniverseResource
from finance_assets.market.columns import PRICES_DOCS, PRICES_TABLE_SCHEMA
from finance_assets.market.resources import MarketDataResource
from finance_assets.market.source import UnknownSymbolError, empty_prices

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


PRICE_CHECKS = (
    checks.unique_key("ticker", "date"),
    checks.no_rows_where(
        "ohlc_consistent",
        "low <= open, close <= high on every bar.",
        (pl.col("low") > pl.min_horizontal("open", "close") + 1e-9)
        | (pl.col("high") < pl.max_horizontal("open", "close") - 1e-9),
        show=["ticker", "date", "open", "high", "low", "close"],
    ),
    checks.no_rows_where(
        "volume_non_negative",
        "volume >= 0.",
        pl.col("volume") < 0,
        show=["ticker", "date", "volume"],
    ),
    _unexplained_splits(),
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
        "Daily OHLCV, adjusted close, dividends and splits for UNIVERSE and ^GSPC via OpenBB "
        "(equity.price.historical). A multi-day backfill is one run and one fetch per ticker."
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
            f"Partition range {first}...{last} ends before it starts: give the earlier date first ({last}...{first})."
        )
    source = market_data.source()
    frames, rows_per_ticker, unavailable = [], {}, []
    for symbol in price_symbols(universe.tickers):
        try:
            bars = source.fetch(symbol, start, end)
        except UnknownSymbolError as exc:
            context.log.warning(f"no price history for {symbol}: {exc}")
            unavailable.append(symbol)
            bars = empty_prices()
        rows_per_ticker[symbol] = bars.height
        frames.append(bars)
    frame = pl.concat(frames).rename({"symbol": "ticker"}).sort("ticker", "date")
    if frame.is_empty():
        context.log.warning(f"no bars between {start} and {end} for any ticker (holiday, weekend or uncovered range)")
    gaps = calendar_gaps(frame, start, end)
    splits = split_events(frame)
    yield dg.Output(
        frame,
        metadata={
            "date_range": f"{start}..{end}",
            "tickers": ", ".join(price_symbols(universe.tickers)),
            "rows_per_ticker": rows_per_ticker,
            "tickers_without_data": ", ".join(t for t, n in rows_per_ticker.items() if n == 0) or "none",
            "tickers_unknown_to_source": ", ".join(unavailable) or "none",
            "calendar_gaps": gaps.height,
            "calendar_gap_sample": str(gaps.head(10).to_dicts()),
            "split_events": str(splits.to_dicts()[:20]),
            "provider": market_data.provider,
            "replay": market_data.replay,
        },
    )
    yield from checks.results(PRICES_KEY, frame, PRICE_CHECKS)
