-- Bronze FMP company profile. The one model that reads the source.
select * replace (upper(trim(ticker))::varchar as ticker)
from {{ source('bronze', 'fmp_profile') }}
