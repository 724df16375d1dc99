-- Bronze 13F filing index (each manager's 13F-HR / 13F-HR/A filings), renamed and typed. The one reader of the source.
{{ config(tags=['holdings']) }}
select
    manager_cik::varchar                as manager_cik,
    manager_name::varchar               as manager_name,
    accession_number::varchar           as accession_number,
    filing_key::varchar                 as filing_key,
    upper(trim(form))::varchar          as form,
    filing_date::date                   as filing_date,
    acceptance_datetime::timestamptz    as accepted_at,
    report_date::date                   as report_date,
    primary_document::varchar           as primary_document,
    has_xml_documents::boolean          as has_xml_documents,
    file_number::varchar                as file_number,
    page::varchar                       as source_page,
    payload_sha256::varchar             as payload_sha256
from {{ source('bronze', 'edgar_13f_filings') }}
