"""SEC EDGAR as a Dagster resource: who we are (User-Agent), how fast we may ask, and where (mirrors, tests)."""

from typing import Literal

import dagster as dg
from pydantic import Field

from finance_assets.core.http import SourceClient
from finance_assets.core.resources import HttpClientResource
from finance_assets.core.settings import missing_setting
from finance_assets.edgar.bulk import bulk_replay
from finance_assets.edgar.replay_routes import EDGAR_ROUTES, SEC_DATA, SEC_WWW

#: The origins the EDGAR assets name in their URLs (and archive under); the fields below say where they go.
SEC_WWW_ORIGIN, SEC_DATA_ORIGIN = f"https://{SEC_WWW}", f"https://{SEC_DATA}"


class SecEdgarResource(dg.ConfigurableResource):
    """SEC EDGAR through the shared client: a User-Agent naming you (SEC_USER_AGENT), 10 requests/s at most."""

    http: dg.ResourceDependency[HttpClientResource]
    user_agent: str | None = Field(
        default=None, description="'Name email' sent with every request (SEC's fair-access rule); None: not set."
    )
    requests_per_second: float = Field(
        default=10.0, description="Request rate (<= 10); the limiter keeps a jitter margin under it."
    )

    www_base_url: str = Field(
        default=SEC_WWW_ORIGIN, description="Where www.sec.gov requests go (a mirror, a proxy or a test server)."
    )
    data_base_url: str = Field(
        default=SEC_DATA_ORIGIN, description="Where data.sec.gov requests go (a mirror, a proxy or a test server)."
    )

    def client(self) -> SourceClient:
        """The step's client; without a User-Agent it fails before any request, naming SEC_USER_AGENT."""
        if not self.user_agent:
            raise dg.Failure(description=str(missing_setting("SEC_USER_AGENT")))
        return self.http.client(
            "sec",
            user_agent=self.user_agent,
            rate_per_second=self.requests_per_second,
            routes=EDGAR_ROUTES,
            origins={SEC_WWW_ORIGIN: self.www_base_url, SEC_DATA_ORIGIN: self.data_base_url},
            replay_wrap=bulk_replay,  # SEC's bulk archives, built from the recorded payloads
        )


#: EdgarSourceResource.mode: the per-company API, or SEC's nightly bulk archives
API, BULK = "api", "bulk"


class EdgarSourceResource(dg.ConfigurableResource):
    """Where the EDGAR company assets read a company from: the per-company API or SEC's nightly bulk archives.

    The same assets, tables, partitions and per-company isolation either way; only the source of each
    company's payload differs. The job ``edgar_bulk_load`` sets ``mode: bulk`` (see docs/sources.md).
    """

    mode: Literal["api", "bulk"] = Field(
        default=API,
        description=(
            "api: GET each company's companyfacts / submissions; bulk: read its member of SEC's companyfacts.zip / "
            "submissions.zip (downloaded once to bulk_dir and revalidated by every run)."
        ),
    )
    bulk_dir: str = Field(description="Where the bulk archives are downloaded (SEC_BULK_DIR).")
