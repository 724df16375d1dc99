-- SEC's ticker -> CIK map. The one model that reads the source.
select
    upper(trim(ticker))::varchar as ticker,
    cik::varchar                 as cik,
    name::varchar                as company_name,
    exchange::varchar            as exchange
from {{ source('bronze', 'sec_company_tickers') }}
