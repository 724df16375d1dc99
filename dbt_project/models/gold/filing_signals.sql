-- Events in a company's filing record that carry information of their own, one row each:
--   late_filing_notice  an NT 10-K / NT 10-Q / NT 20-F (Form 12b-25): the periodic report will be late;
--   amendment           a 10-K/A, 10-Q/A, 20-F/A, 40-F/A or 6-K/A was filed;
--   restatement         a statement value of a period was reported again later with a different value
--                       (first-reported vs latest-reported of the same concept family: like with like,
--                       both with their filings and dates);
--   concept_change      a later filing presented a reported value of a period under a concept of another
--                       family (e.g. total revenues and other income instead of contract revenue): not a
--                       restatement, the line changed meaning (statement_lines.changed_concept*).
-- `signal_date` is when the event became public (the filing date), for point-in-time use.
with filings as (
    select * from {{ ref('filings') }}
),

tickers as (
    select ticker, cik from {{ ref('companies') }}
),

accession_forms as (
    -- the form of every filing that reported a fact (older filings may be missing from the filing index);
    -- per company: co-registrants file one accession number together (a parent and its subsidiary's combined 10-K)
    select cik, accession_latest as accession_number, any_value(form_latest) as form
    from {{ ref('financial_facts') }}
    group by cik, accession_latest
),

late_notices as (
    select
        t.ticker,
        f.cik,
        'late_filing_notice' as signal_type,
        f.filing_date as signal_date,
        f.form,
        f.accession_number,
        f.report_date as period_end,
        'Notification of late filing (' || f.form || ') for the period ending '
            || coalesce(strftime(f.report_date, '%Y-%m-%d'), 'unknown') as description
    from filings as f
    inner join tickers as t on t.cik = f.cik
    where f.is_late_filing_notice
),

amendments as (
    select
        t.ticker,
        f.cik,
        'amendment' as signal_type,
        f.filing_date as signal_date,
        f.form,
        f.accession_number,
        f.report_date as period_end,
        'Amended ' || f.base_form || ' for the period ending '
            || coalesce(strftime(f.report_date, '%Y-%m-%d'), 'unknown') as description
    from filings as f
    inner join tickers as t on t.cik = f.cik
    where f.is_amendment and f.feeds_statements
),

restatements as (
    select
        l.ticker,
        l.cik,
        'restatement' as signal_type,
        l.filed_latest as signal_date,
        coalesce(fl.form, af.form) as form,
        l.source_accession_latest as accession_number,
        l.period_end,
        l.line_item || ' for ' || l.fiscal_period || ' ' || l.fiscal_year || ' changed from '
            || l.first_reported_value::varchar || ' (first reported ' || strftime(l.first_reported_filed, '%Y-%m-%d')
            || ') to ' || l.value_latest::varchar as description,
        l.period_type,
        l.fiscal_year,
        l.fiscal_period,
        l.line_item,
        l.first_reported_concept as concept,
        null::varchar as new_concept,
        l.first_reported_value as value_first,
        l.first_reported_filed as filed_first,
        l.first_reported_accession as accession_first,
        l.value_latest,
        case when l.first_reported_value <> 0
             then (l.value_latest - l.first_reported_value) / abs(l.first_reported_value) end as relative_change,
        -- 'scale': the later filing fixed a units error (a factor of 1,000 or 1,000,000); 'sign': the sign
        -- flipped; 'rounding': the later filing shows the same amount rounded (thousands -> millions);
        -- 'split': a share count or per-share value restated for a stock split (ratio close to an integer);
        -- 'value': an economic restatement or reclassification
        case
            when l.first_reported_value <> 0
                 and list_contains([1e3, 1e6, 1e-3, 1e-6], round(abs(l.value_latest / l.first_reported_value), 9))
                then 'scale'
            when l.value_kind in ('shares', 'per_share') and l.first_reported_value <> 0 and l.value_latest <> 0
                 and round(greatest(abs(l.value_latest / l.first_reported_value), abs(l.first_reported_value / l.value_latest))) >= 2
                 and abs(greatest(abs(l.value_latest / l.first_reported_value), abs(l.first_reported_value / l.value_latest))
                         / round(greatest(abs(l.value_latest / l.first_reported_value), abs(l.first_reported_value / l.value_latest))) - 1) < 0.02
                then 'split'
            when l.value_latest = -l.first_reported_value then 'sign'
            when l.value_latest in (round(l.first_reported_value, -3), round(l.first_reported_value, -6)) then 'rounding'
            else 'value'
        end as change_kind
    from {{ ref('statement_lines') }} as l
    left join filings as fl on fl.cik = l.cik and fl.accession_number = l.source_accession_latest
    left join accession_forms as af on af.cik = l.cik and af.accession_number = l.source_accession_latest
    -- re-reported values only: a derived quarter changes when its operands do, which is not a new event
    where l.is_restated and l.first_reported_derivation = 'reported'
),

concept_changes as (
    select
        l.ticker,
        l.cik,
        'concept_change' as signal_type,
        l.changed_concept_filed as signal_date,
        coalesce(fl.form, af.form) as form,
        l.changed_concept_accession as accession_number,
        l.period_end,
        l.line_item || ' for ' || l.fiscal_period || ' ' || l.fiscal_year || ' first reported as '
            || l.first_reported_concept || ' (' || l.first_reported_value::varchar || ') is now presented as '
            || l.changed_concept || ' (' || l.changed_concept_value::varchar || '): another line, not a restatement'
            as description,
        l.period_type,
        l.fiscal_year,
        l.fiscal_period,
        l.line_item,
        l.first_reported_concept as concept,
        l.changed_concept as new_concept,
        l.first_reported_value as value_first,
        l.first_reported_filed as filed_first,
        l.first_reported_accession as accession_first,
        l.changed_concept_value as value_latest,
        case when l.first_reported_value <> 0
             then (l.changed_concept_value - l.first_reported_value) / abs(l.first_reported_value) end
            as relative_change,
        'concept' as change_kind
    from {{ ref('statement_lines') }} as l
    left join filings as fl on fl.cik = l.cik and fl.accession_number = l.changed_concept_accession
    left join accession_forms as af on af.cik = l.cik and af.accession_number = l.changed_concept_accession
    where l.is_concept_changed and l.first_reported_derivation = 'reported'
)

select
    ticker, cik, signal_type, signal_date, form, accession_number, period_end, description,
    null::varchar as period_type, null::integer as fiscal_year, null::varchar as fiscal_period,
    null::varchar as line_item, null::varchar as concept, null::varchar as new_concept, null::double as value_first,
    null::date as filed_first, null::varchar as accession_first, null::double as value_latest,
    null::double as relative_change, null::varchar as change_kind
from late_notices
union all by name
select
    ticker, cik, signal_type, signal_date, form, accession_number, period_end, description,
    null::varchar as period_type, null::integer as fiscal_year, null::varchar as fiscal_period,
    null::varchar as line_item, null::varchar as concept, null::varchar as new_concept, null::double as value_first,
    null::date as filed_first, null::varchar as accession_first, null::double as value_latest,
    null::double as relative_change, null::varchar as change_kind
from amendments
union all by name
select * from restatements
union all by name
select * from concept_changes
