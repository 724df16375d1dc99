-- Every standardized statement value in long form, one row per (ticker, statement period, line item),
-- with full lineage: the concept that supplied it, how it was obtained, the filings (accession numbers)
-- and filing dates of the first-reported and of the latest value, and trailing-twelve-month sums.
--
-- TTM (quarterly rows of flow items only) is the sum of the four consecutive fiscal quarters ending with
-- this one, each as derived here, so a TTM value always agrees with its own quarters; it is null unless
-- all four quarters have a value. The TTM lineage lists every operand's accession number.
with v as (
    select * from {{ ref('int_statement_values_completed') }}
),

windowed as (
    -- one pass: the window over a company's quarters of a line item (FY rows get their own partition,
    -- whose TTM is discarded below)
    select
        *,
        count(value_first) over w4 as ttm_quarters,
        min(quarter_ordinal) over w4 as ttm_first_ordinal,
        sum(value_first) over w4 as sum_first,
        sum(value_latest) over w4 as sum_latest,
        max(filed_first) over w4 as max_filed_first,
        list(accessions_first) over w4 as ttm_accession_lists
    from v
    window w4 as (
        partition by cik, line_item, period_type order by quarter_ordinal rows between 3 preceding and current row
    )
),

with_ttm as (
    select
        * exclude (ttm_quarters, ttm_first_ordinal, sum_first, sum_latest, max_filed_first, ttm_accession_lists),
        (period_type = 'Q' and value_kind in ('flow', 'computed') and ttm_quarters = 4
         and ttm_first_ordinal = quarter_ordinal - 3) as has_ttm,
        sum_first, sum_latest, max_filed_first, ttm_accession_lists
    from windowed
),

s as (
    select
        *,
        case when has_ttm then sum_first end as ttm_value_first,
        case when has_ttm then sum_latest end as ttm_value_latest,
        case when has_ttm then max_filed_first end as ttm_filed_first,
        case when has_ttm then list_sort(list_distinct(flatten(ttm_accession_lists))) end as ttm_accessions_first
    from with_ttm
)

select
    c.ticker,
    s.cik,
    s.statement,
    s.line_item,
    s.value_kind,
    s.fiscal_year,
    s.fiscal_period,
    s.period_type,
    s.period_start,
    s.period_end,
    s.unit,
    s.taxonomy,
    s.concept,
    s.derivation,
    s.value_first                               as value,
    s.filed_first                               as filed,
    list_sort(s.accessions_first)               as accessions,
    s.source_accession_first                    as source_accession,
    s.value_latest,
    s.concept_latest,
    s.filed_latest,
    list_sort(s.accessions_latest)              as accessions_latest,
    s.source_accession_latest                   as source_accession_latest,
    coalesce(s.value_latest <> s.value_first, false) as is_restated,
    s.ttm_value_first                           as ttm_value,
    s.ttm_filed_first                           as ttm_filed,
    s.ttm_accessions_first                      as ttm_accessions,
    s.ttm_value_latest
from s
inner join {{ ref('companies') }} as c
    on c.cik = s.cik
