-- Bronze FMP ratios, key columns typed. The one model that reads the source.
select
    * replace (
        upper(trim(ticker))::varchar as ticker,
        date::date as date,
        upper(trim(period))::varchar as period,
        fiscal_year::integer as fiscal_year
    )
from {{ source('bronze', 'fmp_ratios') }}
