"""Market data as a Dagster resource: daily bars through the OpenBB Platform, or the recorded files in replay."""

from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from finance_assets.market.replay import ReplayPriceSource
from finance_assets.market.source import OpenBBPriceSource, PriceSource


class MarketDataResource(dg.ConfigurableResource):
    """Daily bars through the OpenBB Platform; in replay mode the provider's fetch reads recorded CSVs."""

    provider: str = Field(default="yfinance", description="OpenBB provider of equity.price.historical.")
    replay_dir: str | None = Field(default=None, description="Replay recorded prices from this folder; None: live.")
    replay_layout: str = Field(default="yahoo_daily", description="Which recorded price files replay serves.")

    @property
    def replay(self) -> bool:
        return self.replay_dir is not None

    def source(self) -> PriceSource:
        if self.replay_dir is not None:
            return ReplayPriceSource(Path(self.replay_dir), layout=self.replay_layout, provider=self.provider)  # type: ignore[arg-type]
        return _openbb(self.provider)


@cache
def _openbb(provider: str) -> OpenBBPriceSource:
    return OpenBBPriceSource(provider)  # builds `obb` lazily, once per process
