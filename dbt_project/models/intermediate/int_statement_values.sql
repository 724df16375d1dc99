-- One value per (company, statement period, line item), chosen from the ordered candidate concepts, as
-- first reported and as latest reported, with the filings it came from.
--
-- How a candidate concept gives a value for a period (`derivation`):
--   'reported'  the company reported exactly this period (FY: the fiscal year; Q: the three months;
--               balance sheet: the instant at the period end);
--   'H1 - Q1', '9M - H1', 'FY - 9M'
--               a discrete quarter of a FLOW item derived from year-to-date values of the SAME fiscal
--               year and the SAME start date (the fiscal year start), from ONE concept family: the year
--               to date through the quarter is the candidate concept's; the one it subtracts is of the
--               same concept, or of another concept of its family that published the same number
--               earlier (PLTR tagged its nine months "including assessed tax" in its 10-Q and its year
--               "excluding" in its 10-K) or is the only one reported; the first-reported value subtracts
--               first-reported operands, the latest the latest ones.
--               Filing date and accession are those of the later operand: the filing that made the
--               quarter knowable (for Q4, the 10-K that completed the year, not a later 10-Q repeating a
--               comparative).
-- When a candidate has both, the first-reported value is the one public first (a quarter derivable from
-- the 10-K before any filing reported the three months; same day: the reported one) and the latest is the
-- reported one (the company's own figure; a derivation could mix operands re-reported at different times).
--
-- Sanity rules for derived quarters of a flow that cannot reverse within a year (seed line_items
-- `can_reverse` = false: revenue, costs, capex, dividends, buybacks, ...): the quarter has the sign of
-- its year-to-date value and is not larger than it, nor than the fiscal year's value of the same concept,
-- in absolute value. A derived value that breaks one is never published: it is not a candidate, and if no
-- other candidate gives a value the line is null, `sanity_failure` says which rule failed with the
-- numbers, and the warn-severity test assert_derived_quarters_pass_sanity_rules lists it.
--
-- Choosing among candidates (seed line_item_concepts, documented per line item):
--   first reported  the candidate value that became public first; same day: the higher priority;
--   latest          LIKE WITH LIKE: the most recently reported value of a concept of the SAME concept family
--                   (int_concept_families) as the first-reported one; same day: the higher priority.
--                   So a later filing that presents the period under a concept of another family (total
--                   revenues and other income instead of contract revenue) does not change `value_latest`
--                   and is not a restatement: it is recorded as a concept change (`changed_concept`,
--                   `changed_concept_value`, `changed_concept_filed`, `changed_concept_accession`).
-- Per-share and share-count items are never subtracted (see int_statement_values_completed).
with periods as (
    select * from {{ ref('int_fiscal_periods') }}
),

facts as (
    select * from {{ ref('int_line_item_facts') }}
),

families as (
    select cik, line_item, taxonomy, concept, concept_family, len(family_concepts) > 1 as has_siblings
    from {{ ref('int_concept_families') }}
),

family_facts as (
    -- per concept family and period: the report public first and the latest report among its concepts
    -- (same day: the higher-priority concept), the operand a derivation subtracts
    select
        f.cik, f.line_item, fam.concept_family, f.unit, f.period_start, f.period_end,
        arg_min(
            {value: f.value_first, filed: f.filed_first, accession: f.accession_first, accessions: f.accessions_first},
            {filed: f.filed_first, priority: f.priority}
        ) as first_report,
        arg_max(
            {value: f.value_latest, filed: f.filed_latest, accession: f.accession_latest, accessions: f.accessions_latest},
            {filed: f.filed_latest, priority: -f.priority}
        ) as latest_report
    from facts as f
    inner join families as fam
        on fam.cik = f.cik and fam.line_item = f.line_item and fam.taxonomy = f.taxonomy and fam.concept = f.concept
    -- only what a derivation can subtract: year-to-date periods shorter than a year, of families with more
    -- than one concept (a one-concept family's operand is the concept's own fact)
    where f.value_kind = 'flow' and fam.has_siblings and datediff('day', f.period_start, f.period_end) < 300
    group by f.cik, f.line_item, fam.concept_family, f.unit, f.period_start, f.period_end
),

candidates as (
    -- the candidate concepts this company actually uses for each line item, with its concept family
    select distinct
        f.cik, f.statement, f.line_item, f.value_kind, f.can_reverse, f.priority, f.taxonomy, f.concept, f.unit,
        fam.concept_family
    from facts as f
    inner join families as fam
        on fam.cik = f.cik and fam.line_item = f.line_item and fam.taxonomy = f.taxonomy and fam.concept = f.concept
),

grid as (
    select
        p.*,
        c.statement,
        c.line_item,
        c.value_kind,
        c.can_reverse,
        c.priority,
        c.taxonomy,
        c.concept,
        c.concept_family,
        c.unit,
        case when c.value_kind = 'instant' then null else p.period_start end as lookup_start,
        -- quarter derivations apply to flow items of quarters 2-4 only
        (p.period_type = 'Q' and c.value_kind = 'flow' and p.fiscal_quarter >= 2) as is_derivable,
        case p.fiscal_quarter when 2 then 'H1 - Q1' when 3 then '9M - H1' when 4 then 'FY - 9M' end as derived_method
    from periods as p
    inner join candidates as c
        on c.cik = p.cik
),

operands as (
    select
        g.*,
        cur.value_first      as cur_value_first,
        cur.filed_first      as cur_filed_first,
        cur.accession_first  as cur_accession_first,
        cur.accessions_first as cur_accessions_first,
        cur.value_latest     as cur_value_latest,
        cur.filed_latest     as cur_filed_latest,
        cur.accession_latest as cur_accession_latest,
        cur.accessions_latest as cur_accessions_latest,
        ytd.value_first      as ytd_value_first,
        ytd.filed_first      as ytd_filed_first,
        ytd.accession_first  as ytd_accession_first,
        ytd.accessions_first as ytd_accessions_first,
        ytd.value_latest     as ytd_value_latest,
        ytd.filed_latest     as ytd_filed_latest,
        ytd.accession_latest as ytd_accession_latest,
        ytd.accessions_latest as ytd_accessions_latest,
        -- the subtracted year to date: the candidate's own concept, or a concept of its family that published
        -- the SAME number earlier (or the only one reported); never another number of the family, which
        -- would mix a restated operand with an unrestated one
        case
            when prs.value_first is null and prf.first_report is null then null
            when prs.value_first is null then prf.first_report
            when prf.first_report.filed < prs.filed_first
                 and {{ same_amount('prf.first_report.value', 'prs.value_first') }} then prf.first_report
            else {value: prs.value_first, filed: prs.filed_first, accession: prs.accession_first,
                  accessions: prs.accessions_first}
        end as prv_first,
        case
            when prs.value_latest is null then prf.latest_report
            else {value: prs.value_latest, filed: prs.filed_latest, accession: prs.accession_latest,
                  accessions: prs.accessions_latest}
        end as prv_latest,
        fy.value_first       as fy_value_first,
        fy.value_latest      as fy_value_latest
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
    -- year to date through the previous quarter of the same fiscal year, same start date: same concept ...
    left join facts as prs
        on g.is_derivable
       and prs.cik = g.cik and prs.line_item = g.line_item and prs.concept = g.concept
       and prs.taxonomy = g.taxonomy and prs.unit = g.unit
       and prs.period_start = g.fiscal_year_start and prs.period_end = g.prior_quarter_end
    -- ... and its concept family
    left join family_facts as prf
        on g.is_derivable
       and prf.cik = g.cik and prf.line_item = g.line_item and prf.concept_family = g.concept_family
       and prf.unit = g.unit
       and prf.period_start = g.fiscal_year_start and prf.period_end = g.prior_quarter_end
    -- the fiscal year of the same concept (sanity bound of a derived Q2/Q3 of a flow that cannot reverse)
    left join facts as fy
        on g.is_derivable and not g.can_reverse and g.fiscal_quarter < 4
       and fy.cik = g.cik and fy.line_item = g.line_item and fy.concept = g.concept
       and fy.taxonomy = g.taxonomy and fy.unit = g.unit
       and fy.period_start = g.fiscal_year_start and fy.period_end = g.fiscal_year_end
),

derived as (
    select
        * exclude (prv_first, prv_latest),
        prv_first.value       as prv_value_first,
        prv_first.filed       as prv_filed_first,
        prv_first.accession   as prv_accession_first,
        prv_first.accessions  as prv_accessions_first,
        prv_latest.value      as prv_value_latest,
        prv_latest.filed      as prv_filed_latest,
        prv_latest.accession  as prv_accession_latest,
        prv_latest.accessions as prv_accessions_latest,
        ytd_value_first - prv_first.value as der_value_first,
        ytd_value_latest - prv_latest.value as der_value_latest
    from operands
),

checked as (
    -- which derived values break a sanity rule (null: none, or not derived)
    select
        *,
        {{ derived_quarter_sanity('der_value_first', 'ytd_value_first', 'fy_value_first') }} as sanity_first,
        {{ derived_quarter_sanity('der_value_latest', 'ytd_value_latest', 'fy_value_latest') }} as sanity_latest
    from derived
),

options as (
    select
        *,
        cur_value_first is not null as reported_first_ok,
        der_value_first is not null and sanity_first is null as derived_first_ok,
        cur_value_latest is not null as reported_latest_ok,
        der_value_latest is not null and sanity_latest is null as derived_latest_ok,
        greatest(ytd_filed_first, prv_filed_first) as der_filed_first,
        greatest(ytd_filed_latest, prv_filed_latest) as der_filed_latest
    from checked
),

candidate_values as (
    select
        *,
        -- the value public first: reported vs derived; same day: reported
        case
            when reported_first_ok and (not derived_first_ok or cur_filed_first <= der_filed_first) then 'reported'
            when derived_first_ok then derived_method
        end as method_first,
        -- the latest: the company's own figure for the period when it reported one (a derivation from
        -- operands re-reported at different times would mix vintages), else the derivation
        case
            when reported_latest_ok then 'reported'
            when derived_latest_ok then derived_method
        end as method_latest
    from options
),

