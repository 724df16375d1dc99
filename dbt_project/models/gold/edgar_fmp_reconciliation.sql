-- EDGAR (our Gold statements) against FMP for the same company, period and line item (seed
-- fmp_line_item_map), with the relative difference and a flag above the tolerance
-- (var reconciliation_tolerance, 0.5%). A vendor may carry the value as originally reported or as
-- restated, so FMP is compared with both the first- and the latest-reported EDGAR value and flagged only
-- when it matches neither. Per-share values and share counts are first put on FMP's basis (FMP restates
-- them for every later split: the EDGAR value is divided / multiplied by the splits after its filing).
-- The dbt test on `is_flagged` is the asset check that surfaces the differences.
{% set tolerance = var('reconciliation_tolerance', 0.005) %}
with fmp as (
    select f.ticker, f.period_type, f.period_end, f.fiscal_period, m.line_item, f.value * m.sign as fmp_value,
           f.field as fmp_field, f.source_api, f.filing_date as fmp_filing_date
    from {{ ref('fmp_fundamentals') }} as f
    inner join {{ ref('fmp_line_item_map') }} as m
        on m.fmp_dataset = f.dataset and m.fmp_field = f.field
),

edgar as (
    select
        l.*,
        li.unit_kind,
        coalesce((
            select exp(sum(ln(s.split_ratio)))
            from {{ ref('int_stock_splits') }} as s
            where s.ticker = l.ticker and s.split_date > l.filed_latest
        ), 1.0) as later_splits,
        coalesce((
            select exp(sum(ln(s.split_ratio)))
            from {{ ref('int_stock_splits') }} as s
            where s.ticker = l.ticker and s.split_date > l.first_reported_filed
        ), 1.0) as later_splits_first
    from {{ ref('statement_lines') }} as l
    inner join {{ ref('line_items') }} as li using (line_item)
),

compared as (
    select
        e.ticker,
        e.cik,
        e.statement,
        e.line_item,
        e.period_type,
        e.fiscal_year,
        e.fiscal_period,
        e.period_end,
        e.first_reported_value as edgar_value_first,
        e.value_latest as edgar_value_latest,
        e.source_accession_latest as edgar_accession,
        e.filed_latest as edgar_filed,
        case e.unit_kind
            when 'per_share' then e.value_latest / e.later_splits
            when 'shares' then e.value_latest * e.later_splits
            else e.value_latest
        end as edgar_latest_on_fmp_basis,
        case e.unit_kind
            when 'per_share' then e.first_reported_value / e.later_splits_first
            when 'shares' then e.first_reported_value * e.later_splits_first
            else e.first_reported_value
        end as edgar_first_on_fmp_basis,
        f.fmp_value,
        f.fmp_field,
        f.source_api as fmp_api,
        f.fmp_filing_date
    from edgar as e
    inner join fmp as f
        on f.ticker = e.ticker and f.period_type = e.period_type and f.period_end = e.period_end
       and f.line_item = e.line_item
    where e.value_latest is not null
),

differences as (
    select
        *,
        {{ relative_difference('fmp_value', 'edgar_latest_on_fmp_basis') }} as difference_to_latest,
        {{ relative_difference('fmp_value', 'edgar_first_on_fmp_basis') }} as difference_to_first
    from compared
)

select
    *,
    least(difference_to_latest, difference_to_first) as relative_difference,
    case
        when difference_to_latest <= {{ tolerance }} and difference_to_first <= {{ tolerance }} then 'both'
        when difference_to_latest <= {{ tolerance }} then 'latest'
        when difference_to_first <= {{ tolerance }} then 'first'
    end as fmp_matches,
    coalesce(least(difference_to_latest, difference_to_first) > {{ tolerance }}, true) as is_flagged
from differences
