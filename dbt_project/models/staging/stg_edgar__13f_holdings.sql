-- Bronze 13F information table entries, renamed and typed; value as reported. The one reader of the source.
{{ config(tags=['holdings']) }}
select
    filing_key::varchar                         as filing_key,
    manager_cik::varchar                        as manager_cik,
    accession_number::varchar                   as accession_number,
    row_number::integer                         as row_number,
    name_of_issuer::varchar                     as issuer,
    title_of_class::varchar                     as title_of_class,
    upper(trim(cusip))::varchar                 as cusip,
    figi::varchar                               as figi,
    value_reported::bigint                      as value_reported,
    shares_or_principal::bigint                 as shares_or_principal,
    upper(trim(shares_or_principal_type))::varchar as shares_or_principal_type,
    upper(trim(put_call))::varchar              as put_call,
    upper(trim(investment_discretion))::varchar as investment_discretion,
    other_manager::varchar                      as other_manager,
    voting_sole::bigint                         as voting_sole,
    voting_shared::bigint                       as voting_shared,
    voting_none::bigint                         as voting_none,
    payload_sha256::varchar                     as payload_sha256
from {{ source('bronze', 'edgar_13f_holdings') }}
