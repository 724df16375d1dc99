-- Daily price features per ticker and trading date, each computed only from bars up to and including that
-- date (no look-ahead). Windows count trading days (rows of the ticker's own series); a feature is null
-- until its window is full.
--   return_1d / log_return_1d     adjusted close over the previous adjusted close
--   momentum_{5,21,63,126,252}d   adj_close / adj_close n trading days earlier - 1
--   momentum_12_1                 adj_close 21 days ago / adj_close 252 days ago - 1 (skips the last month)
--   realized_vol_{20,60,120}d        sample std of daily log returns over n days, annualised (x sqrt 252)
--   vwap_20d                      rolling 20-day volume-weighted average of the typical price (H+L+C)/3
--   volume_zscore_20d             (volume - mean) / std of the 20 PREVIOUS days' volume
--   distance_from_52w_high        close / highest high of the last 252 trading days - 1
--   beta_252d                     OLS slope of daily log returns on ^GSPC's over the last 252 common days
--   idiosyncratic_vol_252d        std of that regression's residuals (SSR / (n - 2)), annualised
--   rsi_14d                       100 x mean gain / (mean gain + mean loss) = 100 - 100 / (1 + RS) of the last 14 daily changes of
--                                 adj_close (simple means, Cutler's RSI: no recursion, so no start-up drift)
--   max_return_21d                largest daily return of the last 21 days
--   log_dollar_volume_20d         ln(mean(close x volume)) over 20 days
--   amihud_illiquidity_20d        mean(|return_1d| / (close x volume)) over 20 days, x 1e9
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
    select
        b.*,
        m.market_log_return,
        adj_close - lag(adj_close) over (partition by b.ticker order by b.trade_date) as adj_change
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
        {%- for n in [5, 21, 63, 126, 252] %}
        case when count(*) over (w rows between {{ n }} preceding and current row) = {{ n + 1 }}
             then adj_close / first_value(adj_close) over (w rows between {{ n }} preceding and current row) - 1
        end                                                     as momentum_{{ n }}d,
        {%- endfor %}
        {%- for n in [20, 60, 120] %}
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
        end                                                     as beta_252d,
        case when count(*) over (w rows between 252 preceding and current row) = 253
             then lag(adj_close, 21) over w / first_value(adj_close) over (w rows between 252 preceding and current row) - 1
        end                                                     as momentum_12_1,
        case when regr_count(log_return, market_log_return) over (w rows between 251 preceding and current row) >= 250
             then sqrt(greatest(
                      regr_syy(log_return, market_log_return) over (w rows between 251 preceding and current row)
                      - regr_sxy(log_return, market_log_return) over (w rows between 251 preceding and current row) ^ 2
                        / nullif(regr_sxx(log_return, market_log_return) over (w rows between 251 preceding and current row), 0),
                      0)
                  / (regr_count(log_return, market_log_return) over (w rows between 251 preceding and current row) - 2)
                  ) * sqrt(252)
        end                                                     as idiosyncratic_vol_252d,
        case when count(adj_change) over (w rows between 13 preceding and current row) = 14
             then 100 * avg(greatest(adj_change, 0)) over (w rows between 13 preceding and current row)
                  / nullif(avg(abs(adj_change)) over (w rows between 13 preceding and current row), 0)
        end                                                     as rsi_14d,
        case when count(log_return) over (w rows between 20 preceding and current row) = 21
             then exp(max(log_return) over (w rows between 20 preceding and current row)) - 1
        end                                                     as max_return_21d,
        case when count(volume) over (w rows between 19 preceding and current row) = 20
             then ln(nullif(avg(close * volume) over (w rows between 19 preceding and current row), 0))
        end                                                     as log_dollar_volume_20d,
        case when count(log_return / nullif(close * volume, 0)) over (w rows between 19 preceding and current row) = 20
             then avg(abs(exp(log_return) - 1) / nullif(close * volume, 0)) over (w rows between 19 preceding and current row) * 1e9
        end                                                     as amihud_illiquidity_20d
    from joined
    window w as (partition by ticker order by trade_date)
)

select * from features
