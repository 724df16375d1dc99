-- Bronze daily bars, renamed and typed. The one model that reads the source.
select
    upper(trim(ticker))::varchar    as ticker,
    date::date                      as trade_date,
    open::double                    as open,
    high::double                    as high,
    low::double                     as low,
    close::double                   as close,
    adj_close::double               as adj_close,
    volume::double                  as volume,
    dividend::double                as dividend,
    split_ratio::double             as split_ratio,
    provider::varchar               as provider
from {{ source('bronze', 'prices_daily') }}
