-- The fiscal calendar of each company: one row per fiscal year with its first and last day.
--
-- Fiscal years come from the annual periods the company actually reported (350-380 days), not from the
-- filings' `fy` (which names the filing, not the period). A company also reports odd annual periods
-- (an acquiree's year, a pro-forma year); the fiscal years are the "main" ones: reported with many
-- concepts (at least a quarter of the company's best-covered year) and, when two overlap, the one with
-- more concepts (source 'reported').
--
-- A year no annual period covers, but whose first day is the start of the company's year-to-date periods
-- (six or nine months), is a fiscal year too: a company between its listing and its first 10-K reports
-- only 10-Qs, and their year-to-date periods name the fiscal year's first day (source 'inferred'; it ends
-- one year later). The year after the last known one (the fiscal year in progress) is projected from the
-- last year's end, so its quarters have a home before its 10-K arrives (source 'projected'). Years with
-- neither an annual nor a year-to-date period are left out (their quarters get no fiscal year rather than
-- a guessed one). Only 'reported' years get an FY row and a fourth quarter.
with annual_periods as (
    select
        cik,
        period_start,
        period_end,
        count(distinct taxonomy || ':' || concept) as n_concepts
    from {{ ref('financial_facts') }}
    where period_kind = 'annual'
      and taxonomy in ('us-gaap', 'ifrs-full')
    group by cik, period_start, period_end
),

main_periods as (
    select *
    from annual_periods
    qualify n_concepts >= 0.25 * max(n_concepts) over (partition by cik)
),

not_dominated as (
    -- drop a period when an overlapping one (more than a month in common) has more concepts
    select p.*
    from main_periods as p
    where not exists (
        select 1
        from main_periods as o
        where o.cik = p.cik
          and (o.period_start, o.period_end) <> (p.period_start, p.period_end)
          and least(o.period_end, p.period_end) - greatest(o.period_start, p.period_start) > 31
          and (o.n_concepts > p.n_concepts
               or (o.n_concepts = p.n_concepts and o.period_end > p.period_end))
    )
),

reported_years as (
    select
        cik,
        {{ fiscal_year_label('period_end') }} as fiscal_year,
        period_start as fiscal_year_start,
        period_end as fiscal_year_end,
        n_concepts,
        'reported' as source
    from not_dominated
    qualify row_number() over (
        partition by cik, {{ fiscal_year_label('period_end') }} order by n_concepts desc, period_end desc
    ) = 1
),

year_to_date_starts as (
    -- first days of six- and nine-month periods, with how many concepts start there
    select cik, period_start, count(distinct taxonomy || ':' || concept) as n_concepts
    from {{ ref('financial_facts') }}
    where period_kind in ('half', 'nine_month')
      and taxonomy in ('us-gaap', 'ifrs-full')
    group by cik, period_start
),

inferred_candidates as (
    select
        s.cik,
        s.period_start as fiscal_year_start,
        (s.period_start + interval 1 year - interval 1 day)::date as fiscal_year_end,
        s.n_concepts
    from year_to_date_starts as s
    where not exists (
        -- a reported year (or its neighbourhood: 52/53-week calendars move the start by days) covers it
        select 1
        from reported_years as r
        where r.cik = s.cik
          and s.period_start between r.fiscal_year_start - interval 31 day and r.fiscal_year_end
    )
    qualify s.n_concepts >= 0.25 * max(s.n_concepts) over (partition by s.cik)
),

inferred_years as (
    select
        cik,
        {{ fiscal_year_label('fiscal_year_end') }} as fiscal_year,
        fiscal_year_start,
        fiscal_year_end,
        0 as n_concepts,
        'inferred' as source
    from inferred_candidates
    qualify row_number() over (
        partition by cik, {{ fiscal_year_label('fiscal_year_end') }} order by n_concepts desc, fiscal_year_start
    ) = 1
),

known_years as (
    select * from reported_years
    union all
    select i.*
    from inferred_years as i
    where not exists (
        select 1 from reported_years as r where r.cik = i.cik and r.fiscal_year = i.fiscal_year
    )
),

projected_years as (
    -- the year in progress after the last known fiscal year
    select
        cik,
        fiscal_year + 1 as fiscal_year,
        fiscal_year_end + interval 1 day as fiscal_year_start,
        (fiscal_year_end + interval 1 year)::date as fiscal_year_end,
        0 as n_concepts,
        'projected' as source
    from known_years
    qualify row_number() over (partition by cik order by fiscal_year_end desc) = 1
)

select
    cik,
    fiscal_year,
    fiscal_year_start::date as fiscal_year_start,
    fiscal_year_end::date as fiscal_year_end,
    ({{ duration_days('fiscal_year_start', 'fiscal_year_end') }})::integer as fiscal_year_days,
    n_concepts::integer as annual_concepts_reported,
    source,
    source <> 'reported' as is_projected
from (
    select * from known_years
    union all
    select * from projected_years
)
