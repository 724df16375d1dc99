-- One bar per (ticker, trading date): typed, de-duplicated, and checked. Prices are as the provider
-- adjusts them: open/high/low/close for splits (as of the provider's download day), adj_close for
-- splits and dividends. Bars without a positive close or adjusted close are dropped (not a price), and
-- a date served twice keeps one bar (the most complete, then the provider name, for determinism).
with bars as (
    select *
    from {{ ref('stg_prices__daily') }}
    where close > 0 and adj_close > 0
    qualify row_number() over (
        partition by ticker, trade_date
        order by (open is not null)::int + (high is not null)::int + (low is not null)::int
                 + (volume is not null)::int desc,
                 provider
    ) = 1
)

select
    ticker,
    trade_date,
    open,
    high,
    low,
    close,
    adj_close,
    volume,
    dividend,
    case when split_ratio is not null and split_ratio > 0 and split_ratio <> 1 then split_ratio end as split_ratio,
    adj_close / close as dividend_adjustment_factor,
    ln(adj_close / lag(adj_close) over (partition by ticker order by trade_date)) as log_return,
    provider
from bars
