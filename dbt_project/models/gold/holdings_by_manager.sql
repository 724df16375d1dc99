-- Each manager's positions per quarter with portfolio weights and the change from the quarter before.
-- A position is (CUSIP, put/call, shares-or-principal type): entries split by discretion or other manager
-- are summed. Changes compare shares (value moves with the price): new, added, reduced, unchanged, and
-- sold_out rows for positions of the previous quarter no longer held. Only when the manager's report for
-- the previous calendar quarter is loaded with its holdings; otherwise change_type is null (unknown, not new).
{{ config(tags=['holdings']) }}
with manager_periods as (
    select
        manager_cik,
        period,
        min(manager_name) as manager_name,
        bool_and(holdings_complete) as holdings_complete,
        string_agg(accession_number, ',' order by accession_number) as accession_numbers
    from {{ ref('holdings_reports') }}
    where is_in_effect
    group by manager_cik, period
),

positions as (
    select
        manager_cik,
        period,
        cusip,
        put_call,
        shares_or_principal_type,
        min(ticker) as ticker,
        min(issuer) as issuer,
        min(title_of_class) as title_of_class,
        sum(shares_or_principal)::bigint as shares_or_principal,
        -- null when any entry's unit is unknown: a partial sum would understate the position
        case when count(value_usd) = count(*) then sum(value_usd)::bigint end as value_usd,
        count(*) as entries
    from {{ ref('holdings') }}
    where is_in_effect
    group by manager_cik, period, cusip, put_call, shares_or_principal_type
),

portfolios as (
    select
        manager_cik,
        period,
        case when count(value_usd) = count(*) then sum(value_usd)::bigint end as portfolio_value_usd
    from positions
    group by manager_cik, period
),

compared as (
    select
        p.*,
        last_day(p.period - interval 3 month) as prior_period,
        prior_report.manager_cik is not null as prior_report_loaded,
        prior.shares_or_principal as prior_shares_or_principal,
        prior.value_usd as prior_value_usd
    from positions as p
    left join manager_periods as prior_report
        on prior_report.manager_cik = p.manager_cik
        and prior_report.period = last_day(p.period - interval 3 month)
        and prior_report.holdings_complete
    left join positions as prior
        on prior.manager_cik = p.manager_cik
        and prior.period = last_day(p.period - interval 3 month)
        and prior.cusip = p.cusip
        and prior.put_call is not distinct from p.put_call
        and prior.shares_or_principal_type is not distinct from p.shares_or_principal_type
),

sold_out as (
    select
        prior.manager_cik,
        current_report.period,
        prior.cusip,
        prior.put_call,
        prior.shares_or_principal_type,
        prior.ticker,
        prior.issuer,
        prior.title_of_class,
        0::bigint as shares_or_principal,
        0::bigint as value_usd,
        0::bigint as entries,
        prior.period as prior_period,
        true as prior_report_loaded,
        prior.shares_or_principal as prior_shares_or_principal,
        prior.value_usd as prior_value_usd
    from positions as prior
    join manager_periods as current_report
        on current_report.manager_cik = prior.manager_cik
        and current_report.period = last_day(prior.period + interval 3 month)
        and current_report.holdings_complete
    where not exists (
        select 1
        from positions as now
        where now.manager_cik = prior.manager_cik
            and now.period = current_report.period
            and now.cusip = prior.cusip
            and now.put_call is not distinct from prior.put_call
            and now.shares_or_principal_type is not distinct from prior.shares_or_principal_type
    )
),

all_positions as (
    select * from compared
    union all by name
    select * from sold_out
)

select
    a.manager_cik,
    m.manager_name,
    a.period,
    a.cusip,
    a.ticker,
    a.issuer,
    a.title_of_class,
    a.put_call,
    a.shares_or_principal_type,
    a.shares_or_principal,
    a.value_usd,
    a.value_usd / nullif(pf.portfolio_value_usd, 0) as weight,
    pf.portfolio_value_usd,
    a.entries,
    a.prior_period,
    a.prior_shares_or_principal,
    a.prior_value_usd,
    case when a.prior_report_loaded then a.shares_or_principal - coalesce(a.prior_shares_or_principal, 0) end
        as shares_change,
    case when a.prior_report_loaded then a.value_usd - coalesce(a.prior_value_usd, 0) end as value_change_usd,
    case
        when not a.prior_report_loaded then null
        when a.entries = 0 then 'sold_out'
        when a.prior_shares_or_principal is null then 'new'
        when a.shares_or_principal > a.prior_shares_or_principal then 'added'
        when a.shares_or_principal < a.prior_shares_or_principal then 'reduced'
        else 'unchanged'
    end as change_type,
    m.accession_numbers
from all_positions as a
join manager_periods as m using (manager_cik, period)
join portfolios as pf using (manager_cik, period)
