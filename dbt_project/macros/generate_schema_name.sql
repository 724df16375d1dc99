{#- Models land in the schema their folder names (silver, gold, ...), not <target>_<schema>: the schema is
    the Iceberg namespace the plugin writes to. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
