-- Reconciliation check: EDGAR values that FMP reports differently (by more than the tolerance, against
-- both the first- and the latest-reported EDGAR value) for the same company, period and line item.
-- Severity warn: a vendor difference is a finding to look at, not a reason to stop the pipeline.
{{ config(severity='warn') }}
select ticker, line_item, period_type, period_end, edgar_value_first, edgar_value_latest, fmp_value,
       relative_difference
from {{ ref('edgar_fmp_reconciliation') }}
where is_flagged
