-- One row per company ticker in the lakehouse: CIK, names, listing, fiscal year end and reporting currency.
with tickers as (
    select distinct ticker, cik, entity_name from {{ ref('stg_edgar__company_facts') }}
    union
    select distinct ticker, cik, entity_name from {{ ref('filings') }}
),

one_per_ticker as (
    select ticker, min(cik) as cik, max(entity_name) as entity_name
    from tickers
    group by ticker
),

fiscal_year_end as (
    -- the company's current fiscal year end (MMDD) from its most recent filing header
    select cik, arg_max(fiscal_year_end_mmdd, filing_date) as fiscal_year_end_mmdd, arg_max(sic, filing_date) as sic
    from {{ ref('filings') }}
    where fiscal_year_end_mmdd is not null
    group by cik
)

select
    t.ticker,
    t.cik,
    t.entity_name,
    m.company_name                  as sec_company_name,
    m.exchange,
    fye.fiscal_year_end_mmdd,
    fye.sic,
    c.reporting_currency
from one_per_ticker as t
left join {{ ref('stg_sec__company_tickers') }} as m
    on m.ticker = t.ticker
left join fiscal_year_end as fye
    on fye.cik = t.cik
left join {{ ref('int_reporting_currency') }} as c
    on c.cik = t.cik
