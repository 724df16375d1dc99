-- One row per 13F information table entry: value in US dollars under the filing's unit rule, CUSIP ->
-- ticker only from a real mapping (seed cusip_tickers, else a CUSIP carried by exactly one FMP profile).
{{ config(tags=['holdings']) }}
with reports as (
    select * from {{ ref('holdings_reports') }}
),

fmp_cusips as (
    select upper(trim(cusip)) as cusip, min(ticker) as ticker
    from {{ ref('fmp_profile') }}
    where nullif(trim(cusip), '') is not null
    group by 1
    having count(distinct ticker) = 1  -- a CUSIP on two profiles is ambiguous: no ticker
),

supplied as (
    select upper(trim(cusip)) as cusip, min(upper(trim(ticker))) as ticker
    from {{ ref('cusip_tickers') }}
    group by 1
    having count(distinct upper(trim(ticker))) = 1
),

tickers as (
    select
        cusip,
        coalesce(s.ticker, f.ticker) as ticker,
        case when s.ticker is not null then 'seed cusip_tickers' else 'fmp_profile' end as ticker_source
    from supplied as s
    full outer join fmp_cusips as f using (cusip)
)

select
    r.manager_cik,
    r.manager_name,
    r.period,
    r.accession_number,
    h.row_number,
    h.cusip,
    t.ticker,
    t.ticker_source,
    h.issuer,
    h.title_of_class,
    h.figi,
    h.value_reported,
    r.value_unit,
    h.value_reported * r.value_multiplier as value_usd,
    r.value_unit_rule,
    h.shares_or_principal,
    h.shares_or_principal_type,
    h.put_call,
    h.investment_discretion,
    h.other_manager,
    h.voting_sole,
    h.voting_shared,
    h.voting_none,
    r.is_in_effect,
    r.filing_date,
    h.payload_sha256
from {{ ref('stg_edgar__13f_holdings') }} as h
join reports as r using (accession_number)
left join tickers as t using (cusip)
