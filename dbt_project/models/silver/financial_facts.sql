-- One row per reported period of a concept: (cik, taxonomy, concept, unit, period_start, period_end),
-- with the value as FIRST reported and as LATEST reported, and the filings that reported them.
--
-- Only facts of 10-K, 10-Q, 20-F, 40-F, 6-K and their amendments feed it (seed sec_form_types), so a
-- proxy statement or a registration form can never supply a statement value. The filing's fy/fp are not
-- used: periods are identified by their dates.
--
-- Ranking of the filings that reported the same period:
--   1. by filing date (first = earliest, latest = most recent);
--   2. on the same filing date, an amendment outranks the original;
--   3. then a periodic report (10-K/10-Q/20-F/40-F) outranks a 6-K;
--   4. then the accession number (first = lowest, latest = highest), so the choice is deterministic.
--
-- The ranking is packed into one HUGEINT per fact (days since 1900, authority, accession number as a
-- number): arg_min/arg_max over a primitive key is much cheaper than over a struct on millions of rows.
with facts as (
    select
        f.cik,
        f.taxonomy,
        f.concept,
        f.unit,
        f.period_start,
        f.period_end,
        f.value,
        f.filed,
        f.accession_number,
        f.form,
        -- higher = more authoritative among filings of the same date
        (ft.is_amendment::integer * 2 + ft.is_periodic_report::integer) as authority,
        replace(f.accession_number, '-', '')::hugeint as accession_key,
        datediff('day', date '1900-01-01', f.filed)::hugeint as filed_key
    from {{ ref('stg_edgar__company_facts') }} as f
    inner join {{ ref('sec_form_types') }} as ft
        on ft.form = f.form
    where ft.feeds_statements
),

keyed as (
    select
        *,
        -- first: earliest date, then the MOST authoritative, then the lowest accession
        ((filed_key * 4 + (3 - authority)) * 1000000000000000000::hugeint + accession_key) as first_key,
        -- latest: latest date, then the most authoritative, then the highest accession
        ((filed_key * 4 + authority) * 1000000000000000000::hugeint + accession_key) as latest_key
    from facts
),

reported as (
    select
        cik,
        taxonomy,
        concept,
        unit,
        period_start,
        period_end,
        arg_min({value: value, filed: filed, accession_number: accession_number, form: form}, first_key)
            as first_report,
        arg_max({value: value, filed: filed, accession_number: accession_number, form: form}, latest_key)
            as latest_report,
        -- = count(distinct ...), which DuckDB runs as a second hash aggregate per column: 2x slower here
        length(list_distinct(list(accession_number))) as filings_reporting,
        length(list_distinct(list(value))) as distinct_values
    from keyed
    group by cik, taxonomy, concept, unit, period_start, period_end
)

select
    cik,
    taxonomy,
    concept,
    unit,
    period_start,
    period_end,
    {{ duration_days('period_start', 'period_end') }}::integer as duration_days,
    {{ period_kind('period_start', 'period_end') }} as period_kind,
    first_report.value                      as value_first,
    first_report.filed                      as filed_first,
    first_report.accession_number           as accession_first,
    first_report.form                       as form_first,
    latest_report.value                     as value_latest,
    latest_report.filed                     as filed_latest,
    latest_report.accession_number          as accession_latest,
    latest_report.form                      as form_latest,
    filings_reporting::integer              as filings_reporting,
    distinct_values::integer                as distinct_values,
    (latest_report.value <> first_report.value) as is_restated
from reported
