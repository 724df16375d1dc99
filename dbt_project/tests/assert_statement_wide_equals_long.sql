-- The wide statements show exactly the values of gold.statement_lines: for every row and line item of
-- income_statement, balance_sheet and cash_flow, the value, latest value, concept, derivation, filing date,
-- accessions and TTM equal the columns of the statement_lines row of the same ticker, period and line item
-- (null when that row does not exist), and every statement period of statement_lines with a primary filing
-- is a wide row with the same filed_at and accession_number.
-- A check on gold/cash_flow (the last of the three; it also reads the others and statement_lines).
{{ config(meta={'dagster': {'ref': {'name': 'cash_flow'}}}) }}
{% set checks = [] %}
{% for statement in ['income_statement', 'balance_sheet', 'cash_flow'] %}
  {% for item in statement_line_items(statement) %}
    {% do checks.append((statement, item, item in flow_line_items())) %}
  {% endfor %}
{% endfor %}
with long_form as (
    select * from {{ ref('statement_lines') }}
),

cells as (
{% for statement, item, is_flow in checks %}
    select
        w.ticker, w.period_type, w.period_end, '{{ statement }}' as statement, '{{ item }}' as line_item
    from {{ ref(statement) }} as w
    left join long_form as l
        on l.ticker = w.ticker and l.period_type = w.period_type and l.period_end = w.period_end
       and l.line_item = '{{ item }}'
    where w.{{ item }} is distinct from l.value
       or w.{{ item }}_latest is distinct from l.value_latest
       or w.{{ item }}_concept is distinct from l.concept
       or w.{{ item }}_derivation is distinct from l.derivation
       or w.{{ item }}_filed is distinct from l.filed
       or w.{{ item }}_accessions is distinct from l.accessions
       {%- if is_flow %}
       or w.{{ item }}_ttm is distinct from l.ttm_value
       {%- endif %}
       or (l.ticker is not null and (w.filed_at is distinct from l.filed_at
                                     or w.accession_number is distinct from l.accession_number))
    {% if not loop.last %}union all{% endif %}
{% endfor %}
),

long_periods as (
    select distinct ticker, statement, period_type, period_end, filed_at, accession_number
    from long_form
    where filed_at is not null
),

wide_periods as (
    {% for statement in ['income_statement', 'balance_sheet', 'cash_flow'] %}
    select ticker, '{{ statement }}' as statement, period_type, period_end, filed_at, accession_number
    from {{ ref(statement) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select ticker, period_type, period_end, statement, line_item from cells
union all
select coalesce(l.ticker, w.ticker), coalesce(l.period_type, w.period_type), coalesce(l.period_end, w.period_end),
       coalesce(l.statement, w.statement), 'the statement row itself'
from long_periods as l
full outer join wide_periods as w
    on w.ticker = l.ticker and w.statement = l.statement and w.period_type = l.period_type
   and w.period_end = l.period_end and w.filed_at = l.filed_at and w.accession_number = l.accession_number
where l.ticker is null or w.ticker is null
