"""Financial Modeling Prep (FMP) fundamentals as Bronze: profile, statements, key metrics, ratios.

FMP's REST API is called directly through the shared :class:`~finance_assets.core.http.SourceClient`
(the ``openbb-fmp`` extension does not install with openbb-core 2). See :mod:`.source` for the fetch
plan, :mod:`.parse` for the one schema both API shapes normalise to, :mod:`.replay_routes` for how
live URLs map onto the recorded responses, and :mod:`.assets` for the Dagster assets and checks.
"""
