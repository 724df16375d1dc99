-- Training labels: for each ticker and trading date t, the 21-trading-day forward excess log return over
-- the benchmark (^GSPC): ln(adj_close[t+21] / adj_close[t]) - ln(bench[t+21] / bench[t]), where t+21 is the
-- ticker's 21st trading day after t and the benchmark is read on the same two dates. Null where the future
-- is not known yet (fewer than 21 later bars) or the benchmark has no bar on either date.
-- `label_available_at` is the day the label becomes known: never use it as a feature before then.
{% set benchmark = var('market_benchmark', '^GSPC') %}
{% set horizon = 21 %}
with bars as (
    select ticker, trade_date, adj_close from {{ ref('prices_daily') }}
),

ahead as (
    select
        ticker,
        trade_date,
        adj_close,
        lead(trade_date, {{ horizon }}) over w as horizon_date,
        lead(adj_close, {{ horizon }}) over w as horizon_adj_close
    from bars
    where ticker <> '{{ benchmark }}'
    window w as (partition by ticker order by trade_date)
),

benchmark as (
    select trade_date, adj_close as bench_adj_close from bars where ticker = '{{ benchmark }}'
)

select
    a.ticker,
    a.trade_date,
    a.horizon_date                                              as label_available_at,
    {{ horizon }}                                               as horizon_trading_days,
    ln(a.horizon_adj_close / a.adj_close)                       as forward_log_return_21d,
    ln(b1.bench_adj_close / b0.bench_adj_close)                 as benchmark_forward_log_return_21d,
    ln(a.horizon_adj_close / a.adj_close) - ln(b1.bench_adj_close / b0.bench_adj_close)
                                                                as forward_excess_log_return_21d
from ahead as a
left join benchmark as b0 on b0.trade_date = a.trade_date
left join benchmark as b1 on b1.trade_date = a.horizon_date
