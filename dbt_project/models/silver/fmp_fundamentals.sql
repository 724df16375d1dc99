-- Every numeric FMP fundamental in one long schema: one row per (ticker, dataset, period_type,
-- period_end, field). dataset = income_statement | balance_sheet | cash_flow | key_metrics | ratios.
-- A period served by both FMP API generations (stable and v3) keeps the most recently fetched row.
-- Field names are FMP's (snake_case); signs are FMP's (payments are negative in cash flows).
{% set datasets = ['income_statement', 'balance_sheet', 'cash_flow', 'key_metrics', 'ratios'] %}
with
{% for dataset in datasets %}
{%- set relation = ref('stg_fmp__' ~ dataset) %}
{%- set fields = fmp_numeric_fields(relation) %}
{{ dataset }} as (
    select
        ticker,
        '{{ dataset }}' as dataset,
        date as period_end,
        period as fiscal_period,
        fiscal_year,
        reported_currency as currency,
        {% if dataset in ['income_statement', 'balance_sheet', 'cash_flow'] %}filing_date::date{% else %}null::date{% endif %} as filing_date,
        api as source_api,
        fetched_at,
        field,
        value::double as value
    from (
        select *
        from {{ relation }}
        qualify row_number() over (partition by ticker, date, period order by fetched_at desc, api) = 1
    )
    {%- if fields %}
    unpivot include nulls (value for field in ({{ fields | join(', ') }}))
    {%- else %}
    -- no numeric field yet (empty source): keep the schema
    cross join (select null::varchar as field, null::double as value) where false
    {%- endif %}
){% if not loop.last %},{% endif %}
{% endfor %}

select
    ticker,
    dataset,
    case when fiscal_period = 'FY' then 'FY' else 'Q' end as period_type,
    fiscal_period,
    fiscal_year,
    period_end,
    currency,
    filing_date,
    source_api,
    fetched_at,
    field,
    value
from (
{%- for dataset in datasets %}
    select * from {{ dataset }}{% if not loop.last %} union all by name{% endif %}
{%- endfor %}
)
where value is not null
