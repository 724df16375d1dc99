{#- The numeric fields of an FMP staging relation (every DOUBLE column that is not a key), read from the
    engine at run time so a field FMP adds later is carried without an edit. -#}
{% macro fmp_numeric_fields(relation) -%}
    {%- set keys = ['fiscal_year'] -%}
    {%- set fields = [] -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- if col.dtype | upper in ('DOUBLE', 'FLOAT', 'REAL', 'BIGINT', 'INTEGER', 'HUGEINT', 'DECIMAL')
                  and col.column not in keys -%}
                {%- do fields.append(col.column) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(fields) -}}
{%- endmacro %}