candidate_lineage as (
    select
        *,
        case when method_first = 'reported' then cur_value_first
             when method_first is not null then der_value_first end as value_first,
        case when method_first = 'reported' then cur_filed_first
             when method_first is not null then der_filed_first end as filed_first,
        case when method_first = 'reported' then cur_accessions_first
             when method_first is not null then list_sort(list_distinct(ytd_accessions_first || prv_accessions_first))
        end as accessions_first,
        case when method_first = 'reported' then cur_accession_first
             when method_first is not null then
                 case when ytd_filed_first >= prv_filed_first then ytd_accession_first else prv_accession_first end
        end as source_accession_first,
        case when method_latest = 'reported' then cur_value_latest
             when method_latest is not null then der_value_latest end as value_latest,
        case when method_latest = 'reported' then cur_filed_latest
             when method_latest is not null then der_filed_latest end as filed_latest,
        case when method_latest = 'reported' then cur_accessions_latest
             when method_latest is not null then list_sort(list_distinct(ytd_accessions_latest || prv_accessions_latest))
        end as accessions_latest,
        case when method_latest = 'reported' then cur_accession_latest
             when method_latest is not null then
                 case when ytd_filed_latest >= prv_filed_latest then ytd_accession_latest else prv_accession_latest end
        end as source_accession_latest,
        -- a derived first-reported value that was rejected, and nothing else took its place
        case when method_first is null then sanity_first end as rejection,
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
            when prv_value_first is null then case fiscal_quarter
                    when 2 then 'no Q1 value to subtract from H1'
                    when 3 then 'no six-month year-to-date (H1) value to subtract from 9M'
                    else 'no nine-month year-to-date (9M) value to subtract from FY'
                end || ' (operands must share the fiscal year start ' || strftime(fiscal_year_start, '%Y-%m-%d') || ')'
            else 'derived value rejected: ' || sanity_first
        end as missing_reason
    from candidate_values
),

