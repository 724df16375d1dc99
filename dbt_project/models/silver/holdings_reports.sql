-- One row per 13F-HR / 13F-HR/A filing loaded: the manager-period report, its filing date, the value unit
-- rule applied, the cover page totals in dollars, and whether its holdings are the ones in effect.
{{ config(tags=['holdings']) }}
with filing_index as (
    -- a filing listed under two managers' indexes (it happens with joint filers) counts once
    select *
    from {{ ref('stg_edgar__13f_filings') }}
    qualify row_number() over (partition by accession_number order by filing_date, manager_cik) = 1
),

reports as (
    select
        c.*,
        f.filing_date,
        f.accepted_at,
        case when f.filing_date is not null then 'edgar_filing_index' end as filing_date_source,
        {{ thirteenf_value_multiplier('f.filing_date', 'c.signature_date') }} as value_multiplier,
        {{ thirteenf_value_unit_rule('f.filing_date', 'c.signature_date') }} as value_unit_rule,
        -- EDGAR's order of the manager's reports for a period; the signature date stands in when unloaded
        coalesce(f.filing_date, c.signature_date) as order_date,
        c.form = '13F-HR/A' and c.amendment_type = 'NEW HOLDINGS' as adds_holdings
    from {{ ref('stg_edgar__13f_cover_pages') }} as c
    left join filing_index as f using (accession_number)
),

-- A manager-period's holdings: those of its latest original or restating report, plus the NEW HOLDINGS
-- amendments filed after it (they add entries to it).
base as (
    select manager_cik, period, accession_number as base_accession, order_date as base_order_date
    from reports
    where not adds_holdings
    qualify row_number() over (partition by manager_cik, period order by order_date desc, accession_number desc) = 1
)

select
    r.manager_cik,
    r.manager_name,
    r.period,
    r.accession_number,
    r.filing_key,
    r.form,
    r.is_amendment,
    r.amendment_number,
    r.amendment_type,
    r.report_type,
    r.filing_date,
    r.filing_date_source,
    r.accepted_at,
    r.signature_date,
    case r.value_multiplier when 1 then 'USD' when 1000 then 'USD_THOUSANDS' end as value_unit,
    r.value_multiplier,
    r.value_unit_rule,
    r.table_entry_total,
    r.table_value_total_reported,
    r.table_value_total_reported * r.value_multiplier as table_value_total_usd,
    r.information_table_status,
    r.information_table_detail,
    r.holdings_loaded,
    r.information_table_status in ('loaded', 'empty_report') as holdings_complete,
    coalesce(
        r.accession_number = b.base_accession
        or (
            r.adds_holdings
            and (r.order_date > b.base_order_date
                or (r.order_date = b.base_order_date and r.accession_number > b.base_accession))
        ),
        false
    ) as is_in_effect,
    r.other_included_managers_count,
    r.other_managers_reporting,
    r.is_confidential_omitted,
    r.cover_page_url,
    r.information_table_url,
    r.cover_page_sha256,
    r.information_table_sha256
from reports as r
left join base as b using (manager_cik, period)
