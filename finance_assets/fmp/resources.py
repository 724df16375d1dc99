"""Financial Modeling Prep as a Dagster resource: the key, the plan's rate, and how much history to ask for.

**Key.** ``api_key`` is ``dg.EnvVar("FMP_API_KEY")`` when the variable is set (the launchpad shows the
variable's name, never the key), and None when it is not: Dagster resolves an ``EnvVar`` when it validates
a run's resource config, so an unset one would fail every run that includes this resource, FMP or not.
Composed this way (``finance_assets/resources.py``), a missing key fails the FMP steps only, before any
request, with the message that names ``FMP_API_KEY``. In replay the key is a placeholder.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from finance_assets.core.resources import HttpClientResource
from finance_assets.core.settings import missing_setting
from finance_assets.fmp.replay_routes import FMP_ROUTES, MAX_LIMIT
from finance_assets.fmp.source import FMP_BASE_URL, FMP_USER_AGENT, FmpSession

REPLAY_KEY = "replay"  # the recorded URLs carry no key; replay needs none


class FmpResource(dg.ConfigurableResource):
    """Financial Modeling Prep through the shared client. Key: ``FMP_API_KEY``; rate: ``FMP_REQUESTS_PER_MINUTE``."""

    http: dg.ResourceDependency[HttpClientResource]
    api_key: str | None = Field(default=None, description="FMP_API_KEY (None: not set; FMP steps fail, others run).")
    requests_per_minute: float = Field(default=300.0, description="The plan's request rate, shared by every step.")
    base_url: str = Field(
        default=FMP_BASE_URL, description="Where FMP requests go (a mirror, a proxy or a test server)."
    )
    annual_limit: int = Field(
        default=40, description="Most recent fiscal years requested per company (FMP's history starts ~1985)."
    )
    quarter_limit: int = Field(default=160, description="Most recent quarters requested per company.")
    use_legacy_v3: bool = Field(
        default=True,
        description=(
            "Also ask the legacy /api/v3 endpoints for periods the stable API did not return (keys issued "
            "before 2025-08-31; newer keys get 403 'Legacy Endpoint', which is noted and not retried)."
        ),
    )

    @property
    def available(self) -> bool:
        """Whether FMP steps can run: a key, or replay."""
        return bool(self.api_key) or self.http.replay

    def limits(self) -> dict[str, int]:
        limits = {"annual": self.annual_limit, "quarter": self.quarter_limit}
        bad = {k: v for k, v in limits.items() if not 1 <= v <= MAX_LIMIT}
        if bad:
            raise dg.Failure(description=f"FmpResource limits must be within 1..{MAX_LIMIT}, got {bad}.")
        return limits

    @contextmanager
    def session(self) -> Iterator[FmpSession]:
        """A session for one step. Fails naming FMP_API_KEY before any request when there is no key."""
        api_key = self.api_key or (REPLAY_KEY if self.http.replay else None)
        if api_key is None:
            raise dg.Failure(description=str(missing_setting("FMP_API_KEY")))
        client = self.http.client(
            "fmp",
            user_agent=FMP_USER_AGENT,
            rate_per_second=self.requests_per_minute / 60.0,
            routes=FMP_ROUTES,
            origins={FMP_BASE_URL: self.base_url},
        )
        session = FmpSession(client, api_key, use_legacy_v3=self.use_legacy_v3)
        try:
            yield session
        finally:
            session.close()
