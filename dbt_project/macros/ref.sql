{#-
  ref() of this project: a model's stored parent (a Silver or Gold model, an Iceberg table) that the current
  dbt invocation does not build is read from Iceberg (source `lakehouse_store`), not from the DuckDB view an
  earlier invocation left in the engine file.

  Why: that view is over the Parquet file of the parent's last build in THIS engine. After an incremental
  build it holds only the companies that build rewrote, and on a fresh engine it does not exist; a later
  build of a downstream model alone (automation requests one when its other inputs change) would then
  overwrite its whole table from a part of its input. Reading the store gives the parent's whole current
  table (or, in an incremental build, exactly the changed companies' rows: see the plugin).

  At parse time both dependencies are declared (the model and the source), so the lineage stays the model's;
  the relation's schema is not known yet then, so the stored parents are the var `lakehouse_store` (the
  tables of source `lakehouse_store`; tests/test_incremental_dbt.py checks both lists against the models).
  Tests and other nodes keep dbt's own ref().
-#}
{% macro ref() %}
  {%- set relation = builtins.ref(*varargs, **kwargs) -%}
  {%- set stored = [] -%}
  {%- for table in var('lakehouse_store') if table.split('__', 1)[1] == varargs[-1] -%}
    {%- do stored.append(table) -%}
  {%- endfor -%}
  {%- if model is not defined or model.resource_type != 'model' or not stored -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- set stored = stored[0] -%}
  {%- if not execute -%}
    {%- do source('lakehouse_store', stored) -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- set parent = 'model.' ~ (varargs[0] if varargs | length > 1 else project_name) ~ '.' ~ varargs[-1] -%}
  {%- if parent in selected_resources -%}
    {{ return(relation) }}
  {%- endif -%}
  {{ return(source('lakehouse_store', stored)) }}
{% endmacro %}
