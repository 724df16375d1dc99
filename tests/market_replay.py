"""The recorded S&P 500 cross-section (482 members, 2015-01 -> 2020-01) as a model frame, read straight
from the replay files: ``ticker, as_of_date, label, label_end`` and a few price features per month end.

Used by the backtest tests and the training benchmark to work on the market before the demo loads these
histories into Bronze. Independent of the SQL of gold.price_features / gold.labels on purpose (polars,
not dbt): the label follows gold.labels' definition (21 sessions ahead, excess over ^GSPC).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

REPLAY = Path(__file__).resolve().parents[1].parent / "shared" / "replay" / "prices"
SP500 = REPLAY / "yahoo_sp500_2015_2020"
GSPC = REPLAY / "yahoo_daily_2003_2023" / "GSPC.csv"
HORIZON = 21
FEATURES = ["momentum_21d", "momentum_63d", "momentum_126d", "momentum_252d", "realized_vol_20d"]
# more of feature set v2's price side, for the training benchmark's width (same definitions as the SQL)
WIDE_FEATURES = [
    *FEATURES,
    "momentum_5d",
    "momentum_12_1",
    "realized_vol_60d",
    "realized_vol_120d",
    "max_return_21d",
    "log_dollar_volume_20d",
]


def _bars(limit: int | None) -> pl.DataFrame:
    files = sorted(SP500.glob("*.csv.gz"))[:limit]
    frames = [
        pl.read_csv(f, schema_overrides={"Volume": pl.Float64}).select(
            pl.col("Date").str.to_date().alias("trade_date"),
            pl.lit(f.name.removesuffix(".csv.gz")).alias("ticker"),
            pl.col("Adj Close").alias("adj_close"),
            pl.col("Close").alias("close"),
            pl.col("Volume").alias("volume"),
        )
        for f in files
    ]
    return pl.concat(frames)


@cache
def market_frame(limit: int | None = None) -> pl.DataFrame:
    """Month-end rows of ``limit`` tickers (all 482 by default) with label, label_end and FEATURES."""
    bench = pl.read_csv(GSPC, infer_schema_length=None)
    bench.columns = ["trade_date", "open", "high", "low", "close", "volume", "adj_close"]
    bench = (
        bench.select(pl.col("trade_date").str.to_date(), pl.col("adj_close").alias("bench"))
        .filter(pl.col("trade_date").is_between(pl.date(2015, 1, 1), pl.date(2020, 1, 31)))
        .sort("trade_date")
    )
    bars = _bars(limit).join(bench, on="trade_date", how="inner").sort("ticker", "trade_date")
    log_ret = (pl.col("adj_close") / pl.col("adj_close").shift(1)).log()
    frame = bars.with_columns(
        *[
            (pl.col("adj_close") / pl.col("adj_close").shift(n) - 1).over("ticker").alias(f"momentum_{n}d")
            for n in (21, 63, 126, 252)
        ],
        *[(log_ret.rolling_std(n) * 252**0.5).over("ticker").alias(f"realized_vol_{n}d") for n in (20, 60, 120)],
        (pl.col("adj_close") / pl.col("adj_close").shift(5) - 1).over("ticker").alias("momentum_5d"),
        (pl.col("adj_close").shift(21) / pl.col("adj_close").shift(252) - 1).over("ticker").alias("momentum_12_1"),
        ((pl.col("adj_close") / pl.col("adj_close").shift(1) - 1).rolling_max(21))
        .over("ticker")
        .alias("max_return_21d"),
        (pl.col("close") * pl.col("volume")).rolling_mean(20).log().over("ticker").alias("log_dollar_volume_20d"),
        pl.col("trade_date").shift(-HORIZON).over("ticker").alias("label_end"),
        (
            (pl.col("adj_close").shift(-HORIZON) / pl.col("adj_close")).log()
            - (pl.col("bench").shift(-HORIZON) / pl.col("bench")).log()
        )
        .over("ticker")
        .alias("label"),
    )
    month_ends = bench.group_by(pl.col("trade_date").dt.truncate("1mo").alias("month")).agg(pl.col("trade_date").max())
    month_ends = month_ends["trade_date"]
    return (
        frame.filter(pl.col("trade_date").is_in(month_ends.implode()) & pl.col("momentum_252d").is_not_null())
        .select("ticker", pl.col("trade_date").alias("as_of_date"), "label", "label_end", *WIDE_FEATURES)
        .sort("as_of_date", "ticker")
    )
