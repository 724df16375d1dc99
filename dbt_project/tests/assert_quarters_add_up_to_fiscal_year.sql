-- Q1 + Q2 + Q3 + Q4 = FY for flow items, where the five values are all present and none was restated
-- (a restatement legitimately breaks the sum of first-reported values). Tolerance: the companies' own
-- rounding (each of the five values is rounded to the reporting unit, up to 0.5 million each) or 0.5%.
{{ config(severity='warn') }}
with quarters as (
    select ticker, fiscal_year, line_item, sum(value) as quarters_sum, count(value) as n,
           bool_or(is_restated) as any_restated
    from {{ ref('statement_lines') }}
    where period_type = 'Q' and value_kind in ('flow', 'computed')
    group by ticker, fiscal_year, line_item
)
select q.ticker, q.fiscal_year, q.line_item, q.quarters_sum, f.value as fiscal_year_value
from quarters as q
inner join {{ ref('statement_lines') }} as f
    on f.ticker = q.ticker and f.fiscal_year = q.fiscal_year and f.line_item = q.line_item and f.period_type = 'FY'
where q.n = 4 and not q.any_restated and not f.is_restated
  and abs(q.quarters_sum - f.value) > greatest(2.5e6, 0.005 * abs(f.value))
