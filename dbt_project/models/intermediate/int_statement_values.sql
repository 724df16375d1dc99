-- One value per (company, statement period, line item), chosen from the ordered candidate concepts, as
-- first reported and as latest reported, with the filings it came from.
--
-- How a value is obtained (column `derivation`):
--   'reported'  the company reported exactly this period (FY: the fiscal year; Q: the three months;
--               balance sheet: the instant at the period end);
--   'H1 - Q1', '9M - H1', 'FY - 9M'
--               a discrete quarter of a FLOW item derived from year-to-date values: both operands of
--               the SAME concept, the SAME fiscal year and the SAME start date (the fiscal year start);
--               the first-reported value subtracts first-reported operands, the latest the latest ones.
--   'missing: <reason>'
--               no value: the quarter was not reported and an operand is missing. A year-to-date value
--               is never relabelled as a quarter and an operand never comes from another fiscal year.
-- Per-share and share-count items are never subtracted (see int_statement_values_completed).
-- Candidates are the concepts of seed line_item_concepts. The first-reported value is the one that became
-- public first under any candidate (a company switching concepts reported the period under the old one
-- first); the latest is the most recently reported one; on the same filing date the higher-priority
-- concept wins. So a company switching concepts over the years is followed period by period.
with periods as (
    select * from {{ ref('int_fiscal_periods') }}
),

facts as (
    select * from {{ ref('int_line_item_facts') }}
),

candidates as (
    -- the candidate concepts this company actually uses for each line item
    select distinct cik, statement, line_item, value_kind, priority, taxonomy, concept, unit
    from facts
),

grid as (
    select
        p.*,
        c.statement,
        c.line_item,
        c.value_kind,
        c.priority,
        c.taxonomy,
        c.concept,
        c.unit,
        case when c.value_kind = 'instant' then null else p.period_start end as lookup_start,
        -- quarter derivations apply to flow items of quarters 2-4 only
        (p.period_type = 'Q' and c.value_kind = 'flow' and p.fiscal_quarter >= 2) as is_derivable
    from periods as p
    inner join candidates as c
        on c.cik = p.cik
),

operands as (
    select
        g.*,
        cur.value_first     as cur_value_first,
        cur.filed_first     as cur_filed_first,
        cur.accession_first as cur_accession_first,
        cur.value_latest    as cur_value_latest,
        cur.filed_latest    as cur_filed_latest,
        cur.accession_latest as cur_accession_latest,
        ytd.value_first     as ytd_value_first,
        ytd.filed_first     as ytd_filed_first,
        ytd.accession_first as ytd_accession_first,
        ytd.value_latest    as ytd_value_latest,
        ytd.filed_latest    as ytd_filed_latest,
        ytd.accession_latest as ytd_accession_latest,
        prv.value_first     as prv_value_first,
        prv.filed_first     as prv_filed_first,
        prv.accession_first as prv_accession_first,
        prv.value_latest    as prv_value_latest,
        prv.filed_latest    as prv_filed_latest,
        prv.accession_latest as prv_accession_latest
    from grid as g
    -- the period itself (a three-month quarter, the fiscal year, or the instant at the period end)
    left join facts as cur
        on cur.cik = g.cik and cur.line_item = g.line_item and cur.concept = g.concept
       and cur.taxonomy = g.taxonomy and cur.unit = g.unit
       and cur.period_end = g.period_end
       and cur.period_start is not distinct from g.lookup_start
    -- year to date through this quarter, from the fiscal year start (Q4: the fiscal year)
    left join facts as ytd
        on g.is_derivable
       and ytd.cik = g.cik and ytd.line_item = g.line_item and ytd.concept = g.concept
       and ytd.taxonomy = g.taxonomy and ytd.unit = g.unit
       and ytd.period_start = g.fiscal_year_start and ytd.period_end = g.period_end
    -- year to date through the previous quarter of the same fiscal year, same start date
    left join facts as prv
        on g.is_derivable
       and prv.cik = g.cik and prv.line_item = g.line_item and prv.concept = g.concept
       and prv.taxonomy = g.taxonomy and prv.unit = g.unit
       and prv.period_start = g.fiscal_year_start and prv.period_end = g.prior_quarter_end
),

candidate_values as (
    -- each candidate concept's value for the period, as first and as latest reported
    select
        *,
        case
            when cur_value_first is not null then 'reported'
            when is_derivable and ytd_value_first is not null and prv_value_first is not null then
                case fiscal_quarter when 2 then 'H1 - Q1' when 3 then '9M - H1' else 'FY - 9M' end
        end as method
    from operands
),

