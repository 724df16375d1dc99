-- int_statement_values plus the values that are computed from other line items of the SAME period:
--   * per-share values the company did not report for the period (typically Q4 EPS): net income of the
--     period / weighted-average shares of the period, when both exist; never FY EPS minus quarterly EPS
--     (share counts move). derivation says 'net_income / shares_diluted' (or _basic), or why it is null;
--   * free_cash_flow = operating_cash_flow - capex of the same period.
-- Lineage of a computed value: the accession numbers of all its operands, and the latest of their
-- filing dates.
with v as (
    select * from {{ ref('int_statement_values') }}
),

per_share as (
    select
        e.*,
        ni.value_first      as ni_value_first,
        ni.value_latest     as ni_value_latest,
        ni.filed_first      as ni_filed_first,
        ni.filed_latest     as ni_filed_latest,
        ni.accessions_first as ni_accessions_first,
        ni.source_accession_first as ni_source_first,
        ni.source_accession_latest as ni_source_latest,
        ni.accessions_latest as ni_accessions_latest,
        sh.line_item        as shares_item,
        sh.value_first      as sh_value_first,
        sh.value_latest     as sh_value_latest,
        sh.filed_first      as sh_filed_first,
        sh.filed_latest     as sh_filed_latest,
        sh.accessions_first as sh_accessions_first,
        sh.source_accession_first as sh_source_first,
        sh.source_accession_latest as sh_source_latest,
        sh.accessions_latest as sh_accessions_latest
    from v as e
    left join v as ni
        on ni.cik = e.cik and ni.period_type = e.period_type and ni.period_end = e.period_end
       and ni.line_item = 'net_income'
    left join v as sh
        on sh.cik = e.cik and sh.period_type = e.period_type and sh.period_end = e.period_end
       and sh.line_item = case e.line_item when 'eps_diluted' then 'shares_diluted' else 'shares_basic' end
    where e.value_kind = 'per_share'
),

per_share_completed as (
    select
        cik, statement, line_item, value_kind, fiscal_year, fiscal_period, period_type, fiscal_quarter,
        quarter_ordinal, period_start, period_end, fiscal_year_start, prior_quarter_end, unit,
        taxonomy, concept,
        case when computable then null else concept_latest end as concept_latest,
        case when computable then ni_value_first / sh_value_first else value_first end as value_first,
        case when computable then greatest(ni_filed_first, sh_filed_first) else filed_first end as filed_first,
        case when computable then list_distinct(ni_accessions_first || sh_accessions_first)
             else accessions_first end as accessions_first,
        case
            when not computable then source_accession_first
            when ni_filed_first >= sh_filed_first then ni_source_first
            else sh_source_first
        end as source_accession_first,
        case when computable then ni_value_latest / sh_value_latest else value_latest end as value_latest,
        case when computable then greatest(ni_filed_latest, sh_filed_latest) else filed_latest end as filed_latest,
        case when computable then list_distinct(ni_accessions_latest || sh_accessions_latest)
             else accessions_latest end as accessions_latest,
        case
            when not computable then source_accession_latest
            when ni_filed_latest >= sh_filed_latest then ni_source_latest
            else sh_source_latest
        end as source_accession_latest,
        case
            when value_first is not null then derivation
            when computable then 'net_income / ' || shares_item
            else 'missing: per-share values are never subtracted across periods, and '
                || case when ni_value_first is null then 'no net income'
                        else 'no weighted-average ' || replace(shares_item, 'shares_', '') || ' shares'
                   end || ' for the period to compute it from'
        end as derivation
    from (
        select
            *,
            (value_first is null and ni_value_first is not null and sh_value_first is not null
             and sh_value_first <> 0 and sh_value_latest <> 0) as computable
        from per_share
    )
),

cash as (
    select
        ocf.cik, ocf.fiscal_year, ocf.fiscal_period, ocf.period_type, ocf.fiscal_quarter, ocf.quarter_ordinal,
        ocf.period_start, ocf.period_end, ocf.fiscal_year_start, ocf.prior_quarter_end, ocf.unit,
        ocf.value_first as ocf_first, ocf.value_latest as ocf_latest,
        ocf.filed_first as ocf_filed_first, ocf.filed_latest as ocf_filed_latest,
        ocf.accessions_first as ocf_accessions_first, ocf.accessions_latest as ocf_accessions_latest,
        ocf.source_accession_first as ocf_source_first, ocf.source_accession_latest as ocf_source_latest,
        capex.value_first as capex_first, capex.value_latest as capex_latest,
        capex.filed_first as capex_filed_first, capex.filed_latest as capex_filed_latest,
        capex.accessions_first as capex_accessions_first, capex.accessions_latest as capex_accessions_latest,
        capex.source_accession_first as capex_source_first, capex.source_accession_latest as capex_source_latest
    from v as ocf
    left join v as capex
        on capex.cik = ocf.cik and capex.period_type = ocf.period_type and capex.period_end = ocf.period_end
       and capex.line_item = 'capex'
    where ocf.line_item = 'operating_cash_flow'
),

free_cash_flow as (
    select
        cik,
        'cash_flow' as statement,
        'free_cash_flow' as line_item,
        'computed' as value_kind,
        fiscal_year, fiscal_period, period_type, fiscal_quarter, quarter_ordinal, period_start, period_end,
        fiscal_year_start, prior_quarter_end, unit,
        null::varchar as taxonomy,
        null::varchar as concept,
        null::varchar as concept_latest,
        ocf_first - capex_first as value_first,
        case when ocf_first is not null and capex_first is not null
             then greatest(ocf_filed_first, capex_filed_first) end as filed_first,
        case when ocf_first is not null and capex_first is not null
             then list_distinct(ocf_accessions_first || capex_accessions_first) end as accessions_first,
        case when ocf_first is not null and capex_first is not null then
            case when ocf_filed_first >= capex_filed_first then ocf_source_first else capex_source_first end
        end as source_accession_first,
        ocf_latest - capex_latest as value_latest,
        case when ocf_first is not null and capex_first is not null
             then greatest(ocf_filed_latest, capex_filed_latest) end as filed_latest,
        case when ocf_first is not null and capex_first is not null
             then list_distinct(ocf_accessions_latest || capex_accessions_latest) end as accessions_latest,
        case when ocf_first is not null and capex_first is not null then
            case when ocf_filed_latest >= capex_filed_latest then ocf_source_latest else capex_source_latest end
        end as source_accession_latest,
        case
            when ocf_first is not null and capex_first is not null then 'operating_cash_flow - capex'
            when ocf_first is null then 'missing: no operating cash flow for the period'
            else 'missing: no capital expenditure for the period'
        end as derivation
    from cash
)

select * from v where value_kind <> 'per_share'
union all by name
select * from per_share_completed
union all by name
select * from free_cash_flow
