-- int_statement_values plus the values that are computed from other line items of the SAME period:
--   * per-share values the company did not report for the period (typically Q4 EPS): net income of the
--     period / weighted-average shares of the period, when both exist; never FY EPS minus quarterly EPS
--     (share counts move). derivation says 'net_income / shares_diluted' (or _basic), or why it is null;
--   * free_cash_flow = operating_cash_flow - capex of the same period;
--   * temporary_equity, when the company tagged none for a balance sheet whose total it reported: the
--     residual liabilities_and_equity - total_liabilities - equity including noncontrolling interest
--     (total_equity, else stockholders_equity + noncontrolling_interest), when it is positive and more
--     than 0.5% of the total. Such a balance sheet carries an equity component outside the standard
--     concepts (PLTR's redeemable convertible preferred stock before its listing, tagged with a company
--     concept); the residual names it, with its operands as lineage, so the balance identity holds
--     honestly instead of being waived.
-- Lineage of a computed value: the accession numbers of all its operands, and the latest of their
-- filing dates. Its concept is null and its concept family names the operands' families.
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
        case when computable then 'net_income / ' || shares_item else concept_family end as concept_family,
        case when computable then null else concept_latest end as concept_latest,
        case when computable then 'net_income / ' || shares_item else concept_family_latest end
            as concept_family_latest,
        case when computable then null else changed_concept end as changed_concept,
        case when computable then null else changed_concept_value end as changed_concept_value,
        case when computable then null else changed_concept_filed end as changed_concept_filed,
        case when computable then null else changed_concept_accession end as changed_concept_accession,
        case when computable then ni_value_first / sh_value_first else value_first end as value_first,
        case when computable then greatest(ni_filed_first, sh_filed_first) else filed_first end as filed_first,
        case when computable then list_sort(list_distinct(ni_accessions_first || sh_accessions_first))
             else accessions_first end as accessions_first,
        case
            when not computable then source_accession_first
            when ni_filed_first >= sh_filed_first then ni_source_first
            else sh_source_first
        end as source_accession_first,
        case when computable then ni_value_latest / sh_value_latest else value_latest end as value_latest,
        case when computable then greatest(ni_filed_latest, sh_filed_latest) else filed_latest end as filed_latest,
        case when computable then list_sort(list_distinct(ni_accessions_latest || sh_accessions_latest))
             else accessions_latest end as accessions_latest,
        case
            when not computable then source_accession_latest
            when ni_filed_latest >= sh_filed_latest then ni_source_latest
            else sh_source_latest
        end as source_accession_latest,
        case when computable then null else sanity_failure end as sanity_failure,
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
        ocf.concept_family as ocf_family, ocf.concept_family_latest as ocf_family_latest,
        capex.value_first as capex_first, capex.value_latest as capex_latest,
        capex.filed_first as capex_filed_first, capex.filed_latest as capex_filed_latest,
        capex.accessions_first as capex_accessions_first, capex.accessions_latest as capex_accessions_latest,
        capex.source_accession_first as capex_source_first, capex.source_accession_latest as capex_source_latest,
        capex.concept_family as capex_family, capex.concept_family_latest as capex_family_latest
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
        case when has_first then ocf_family || ' - ' || capex_family end as concept_family,
        null::varchar as concept_latest,
        case when has_latest then ocf_family_latest || ' - ' || capex_family_latest end as concept_family_latest,
        null::varchar as changed_concept,
        null::double as changed_concept_value,
        null::date as changed_concept_filed,
        null::varchar as changed_concept_accession,
        ocf_first - capex_first as value_first,
        case when has_first then greatest(ocf_filed_first, capex_filed_first) end as filed_first,
        case when has_first then list_sort(list_distinct(ocf_accessions_first || capex_accessions_first)) end
            as accessions_first,
        case when has_first then
            case when ocf_filed_first >= capex_filed_first then ocf_source_first else capex_source_first end
        end as source_accession_first,
        ocf_latest - capex_latest as value_latest,
        case when has_latest then greatest(ocf_filed_latest, capex_filed_latest) end as filed_latest,
        case when has_latest then list_sort(list_distinct(ocf_accessions_latest || capex_accessions_latest)) end
            as accessions_latest,
        case when has_latest then
            case when ocf_filed_latest >= capex_filed_latest then ocf_source_latest else capex_source_latest end
        end as source_accession_latest,
        null::varchar as sanity_failure,
        case
            when has_first then 'operating_cash_flow - capex'
            when ocf_first is null then 'missing: no operating cash flow for the period'
            else 'missing: no capital expenditure for the period'
        end as derivation
    from (
        select
            *,
            ocf_first is not null and capex_first is not null as has_first,
            ocf_latest is not null and capex_latest is not null as has_latest
        from cash
    )
),