candidate_lineage as (
    select
        *,
        case
            when method = 'reported' then cur_value_first
            when method is not null then ytd_value_first - prv_value_first
        end as value_first,
        case
            when method = 'reported' then cur_filed_first
            when method is not null then greatest(ytd_filed_first, prv_filed_first)
        end as filed_first,
        case
            when method = 'reported' then [cur_accession_first]
            when method is not null then list_distinct([ytd_accession_first, prv_accession_first])
        end as accessions_first,
        case
            when method = 'reported' then cur_accession_first
            when method is not null then
                case when ytd_filed_first >= prv_filed_first then ytd_accession_first else prv_accession_first end
        end as source_accession_first,
        case
            when method = 'reported' then cur_value_latest
            when method is not null then ytd_value_latest - prv_value_latest
        end as value_latest,
        case
            when method = 'reported' then cur_filed_latest
            when method is not null then greatest(ytd_filed_latest, prv_filed_latest)
        end as filed_latest,
        case
            when method = 'reported' then [cur_accession_latest]
            when method is not null then list_distinct([ytd_accession_latest, prv_accession_latest])
        end as accessions_latest,
        case
            when method = 'reported' then cur_accession_latest
            when method is not null then
                case when ytd_filed_latest >= prv_filed_latest then ytd_accession_latest else prv_accession_latest end
        end as source_accession_latest,
        'missing: ' || case
            when not is_derivable and period_type = 'Q' and value_kind = 'instant'
                then 'no value reported at the quarter end'
            when not is_derivable and period_type = 'Q' and value_kind = 'shares'
                then 'no three-month weighted-average share count reported (share counts are never subtracted)'
            when not is_derivable and period_type = 'Q'
                then 'no three-month value reported'
            when not is_derivable
                then 'no value reported for the fiscal year'
            when ytd_value_first is null then
                case fiscal_quarter
                    when 2 then 'no three-month value and no six-month year-to-date (H1) value reported'
                    when 3 then 'no three-month value and no nine-month year-to-date (9M) value reported'
                    else 'no three-month value and no fiscal-year (FY) value reported'
                end
            when prior_quarter_end is null then 'the previous quarter of the fiscal year is unknown'
            else case fiscal_quarter
                    when 2 then 'no Q1 value to subtract from H1'
                    when 3 then 'no six-month year-to-date (H1) value to subtract from 9M'
                    else 'no nine-month year-to-date (9M) value to subtract from FY'
                end || ' (operands must share the fiscal year start ' || strftime(fiscal_year_start, '%Y-%m-%d') || ')'
        end as missing_reason
    from candidate_values
),

chosen as (
    -- first reported: the candidate whose value became public first (a company that switched concepts
    -- published the period under the old one first); same day: the higher-priority concept.
    -- latest reported: the candidate reported most recently; same day: the higher-priority concept.
    select
        cik, line_item, period_type, period_end,
        arg_min(
            {taxonomy: taxonomy, concept: concept, method: method, value: value_first, filed: filed_first,
             accessions: accessions_first, source_accession: source_accession_first},
            {filed: filed_first, priority: priority, concept: concept}
        ) filter (where method is not null) as first_report,
        arg_max(
            {taxonomy: taxonomy, concept: concept, method: method, value: value_latest, filed: filed_latest,
             accessions: accessions_latest, source_accession: source_accession_latest},
            {filed: filed_latest, priority: -priority, concept: concept}
        ) filter (where method is not null) as latest_report,
        arg_min(missing_reason, {no_ytd: ytd_value_first is null, priority: priority, concept: concept})
            as missing_reason
    from candidate_lineage
    group by cik, line_item, period_type, period_end
),

period_items as (
    select distinct
        cik, statement, line_item, value_kind, fiscal_year, fiscal_period, period_type, fiscal_quarter,
        quarter_ordinal, period_start, period_end, fiscal_year_start, prior_quarter_end, unit
    from grid
)

select
    p.cik,
    p.statement,
    p.line_item,
    p.value_kind,
    p.fiscal_year,
    p.fiscal_period,
    p.period_type,
    p.fiscal_quarter,
    p.quarter_ordinal,
    p.period_start,
    p.period_end,
    p.fiscal_year_start,
    p.prior_quarter_end,
    p.unit,
    c.first_report.taxonomy            as taxonomy,
    c.first_report.concept             as concept,
    c.first_report.value               as value_first,
    c.first_report.filed               as filed_first,
    c.first_report.accessions          as accessions_first,
    c.first_report.source_accession    as source_accession_first,
    c.latest_report.concept            as concept_latest,
    c.latest_report.value              as value_latest,
    c.latest_report.filed              as filed_latest,
    c.latest_report.accessions         as accessions_latest,
    c.latest_report.source_accession   as source_accession_latest,
    coalesce(c.first_report.method, c.missing_reason) as derivation
from period_items as p
inner join chosen as c
    on c.cik = p.cik and c.line_item = p.line_item and c.period_type = p.period_type
   and c.period_end = p.period_end
