-- Every standardized statement value in long form, one row per (ticker, statement period, line item),
-- with full lineage. The wide statements (income_statement, balance_sheet, cash_flow) are plain pivots of
-- this table: every cell they show is a column of one row here (`<item>` = value, `<item>_latest` =
-- value_latest, `_concept`, `_derivation`, `_filed`, `_accessions`, `_ttm` = ttm_value), so the two
-- forms cannot disagree. The point-in-time rules are applied HERE, once:
--
-- * The statement of a period is stamped with its PRIMARY filing (`filed_at`, `accession_number`): the
--   filing that first published most of its values (ties: the earliest). A value first reported in a
--   LATER filing (the company started tagging the concept a year later, say) is not part of that
--   statement: `value` and its lineage are null, `derivation` says when it was first reported, and
--   `first_reported_*` / `value_latest` keep it. Every non-null `value` was public on `filed_at`.
-- * TTM (quarterly rows of flow and computed items) = the sum of the values of this and the three
--   previous consecutive fiscal quarters, null unless all four rows exist, all four have a value, the
--   four values are of one concept family (int_concept_families: no sum across a change of economic
--   line) and all four were public on this row's `filed_at`. `ttm_derivation` says which condition failed.
--   So a TTM always equals the sum of the four quarter values shown. `ttm_value_latest` applies the same
--   rule to the latest values (without the point-in-time condition).
-- * `is_restated`: the latest value differs from the first-reported one, like with like (same concept
--   family); a later presentation under a concept of another family is a concept change
--   (`is_concept_changed`, `changed_concept*`), not a restatement.
with v as (
    select * from {{ ref('int_statement_values_completed') }}
),

primary_filing as (
    select cik, statement, period_type, period_end, source_accession_first as accession_number, first_filed as filed_at
    from (
        select
            cik, statement, period_type, period_end, source_accession_first,
            count(*) as n_values, min(filed_first) as first_filed
        from v
        where value_first is not null
        group by cik, statement, period_type, period_end, source_accession_first
    )
    qualify row_number() over (
        partition by cik, statement, period_type, period_end
        order by n_values desc, first_filed, source_accession_first
    ) = 1
),

point_in_time as (
    select
        v.*,
        p.filed_at,
        p.accession_number,
        coalesce(v.value_first is not null and v.filed_first > p.filed_at, false) as is_late
    from v
    left join primary_filing as p
        on p.cik = v.cik and p.statement = v.statement and p.period_type = v.period_type
       and p.period_end = v.period_end
),

shown as (
    select
        *,
        case when not is_late then value_first end             as value,
        case when not is_late then taxonomy end                as shown_taxonomy,
        case when not is_late then concept end                 as shown_concept,
        case when not is_late then concept_family end          as shown_family,
        case when not is_late then filed_first end             as filed,
        case when not is_late then accessions_first end        as accessions,
        case when not is_late then source_accession_first end  as source_accession,
        case
            when is_late then 'not in this filing: first reported ' || strftime(filed_first, '%Y-%m-%d')
                              || ' (' || source_accession_first || '), see the latest value'
            else derivation
        end                                                    as shown_derivation
    from point_in_time
),

ttm_windows as (
    -- one pass over a company's quarters of a flow (or computed) line item: the four quarters ending with
    -- each one (only these rows carry a TTM, so only they are windowed)
    select
        cik, line_item, period_type, period_end,
        count(*) over w4 as w_rows,
        min(quarter_ordinal) over w4 as w_first_ordinal,
        count(value) over w4 as w_values,
        min(shown_family) over w4 as w_family_min,
        max(shown_family) over w4 as w_family_max,
        max(filed) over w4 as w_filed,
        sum(value) over w4 as w_sum,
        list(accessions) over w4 as w_accessions,
        count(value_latest) over w4 as w_latest_values,
        min(concept_family_latest) over w4 as w_latest_family_min,
        max(concept_family_latest) over w4 as w_latest_family_max,
        sum(value_latest) over w4 as w_latest_sum
    from shown
    where period_type = 'Q' and value_kind in ('flow', 'computed')
    window w4 as (partition by cik, line_item order by quarter_ordinal rows between 3 preceding and current row)
),

with_ttm as (
    select
        s.*,
        t.* exclude (cik, line_item, period_type, period_end),
        case
            when t.cik is null then null
            when t.w_rows < 4 or t.w_first_ordinal <> s.quarter_ordinal - 3
                then 'missing: the three previous fiscal quarters are not all in the statements'
            when t.w_values < 4
                then 'missing: ' || (4 - t.w_values) || ' of the four quarters ha'
                     || case when t.w_values = 3 then 's' else 've' end || ' no value'
            when t.w_family_min <> t.w_family_max
                then 'missing: the four quarters come from different concept families ('
                     || t.w_family_min || ', ' || t.w_family_max || ')'
            when t.w_filed > s.filed_at
                then 'missing: a quarter was first reported on ' || strftime(t.w_filed, '%Y-%m-%d')
                     || ', after this statement''s filing (' || strftime(s.filed_at, '%Y-%m-%d') || ')'
            else 'sum of 4 quarters'
        end as ttm_derivation,
        coalesce(t.w_rows = 4 and t.w_first_ordinal = s.quarter_ordinal - 3 and t.w_latest_values = 4
                 and t.w_latest_family_min = t.w_latest_family_max, false) as has_ttm_latest
    from shown as s
    left join ttm_windows as t
        on t.cik = s.cik and t.line_item = s.line_item and t.period_type = s.period_type
       and t.period_end = s.period_end
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
    s.filed_at,
    s.accession_number,
    s.shown_taxonomy                            as taxonomy,
    s.shown_concept                             as concept,
    s.shown_family                              as concept_family,
    s.shown_derivation                          as derivation,
    s.value,
    s.filed,
    s.accessions,
    s.source_accession,
    s.sanity_failure,
    s.value_first                               as first_reported_value,
    s.filed_first                               as first_reported_filed,
    s.source_accession_first                    as first_reported_accession,
    s.concept                                   as first_reported_concept,
    s.derivation                                as first_reported_derivation,
    s.value_latest,
    s.concept_latest,
    s.concept_family_latest,
    s.filed_latest,
    s.accessions_latest,
    s.source_accession_latest,
    coalesce(s.value_latest <> s.value_first, false) as is_restated,
    s.changed_concept is not null               as is_concept_changed,
    s.changed_concept,
    s.changed_concept_value,
    s.changed_concept_filed,
    s.changed_concept_accession,
    case when s.ttm_derivation = 'sum of 4 quarters' then s.w_sum end as ttm_value,
    case when s.ttm_derivation = 'sum of 4 quarters' then s.w_filed end as ttm_filed,
    case when s.ttm_derivation = 'sum of 4 quarters' then list_sort(list_distinct(flatten(s.w_accessions))) end
                                                as ttm_accessions,
    s.ttm_derivation,
    case when s.has_ttm_latest then s.w_latest_sum end as ttm_value_latest
from with_ttm as s
inner join {{ ref('companies') }} as c
    on c.cik = s.cik
