-- A trailing-twelve-month value equals the sum of its own four consecutive quarters.
with q as (
    select
        l.*,
        sum(value) over w as four_quarters,
        count(value) over w as n,
        count(*) over w as n_rows
    from {{ ref('statement_lines') }} as l
    where period_type = 'Q'
    window w as (partition by ticker, line_item order by period_end rows between 3 preceding and current row)
)
select ticker, line_item, period_end, ttm_value, four_quarters
from q
where ttm_value is not null and (n <> 4 or abs(ttm_value - four_quarters) > 1e-6 * greatest(1, abs(ttm_value)))
