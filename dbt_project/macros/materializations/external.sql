{#-
  `materialized='external'` for this project: the model's rows go straight from the query to one Parquet
  file under `external_root` (COPY (query) TO ...), a view over that file replaces the relation in the
  DuckDB engine (so downstream models read it), and the configured plugin (`lakehouse`) stores the file in
  Iceberg.

  Why not dbt-duckdb's own `external`: that one first materialises the rows as a table in the DuckDB file,
  counts them, copies the table to Parquet, and writes a placeholder all-NULL row when the model is empty.
  For millions of facts, writing them into the engine file is the slowest step of the build and buys
  nothing (the engine is scratch, Iceberg is the store). An empty model here is an empty Parquet file;
  the plugin still drops a placeholder row if one ever reaches it. Parquet only (what the plugin stores).

  A model with `company_key` (rows per company, see docs/transform.md) is written ordered by that key: its
  Iceberg table is partitioned by it, and the plugin stores the file in chunks, so ordered rows make one
  data file per company instead of one per company per chunk.
-#}
{% materialization external, adapter="duckdb", supported_languages=['sql'] %}

  {%- set location = render(config.get('location', default=external_location(this, config))) -%}
  {%- set format = config.get('format', 'parquet') -%}
  {%- if format != 'parquet' -%}
    {{ exceptions.raise_compiler_error("This project's external materialization writes Parquet only (got " ~ format ~ ")") }}
  {%- endif -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set existing_relation = load_cached_relation(this) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main', language='sql') -%}
    {%- set company_key = config.get('company_key') %}
    {%- if company_key %}
    copy (select * from ({{ compiled_code }}) order by {{ company_key }}) to '{{ location }}' (format parquet, compression zstd)
    {%- else %}
    copy ({{ compiled_code }}) to '{{ location }}' (format parquet, compression zstd)
    {%- endif %}
  {%- endcall %}

  {% if existing_relation is not none and existing_relation.type != 'view' %}
    {{ drop_relation_if_exists(existing_relation) }}
  {% endif %}
  {% call statement('create_view', language='sql') -%}
    create or replace view {{ target_relation }} as select * from read_parquet('{{ location }}')
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}

  {%- set plugin_name = config.get('plugin') -%}
  {% if plugin_name is not none %}
    {% do store_relation(plugin_name, target_relation, location, format, config) %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
