"""Market data as a Dagster resource: daily bars through the OpenBB Platform, or the recorded files in replay."""

from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from finance_assets.market.replay import ReplayPriceSource
from finance_assets.market.source import OpenBBPriceSource, PriceSource


class MarketDataResource(dg.ConfigurableResource):
    """Daily bars through the OpenBB Platform; in replay mode every recorded price folder (market/replay.py)."""

    provider: str = Field(default="yfinance", description="OpenBB provider of equity.price.historical.")
    replay_dir: str | None = Field(default=None, description="Replay recorded prices from this folder; None: live.")

    @property
    def replay(self) -> bool:
        return self.replay_dir is not None

    def source(self) -> PriceSource:
        if self.replay_dir is not None:
            return _replay(self.replay_dir, self.provider)
        return _openbb(self.provider)


@cache
def _replay(replay_dir: str, provider: str) -> ReplayPriceSource:
    return ReplayPriceSource(Path(replay_dir), provider=provider)  # lists every price folder once per process


@cache
def _openbb(provider: str) -> OpenBBPriceSource:
    return OpenBBPriceSource(provider)  # builds `obb` lazily, once per process
