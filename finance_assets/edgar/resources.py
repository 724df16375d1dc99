"""SEC EDGAR as a Dagster resource: who we are (User-Agent) and how fast we may ask."""

import dagster as dg
from pydantic import Field

from finance_assets.core.http import SourceClient
from finance_assets.core.resources import HttpClientResource
from finance_assets.core.settings import missing_setting
from finance_assets.edgar.replay_routes import EDGAR_ROUTES


class SecEdgarResource(dg.ConfigurableResource):
    """SEC EDGAR through the shared client: a User-Agent naming you (SEC_USER_AGENT), 10 requests/s at most."""

    http: dg.ResourceDependency[HttpClientResource]
    user_agent: str | None = Field(
        default=None, description="'Name email' sent with every request (SEC's fair-access rule); None: not set."
    )
    requests_per_second: float = Field(
        default=10.0, description="Request rate (<= 10); the limiter keeps a jitter margin under it."
    )

    def client(self) -> SourceClient:
        """The step's client; without a User-Agent it fails before any request, naming SEC_USER_AGENT."""
        if not self.user_agent:
            raise dg.Failure(description=str(missing_setting("SEC_USER_AGENT")))
        return self.http.client(
            "sec", user_agent=self.user_agent, rate_per_second=self.requests_per_second, routes=EDGAR_ROUTES
        )
