-- Every Gold statement value names its filings and filing date (derived ones: all operands), every null
-- value says why (a reason starting 'missing', or the filing that first reported it later), and a
-- rejected derived value is never published.
select ticker, line_item, period_type, period_end, derivation
from {{ ref('statement_lines') }}
where (value is not null and (filed is null or accessions is null or len(accessions) = 0 or source_accession is null
                              or filed > filed_at))
   or (value_latest is not null and (filed_latest is null or accessions_latest is null))
   or (value is null and not (starts_with(derivation, 'missing') or starts_with(derivation, 'not in this filing')))
   or (value is not null and (starts_with(derivation, 'missing') or starts_with(derivation, 'not in this filing')))
   or (value is not null and sanity_failure is not null)
   or (ttm_value is not null and (ttm_filed is null or ttm_accessions is null or len(ttm_accessions) = 0))
