{#- One row per combination of the columns (NULLs compare equal, as in GROUP BY): the local replacement
    for dbt_utils.unique_combination_of_columns, since dbt deps cannot reach the package hub. -#}
{% test unique_combination(model, combination) %}
select {{ combination | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}