chosen_first as (
    -- first reported: the candidate whose value became public first (a company that switched concepts
    -- published the period under the old one first); same day: the higher-priority concept
    select
        cik, line_item, period_type, period_end,
        arg_min(
            {taxonomy: taxonomy, concept: concept, family: concept_family, method: method_first, value: value_first,
             filed: filed_first, accessions: accessions_first, source_accession: source_accession_first},
            {filed: filed_first, priority: priority, concept: concept}
        ) filter (where method_first is not null) as first_report,
        arg_min(missing_reason, {no_ytd: ytd_value_first is null, priority: priority, concept: concept})
            as missing_reason,
        arg_min(rejection, {priority: priority, concept: concept}) filter (where rejection is not null) as rejection
    from candidate_lineage
    group by cik, line_item, period_type, period_end
),

chosen as (
    -- latest: like with like (the first-reported value's concept family; any family when nothing was
    -- first reported); the most recent report of ANY family tells whether the concept changed
    select
        cv.cik, cv.line_item, cv.period_type, cv.period_end,
        any_value(cf.first_report) as first_report,
        any_value(cf.missing_reason) as missing_reason,
        any_value(cf.rejection) as rejection,
        arg_max(
            {taxonomy: cv.taxonomy, concept: cv.concept, family: cv.concept_family, value: cv.value_latest,
             filed: cv.filed_latest, accessions: cv.accessions_latest, source_accession: cv.source_accession_latest},
            {filed: cv.filed_latest, priority: -cv.priority, concept: cv.concept}
        ) filter (where cv.method_latest is not null
                    and (cf.first_report is null or cv.concept_family = cf.first_report.family)) as latest_report,
        arg_max(
            {concept: cv.concept, family: cv.concept_family, value: cv.value_latest, filed: cv.filed_latest,
             source_accession: cv.source_accession_latest},
            {filed: cv.filed_latest, priority: -cv.priority, concept: cv.concept}
        ) filter (where cv.method_latest is not null) as most_recent_report
    from candidate_lineage as cv
    inner join chosen_first as cf
        on cf.cik = cv.cik and cf.line_item = cv.line_item and cf.period_type = cv.period_type
       and cf.period_end = cv.period_end
    group by cv.cik, cv.line_item, cv.period_type, cv.period_end
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
    c.first_report.family              as concept_family,
    c.first_report.value               as value_first,
    c.first_report.filed               as filed_first,
    c.first_report.accessions          as accessions_first,
    c.first_report.source_accession    as source_accession_first,
    c.latest_report.concept            as concept_latest,
    c.latest_report.family             as concept_family_latest,
    c.latest_report.value              as value_latest,
    c.latest_report.filed              as filed_latest,
    c.latest_report.accessions         as accessions_latest,
    c.latest_report.source_accession   as source_accession_latest,
    -- the line as the company most recently presented it, when that is a concept of another family
    case when c.most_recent_report.family <> c.latest_report.family then c.most_recent_report.concept end
                                       as changed_concept,
    case when c.most_recent_report.family <> c.latest_report.family then c.most_recent_report.value end
                                       as changed_concept_value,
    case when c.most_recent_report.family <> c.latest_report.family then c.most_recent_report.filed end
                                       as changed_concept_filed,
    case when c.most_recent_report.family <> c.latest_report.family then c.most_recent_report.source_accession end
                                       as changed_concept_accession,
    case when c.first_report is null then c.rejection end as sanity_failure,
    coalesce(c.first_report.method, c.missing_reason) as derivation
from period_items as p
inner join chosen as c
    on c.cik = p.cik and c.line_item = p.line_item and c.period_type = p.period_type
   and c.period_end = p.period_end
