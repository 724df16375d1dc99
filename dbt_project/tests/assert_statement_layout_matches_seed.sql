-- The wide statements' column layout (macros/statements.sql) and seed line_items describe the same items.
{% set layout = [] %}
{% for statement in ['income_statement', 'balance_sheet', 'cash_flow'] %}
  {% for item in statement_line_items(statement) %}
    {% do layout.append((statement, item)) %}
  {% endfor %}
{% endfor %}
with layout as (
    select * from (values
    {% for statement, item in layout %}
        ('{{ statement }}', '{{ item }}'){% if not loop.last %},{% endif %}
    {% endfor %}
    ) as t(statement, line_item)
)
select coalesce(l.line_item, s.line_item) as line_item, l.statement as in_layout, s.statement as in_seed
from layout as l
full outer join {{ ref('line_items') }} as s
    on s.line_item = l.line_item and s.statement = l.statement
where l.line_item is null or s.line_item is null
