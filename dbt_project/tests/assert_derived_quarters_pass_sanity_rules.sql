-- Derived quarters that broke a sanity rule and were therefore NOT published (the value is null): a flow
-- that cannot reverse within a fiscal year (seed line_items.can_reverse = false) derived with the opposite
-- sign of its year-to-date value, or larger than it or than the fiscal year (int_statement_values).
-- Severity warn: the company's numbers are inconsistent (e.g. a year-to-date value tagged with the wrong
-- sign); the value stays out of Gold and the row names the rule, the check shows which companies.
{{ config(severity='warn') }}
select ticker, line_item, period_type, period_end, sanity_failure, derivation
from {{ ref('statement_lines') }}
where sanity_failure is not null
