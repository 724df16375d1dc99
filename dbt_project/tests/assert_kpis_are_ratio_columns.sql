-- Every KPI of seed financial_kpis is a column of gold.financial_ratios.
-- depends_on: {{ ref('financial_ratios') }}
-- A check on gold/financial_ratios (it also reads the seed).
{{ config(meta={'dagster': {'ref': {'name': 'financial_ratios'}}}) }}
{% set columns = [] %}
{% if execute %}
  {% for col in adapter.get_columns_in_relation(ref('financial_ratios')) %}
    {% do columns.append(col.column) %}
  {% endfor %}
{% endif %}
select kpi
from {{ ref('financial_kpis') }}
where kpi not in ({% for c in columns %}'{{ c }}'{% if not loop.last %}, {% endif %}{% else %}''{% endfor %})
