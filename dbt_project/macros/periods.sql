{#- Period arithmetic shared by the models. Durations count both ends: an XBRL period 2022-09-25 ..
    2023-09-30 covers 371 days (a 53-week fiscal year). -#}

{% macro duration_days(start_col, end_col) -%}
    case when {{ start_col }} is not null then datediff('day', {{ start_col }}, {{ end_col }}) + 1 end
{%- endmacro %}

{#- instant | quarter (80-100 days) | half (170-190) | nine_month (260-285) | annual (350-380) | other -#}
{% macro period_kind(start_col, end_col) -%}
    case
        when {{ start_col }} is null then 'instant'
        when {{ duration_days(start_col, end_col) }} between 80 and 100 then 'quarter'
        when {{ duration_days(start_col, end_col) }} between 170 and 190 then 'half'
        when {{ duration_days(start_col, end_col) }} between 260 and 285 then 'nine_month'
        when {{ duration_days(start_col, end_col) }} between 350 and 380 then 'annual'
        else 'other'
    end
{%- endmacro %}

{#- Fiscal years are named by the calendar year they end in, except that a 52/53-week year ending in the
    first days of January belongs to the year before (a year ending 2021-01-02 is fiscal 2020). -#}
{% macro fiscal_year_label(fy_end_col) -%}
    year({{ fy_end_col }} - interval 7 day)::integer
{%- endmacro %}

{#- |a - b| / |b|; 0 when equal, null when b is 0 and a is not. -#}
{% macro relative_difference(a, b) -%}
    case
        when {{ a }} = {{ b }} then 0.0
        when {{ b }} = 0 or {{ b }} is null or {{ a }} is null then null
        else abs({{ a }} - {{ b }}) / abs({{ b }})
    end
{%- endmacro %}

{#- Two reported amounts are the same number (up to floating-point noise). -#}
{% macro same_amount(a, b) -%}
    (abs({{ a }} - {{ b }}) <= 1e-9 * greatest(abs({{ a }}), abs({{ b }})))
{%- endmacro %}
