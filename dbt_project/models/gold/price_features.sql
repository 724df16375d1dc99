-- Daily price features per ticker and trading date, each computed only from bars up to and including that
-- date (no look-ahead). Windows count trading days (rows of the ticker's own series); a feature is null
-- until its window is full.
--   return_1d / log_return_1d     adjusted close over the previous adjusted close
--   momentum_{21,63,126,252}d     adj_close / adj_close n trading days earlier - 1
--   realized_vol_{20,60}d         sample std of daily log returns over n days, annualised (x sqrt 252)
--   vwap_20d                      rolling 20-day volume-weighted average of the typical price (H+L+C)/3
--   volume_zscore_20d             (volume - mean) / std of the 20 PREVIOUS days' volume
--   distance_from_52w_high        close / highest high of the last 252 trading days - 1
--   beta_252d                     OLS slope of daily log returns on ^GSPC's over the last 252 common days
{% set benchmark = var('market_benchmark', '^GSPC') %}
with bars as (
    select * from {{ ref('prices_daily') }}
),

market as (
    select trade_date, log_return as market_log_return
    from bars
    where ticker = '{{ benchmark }}'
),

joined as (
    select b.*, m.market_log_return
    from bars as b
    left join market as m using (trade_date)
),

features as (
    select
        ticker,
        trade_date,
        close,
        adj_close,
        volume,
        exp(log_return) - 1                                     as return_1d,
        log_return                                              as log_return_1d,
        {%- for n in [21, 63, 126, 252] %}
        case when count(*) over (w rows between {{ n }} preceding and current row) = {{ n + 1 }}
             then adj_close / first_value(adj_close) over (w rows between {{ n }} preceding and current row) - 1
        end                                                     as momentum_{{ n }}d,
        {%- endfor %}
        {%- for n in [20, 60] %}
        case when count(log_return) over (w rows between {{ n - 1 }} preceding and current row) = {{ n }}
             then stddev_samp(log_return) over (w rows between {{ n - 1 }} preceding and current row) * sqrt(252)
        end                                                     as realized_vol_{{ n }}d,
        {%- endfor %}
        case when count(volume) over (w rows between 19 preceding and current row) = 20
             then sum((coalesce(high, close) + coalesce(low, close) + close) / 3 * volume)
                      over (w rows between 19 preceding and current row)
                  / nullif(sum(volume) over (w rows between 19 preceding and current row), 0)
        end                                                     as vwap_20d,
        case when count(volume) over (w rows between 20 preceding and 1 preceding) = 20
             then (volume - avg(volume) over (w rows between 20 preceding and 1 preceding))
                  / nullif(stddev_samp(volume) over (w rows between 20 preceding and 1 preceding), 0)
        end                                                     as volume_zscore_20d,
        case when count(*) over (w rows between 251 preceding and current row) = 252
             then close / max(coalesce(high, close)) over (w rows between 251 preceding and current row) - 1
        end                                                     as distance_from_52w_high,
        case when count(log_return * market_log_return) over (w rows between 251 preceding and current row) >= 250
             then regr_slope(log_return, market_log_return) over (w rows between 251 preceding and current row)
        end                                                     as beta_252d
    from joined
    window w as (partition by ticker order by trade_date)
)

select * from features
