-- The statement periods of each company: one row per fiscal year ('FY') and per fiscal quarter ('Q'),
-- with the dates every value of that period must match exactly.
--
-- A quarter's end date is the end most often reported for three-month or year-to-date periods closing
-- that quarter; Q4 ends on the fiscal year's last day. A quarter starts the day after the previous one
-- ends (Q1 on the fiscal year's first day). When the previous quarter of the fiscal year is unknown (no
-- period of the company's data closes it: the first quarter a company reported in XBRL, a prior-year
-- comparative, a Bronze holding only some quarters' filings), the quarter starts where the three-month
-- period the company reported for it starts (the one reported with the most facts), so its reported
-- values still have a home; with neither, its start is null. Year-to-date operands of quarter derivations
-- must start on `fiscal_year_start` (the SAME start date), and the previous year-to-date operand must end
-- on `prior_quarter_end` of the SAME fiscal year (null when the previous quarter is unknown: nothing is
-- derived across a gap).
with fiscal_years as (
    select * from {{ ref('int_fiscal_years') }}
),

periods as (
    select cik, period_start, period_end, period_kind, count(*) as n_facts
    from {{ ref('financial_facts') }}
    where taxonomy in ('us-gaap', 'ifrs-full')
      and period_kind in ('quarter', 'half', 'nine_month')
    group by cik, period_start, period_end, period_kind
),

placed as (
    select
        p.cik,
        p.period_start,
        p.period_end,
        p.period_kind,
        p.n_facts,
        fy.fiscal_year,
        least(4, greatest(1, round(
            ({{ duration_days('fy.fiscal_year_start', 'p.period_end') }}) * 4.0 / fy.fiscal_year_days
        )))::integer as fiscal_quarter
    from periods as p
    asof inner join fiscal_years as fy
        on p.cik = fy.cik and p.period_end >= fy.fiscal_year_start
    where p.period_end <= fy.fiscal_year_end
      -- year-to-date periods start on the fiscal year start; discrete quarters may start anywhere
      and (p.period_start = fy.fiscal_year_start or p.period_kind = 'quarter')
),

quarter_ends as (
    select cik, fiscal_year, fiscal_quarter, arg_max(period_end, n_facts) as quarter_end
    from (
        select cik, fiscal_year, fiscal_quarter, period_end, sum(n_facts) as n_facts
        from placed
        where fiscal_quarter < 4
        group by cik, fiscal_year, fiscal_quarter, period_end
    )
    group by cik, fiscal_year, fiscal_quarter
),

reported_quarter_starts as (
    -- per quarter end: the start of the three-month period reported with the most facts (tie: the later start)
    select cik, fiscal_year, period_end, arg_max(period_start, {n_facts: n_facts, period_start: period_start})
        as reported_start
    from placed
    where period_kind = 'quarter'
    group by cik, fiscal_year, period_end
),

quarters as (
    select cik, fiscal_year, fiscal_quarter, quarter_end from quarter_ends
    union all
    -- Q4 closes a reported fiscal year that has quarterly data
    select fy.cik, fy.fiscal_year, 4 as fiscal_quarter, fy.fiscal_year_end as quarter_end
    from fiscal_years as fy
    where not fy.is_projected
      and exists (select 1 from quarter_ends as q where q.cik = fy.cik and q.fiscal_year = fy.fiscal_year)
),

quarters_with_bounds as (
    select
        q.cik,
        q.fiscal_year,
        q.fiscal_quarter,
        fy.fiscal_year_start,
        fy.fiscal_year_end,
        q.quarter_end,
        r.reported_start,
        lag(q.quarter_end) over w as previous_end,
        lag(q.fiscal_quarter) over w as previous_quarter
    from quarters as q
    inner join fiscal_years as fy
        on fy.cik = q.cik and fy.fiscal_year = q.fiscal_year
    left join reported_quarter_starts as r
        on r.cik = q.cik and r.fiscal_year = q.fiscal_year and r.period_end = q.quarter_end
    window w as (partition by q.cik, q.fiscal_year order by q.fiscal_quarter)
)

select
    cik,
    fiscal_year,
    'Q' || fiscal_quarter        as fiscal_period,
    'Q'                          as period_type,
    fiscal_quarter,
    case
        when fiscal_quarter = 1 then fiscal_year_start
        when previous_quarter = fiscal_quarter - 1 then (previous_end + interval 1 day)::date
        -- the previous quarter is unknown: the reported three months, if they start after everything known
        when reported_start > coalesce(previous_end, fiscal_year_start) then reported_start
    end                          as period_start,
    quarter_end                  as period_end,
    fiscal_year_start,
    fiscal_year_end,
    case when previous_quarter = fiscal_quarter - 1 then previous_end end as prior_quarter_end,
    fiscal_year * 4 + fiscal_quarter - 1 as quarter_ordinal
from quarters_with_bounds

union all

select
    cik,
    fiscal_year,
    'FY'                         as fiscal_period,
    'FY'                         as period_type,
    null::integer                as fiscal_quarter,
    fiscal_year_start            as period_start,
    fiscal_year_end              as period_end,
    fiscal_year_start,
    fiscal_year_end,
    null::date                   as prior_quarter_end,
    null::integer                as quarter_ordinal
from fiscal_years
where not is_projected
