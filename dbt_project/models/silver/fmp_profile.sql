-- One row per ticker: FMP's company profile as last fetched (identifiers, classification, listing).
select
    ticker,
    company_name,
    cik,
    isin,
    cusip,
    exchange,
    currency,
    country,
    sector,
    industry,
    ipo_date,
    is_etf,
    is_adr,
    is_fund,
    is_actively_trading,
    fetched_at
from {{ ref('stg_fmp__profile') }}
qualify row_number() over (partition by ticker order by fetched_at desc) = 1
