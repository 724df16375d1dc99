"""One sentence per column of ``bronze.prices_daily`` (the Dagster UI's column descriptions)."""

from __future__ import annotations

import polars as pl

from finance_assets.market.source import PRICE_SCHEMA

# The written table: PRICE_SCHEMA with the requested symbol named `ticker` (the universe's key)
PRICES_TABLE_SCHEMA = pl.Schema({("ticker" if n == "symbol" else n): t for n, t in PRICE_SCHEMA.items()})

PRICES_DOCS = {
    "ticker": "Symbol as requested: a universe ticker (BRK-B) or the market index ^GSPC.",
    "date": "Trading day (exchange calendar) of the bar.",
    "open": "Opening price, split-adjusted as of the source's download day.",
    "high": "High of the day, split-adjusted.",
    "low": "Low of the day, split-adjusted.",
    "close": "Closing price, split-adjusted.",
    "adj_close": "Close adjusted for splits and dividends (what returns are computed from).",
    "volume": "Shares traded (float: sources write 2.45e+08 or split-adjust volumes).",
    "dividend": "Cash dividend on its ex-date, split-adjusted; null: no dividend recorded that day.",
    "split_ratio": "New/old shares on the split date (4:1 is 4.0); null: no split that day.",
    "provider": "OpenBB provider that served the bar (PRICES_PROVIDER), the same in live and replay mode.",
    "source_file": "Replay only: the recorded file that served this ticker (relative to REPLAY_DIR); null live.",
}
