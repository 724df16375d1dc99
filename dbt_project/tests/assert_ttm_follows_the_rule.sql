-- The TTM rule, checked on every quarterly cell of gold.statement_lines, recomputed here independently of
-- the model's window (by fiscal year and quarter, not by row position):
--   ttm_value is filled  <=>  this quarter and the three previous fiscal quarters all have a row and a value,
--                             of one concept family, all public on this row's filed_at;
--   and then ttm_value = the sum of the four values.
-- Flow and computed items only; FY rows and other items never carry a TTM.
with q as (
    select
        *,
        fiscal_year * 4 + cast(right(fiscal_period, 1) as integer) - 1 as ordinal
    from {{ ref('statement_lines') }}
    where period_type = 'Q'
),

expected as (
    select
        cur.ticker, cur.line_item, cur.period_end, cur.ttm_value, cur.value_kind,
        count(prev.value) as n_values,
        count(distinct prev.concept_family) as n_families,
        count(prev.ordinal) as n_rows,
        max(prev.filed) as last_filed,
        sum(prev.value) as four_quarters,
        any_value(cur.filed_at) as filed_at
    from q as cur
    left join q as prev
        on prev.ticker = cur.ticker and prev.line_item = cur.line_item
       and prev.ordinal between cur.ordinal - 3 and cur.ordinal
    group by cur.ticker, cur.line_item, cur.period_end, cur.ttm_value, cur.value_kind
),

judged as (
    select
        *,
        value_kind in ('flow', 'computed') and n_rows = 4 and n_values = 4 and n_families = 1
            and last_filed <= filed_at as rule_holds
    from expected
)

select ticker, line_item, period_end, ttm_value, four_quarters, n_rows, n_values, n_families, last_filed, filed_at
from judged
where (rule_holds and (ttm_value is null or abs(ttm_value - four_quarters) > 1e-6 * greatest(1, abs(four_quarters))))
   or (not rule_holds and ttm_value is not null)

union all

select ticker, line_item, period_end, ttm_value, null, null, null, null, null, filed_at
from {{ ref('statement_lines') }}
where period_type = 'FY' and ttm_value is not null