balance as (
    -- the operands of the residual, one row per balance sheet period with a reported total
    select
        le.cik, le.fiscal_year, le.fiscal_period, le.period_type, le.fiscal_quarter, le.quarter_ordinal,
        le.period_start, le.period_end, le.fiscal_year_start, le.prior_quarter_end, le.unit,
        le.value_first as le_first, le.value_latest as le_latest,
        l.value_first as l_first, l.value_latest as l_latest,
        coalesce(te.value_first, se.value_first + coalesce(nci.value_first, 0)) as eq_first,
        coalesce(te.value_latest, se.value_latest + coalesce(nci.value_latest, 0)) as eq_latest,
        [
            {filed: le.filed_first, accession: le.source_accession_first, accessions: le.accessions_first},
            {filed: l.filed_first, accession: l.source_accession_first, accessions: l.accessions_first},
            case when te.value_first is not null
                 then {filed: te.filed_first, accession: te.source_accession_first, accessions: te.accessions_first}
                 else {filed: se.filed_first, accession: se.source_accession_first, accessions: se.accessions_first}
            end,
            case when te.value_first is null and nci.value_first is not null
                 then {filed: nci.filed_first, accession: nci.source_accession_first, accessions: nci.accessions_first}
            end
        ] as operands_first,
        [
            {filed: le.filed_latest, accession: le.source_accession_latest, accessions: le.accessions_latest},
            {filed: l.filed_latest, accession: l.source_accession_latest, accessions: l.accessions_latest},
            case when te.value_latest is not null
                 then {filed: te.filed_latest, accession: te.source_accession_latest, accessions: te.accessions_latest}
                 else {filed: se.filed_latest, accession: se.source_accession_latest, accessions: se.accessions_latest}
            end,
            case when te.value_latest is null and nci.value_latest is not null
                 then {filed: nci.filed_latest, accession: nci.source_accession_latest, accessions: nci.accessions_latest}
            end
        ] as operands_latest,
        tmp.value_first as tmp_first
    from v as le
    inner join v as l
        on l.cik = le.cik and l.period_type = le.period_type and l.period_end = le.period_end
       and l.line_item = 'total_liabilities'
    left join v as se
        on se.cik = le.cik and se.period_type = le.period_type and se.period_end = le.period_end
       and se.line_item = 'stockholders_equity'
    left join v as nci
        on nci.cik = le.cik and nci.period_type = le.period_type and nci.period_end = le.period_end
       and nci.line_item = 'noncontrolling_interest'
    left join v as te
        on te.cik = le.cik and te.period_type = le.period_type and te.period_end = le.period_end
       and te.line_item = 'total_equity'
    left join v as tmp
        on tmp.cik = le.cik and tmp.period_type = le.period_type and tmp.period_end = le.period_end
       and tmp.line_item = 'temporary_equity'
    where le.line_item = 'liabilities_and_equity'
),

residuals as (
    select
        *,
        le_first - l_first - eq_first as residual_first,
        le_latest - l_latest - eq_latest as residual_latest,
        list_filter(operands_first, lambda o: o is not null) as used_first,
        list_filter(operands_latest, lambda o: o is not null) as used_latest
    from balance
    where tmp_first is null
),

temporary_equity_residual as (
    select
        cik,
        'balance_sheet' as statement,
        'temporary_equity' as line_item,
        'instant' as value_kind,
        fiscal_year, fiscal_period, period_type, fiscal_quarter, quarter_ordinal, period_start, period_end,
        fiscal_year_start, prior_quarter_end, unit,
        null::varchar as taxonomy,
        null::varchar as concept,
        'residual' as concept_family,
        null::varchar as concept_latest,
        case when latest_ok then 'residual' end as concept_family_latest,
        null::varchar as changed_concept,
        null::double as changed_concept_value,
        null::date as changed_concept_filed,
        null::varchar as changed_concept_accession,
        residual_first as value_first,
        list_max(list_transform(used_first, lambda o: o.filed)) as filed_first,
        list_sort(list_distinct(flatten(list_transform(used_first, lambda o: o.accessions)))) as accessions_first,
        string_split(list_last(list_sort(list_transform(used_first, lambda o: o.filed::varchar || ' ' || o.accession))), ' ')[2]
            as source_accession_first,
        case when latest_ok then residual_latest end as value_latest,
        case when latest_ok then list_max(list_transform(used_latest, lambda o: o.filed)) end as filed_latest,
        case when latest_ok then list_sort(list_distinct(flatten(list_transform(used_latest, lambda o: o.accessions)))) end
            as accessions_latest,
        case when latest_ok then
            string_split(list_last(list_sort(list_transform(used_latest, lambda o: o.filed::varchar || ' ' || o.accession))), ' ')[2]
        end as source_accession_latest,
        null::varchar as sanity_failure,
        'liabilities_and_equity - total_liabilities - equity (residual: no temporary equity tagged)' as derivation
    from (
        select
            *,
            residual_latest is not null and residual_latest > 0.005 * abs(le_latest) as latest_ok
        from residuals
    )
    where residual_first is not null and residual_first > 0.005 * abs(le_first)
)

select * from v
where value_kind <> 'per_share'
  and not (line_item = 'temporary_equity' and exists (
        select 1 from temporary_equity_residual as r
        where r.cik = v.cik and r.period_type = v.period_type and r.period_end = v.period_end
  ))
union all by name
select * from per_share_completed
union all by name
select * from free_cash_flow
union all by name
select * from temporary_equity_residual
