-- One row per priced ticker (the benchmark excluded): its CIK, SIC code and sector, so every company of the
-- market model has a sector, with SEC data or without.
--   SIC: the company's filing index (silver.companies, the live path: `sic` of the submissions payload)
--        when we ingested it, else the reference seed company_sic (SEC Financial Statement Data Sets
--        2021q1 sub.txt, 5,761 filers, matched on today's ticker: BRK.B is BRK-B there).
--   sector: the SIC range's sector in seed sic_sectors (GICS-like groups of SIC codes); 'Unknown' (code 0)
--        when no SIC is known (e.g. tickers renamed since, FB -> META).
-- A sector is reference data, not a fact in time: valid_from is the epoch, so a point-in-time join sees it
-- on every date.
{% set benchmark = var('market_benchmark', '^GSPC') %}
with tickers as (
    select distinct ticker from {{ ref('prices_daily') }} where ticker <> '{{ benchmark }}'
),

live as (
    select ticker, cik, sic from {{ ref('companies') }} where sic is not null
),

reference as (
    select ticker, cik, sic
    from {{ ref('company_sic') }}
    where ticker is not null and ticker <> ''
    qualify row_number() over (partition by ticker order by cik) = 1
),

resolved as (
    select
        t.ticker,
        coalesce(l.cik, r.cik)                                          as cik,
        coalesce(l.sic, r.sic)                                          as sic,
        case when l.sic is not null then 'filing_index'
             when r.sic is not null then 'fsds_2021q1' end               as sic_source
    from tickers as t
    left join live as l on l.ticker = t.ticker
    left join reference as r on r.ticker = replace(t.ticker, '.', '-')
)

select
    r.ticker,
    r.cik,
    r.sic,
    r.sic_source,
    coalesce(s.sector, 'Unknown')                                       as sector,
    coalesce(s.sector_code, 0)::integer                                 as sector_code,
    date '1970-01-01'                                                   as valid_from
from resolved as r
left join {{ ref('sic_sectors') }} as s
    on try_cast(r.sic as integer) between s.sic_from and s.sic_to
