"""Daily price sources for ``bronze/prices_daily``: OpenBB live, or the recorded replay files.

Both return the same :data:`~finance_assets.market.source.PRICE_SCHEMA` frame, so the asset code
does not know which mode it runs in.
"""
