-- One row per company and EDGAR filing (cik, accession number), typed and classified with the seed
-- sec_form_types. A filing listed under two tickers of the same company (share classes) appears once; a
-- filing of several registrants (a parent and its subsidiaries filing one combined 10-K) appears once per
-- company, so each company's rows depend on its own Bronze alone (company_key, see docs/transform.md).
with filings as (
    select *
    from {{ ref('stg_edgar__filings') }}
    qualify row_number() over (
        partition by cik, accession_number order by ticker, filing_date desc, source_page
    ) = 1
)

select
    f.accession_number,
    f.cik,
    f.ticker,
    f.entity_name,
    f.form,
    coalesce(ft.base_form, regexp_replace(f.form, '/A$', ''))     as base_form,
    coalesce(ft.is_amendment, f.form like '%/A')                  as is_amendment,
    coalesce(ft.is_periodic_report, false)                        as is_periodic_report,
    coalesce(ft.feeds_statements, false)                          as feeds_statements,
    coalesce(ft.is_late_filing_notice, f.form like 'NT %')        as is_late_filing_notice,
    f.filing_date,
    f.report_date,
    f.accepted_at,
    f.fiscal_year_end_mmdd,
    f.sic,
    f.is_xbrl,
    f.is_inline_xbrl,
    f.items,
    f.primary_document,
    f.primary_doc_description,
    f.size_bytes,
    f.file_number
from filings as f
left join {{ ref('sec_form_types') }} as ft
    on ft.form = f.form
