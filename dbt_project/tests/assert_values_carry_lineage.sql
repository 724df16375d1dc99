-- Every Gold statement value names its filings and filing date (derived ones: all operands), and a value
-- derived from year-to-date operands names at least two filings or one filing for both operands.
select ticker, line_item, period_type, period_end, derivation
from {{ ref('statement_lines') }}
where (value is not null and (filed is null or accessions is null or len(accessions) = 0 or source_accession is null))
   or (value_latest is not null and (filed_latest is null or accessions_latest is null))
   or (value is null and not starts_with(derivation, 'missing'))
   or (value is not null and starts_with(derivation, 'missing'))
