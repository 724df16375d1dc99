-- Bronze EDGAR filing index, renamed and typed. The one model that reads the source.
select
    cik::varchar                            as cik,
    ticker::varchar                         as ticker,
    entity_name::varchar                    as entity_name,
    nullif(trim(fiscal_year_end), '')       as fiscal_year_end_mmdd,
    sic::varchar                            as sic,
    accession_number::varchar               as accession_number,
    upper(trim(form))::varchar              as form,
    filing_date::date                       as filing_date,
    report_date::date                       as report_date,
    acceptance_datetime::timestamptz        as accepted_at,
    primary_document::varchar               as primary_document,
    primary_doc_description::varchar        as primary_doc_description,
    coalesce(is_xbrl, false)                as is_xbrl,
    coalesce(is_inline_xbrl, false)         as is_inline_xbrl,
    items::varchar                          as items,
    size::bigint                            as size_bytes,
    file_number::varchar                    as file_number,
    page::varchar                           as source_page
from {{ source('bronze', 'edgar_filings') }}
