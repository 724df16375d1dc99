-- Per security (CUSIP) and quarter: how many loaded 13F managers hold it, how many shares (or principal)
-- and what value, from the reports in effect. Options (put/call rows) are exposure, not ownership: left
-- out of holders, shares and value and counted apart.
{{ config(tags=['holdings']) }}
with holdings as (
    select * from {{ ref('holdings') }}
    where is_in_effect
),

managers_reporting as (
    select period, count(distinct manager_cik) as managers_reporting
    from {{ ref('holdings_reports') }}
    where is_in_effect and holdings_complete
    group by period
)

select
    h.period,
    h.cusip,
    min(h.ticker) as ticker,
    min(h.issuer) as issuer,
    min(h.title_of_class) as title_of_class,
    count(distinct h.manager_cik) filter (where h.put_call is null) as holders,
    (sum(h.shares_or_principal) filter (where h.put_call is null and h.shares_or_principal_type = 'SH'))::bigint
        as shares_held,
    (sum(h.shares_or_principal) filter (where h.put_call is null and h.shares_or_principal_type = 'PRN'))::bigint
        as principal_held,
    case
        when count(h.value_usd) filter (where h.put_call is null) = count(*) filter (where h.put_call is null)
            then (sum(h.value_usd) filter (where h.put_call is null))::bigint
    end as value_usd,
    count(distinct h.manager_cik) filter (where h.put_call is not null) as option_holders,
    any_value(m.managers_reporting) as managers_reporting
from holdings as h
left join managers_reporting as m using (period)
group by h.period, h.cusip
