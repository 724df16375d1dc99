{#- The layout of the Gold statements: which standardized line items each wide table carries, in order.
    The seed `line_items` describes the same items (statement, kind, description) and the singular test
    `assert_statement_layout_matches_seed` keeps the two in step. -#}
{% macro statement_line_items(statement) -%}
    {%- set layout = {
        'income_statement': ['revenue', 'cost_of_revenue', 'gross_profit', 'operating_expenses',
                             'operating_income', 'pretax_income', 'income_tax', 'net_income',
                             'eps_basic', 'eps_diluted', 'shares_basic', 'shares_diluted'],
        'balance_sheet': ['total_assets', 'current_assets', 'cash_and_equivalents', 'inventory',
                          'total_liabilities', 'current_liabilities', 'current_debt', 'long_term_debt',
                          'temporary_equity', 'stockholders_equity', 'noncontrolling_interest',
                          'total_equity', 'liabilities_and_equity', 'shares_outstanding'],
        'cash_flow': ['operating_cash_flow', 'investing_cash_flow', 'financing_cash_flow', 'capex',
                      'dividends_paid', 'share_repurchases', 'free_cash_flow'],
    } -%}
    {{- return(layout[statement]) -}}
{%- endmacro %}

{#- Line items that add up over time (trailing-twelve-month sums make sense for them). -#}
{% macro flow_line_items() -%}
    {{- return(['revenue', 'cost_of_revenue', 'gross_profit', 'operating_expenses', 'operating_income',
                'pretax_income', 'income_tax', 'net_income', 'operating_cash_flow', 'investing_cash_flow',
                'financing_cash_flow', 'capex', 'dividends_paid', 'share_repurchases', 'free_cash_flow']) -}}
{%- endmacro %}

{#- One wide row per (ticker, period_type, period_end) from gold.statement_lines, point in time.

    The row is the statement as published by its PRIMARY filing: the filing that first published most of
    the row's values (ties: the earliest). `filed_at` / `accession_number` are that filing's. Per line
    item X: X = the value as first reported, when it was public by `filed_at`; X_latest = as last reported
    (restated). A value that only appeared in a LATER filing (the company started tagging the concept a
    year later, say) is not part of the point-in-time row: X is null, X_derivation says when it was first
    reported, and X_latest has it. So every non-null first-reported value of a row was public on
    `filed_at`. X_concept, X_derivation ('reported', 'FY - 9M', ... or 'missing: <why>'), X_filed,
    X_accessions give the lineage; flow items add X_ttm (quarterly rows). -#}
{% macro pivot_statement(statement) -%}
{%- set items = statement_line_items(statement) -%}
{%- set flows = flow_line_items() -%}
with lines as (
    select *
    from {{ ref('statement_lines') }}
    where statement = '{{ statement }}'
),

primary_filing as (
    select ticker, period_type, period_end, source_accession as accession_number, first_filed as filed_at
    from (
        select ticker, period_type, period_end, source_accession, count(*) as n_values, min(filed) as first_filed
        from lines
        where value is not null
        group by ticker, period_type, period_end, source_accession
    )
    qualify row_number() over (
        partition by ticker, period_type, period_end order by n_values desc, first_filed, source_accession
    ) = 1
),

point_in_time as (
    select
        l.*,
        p.filed_at,
        p.accession_number,
        l.value is not null and l.filed > p.filed_at as is_late,
        l.ttm_value is not null and l.ttm_filed > p.filed_at as is_ttm_late
    from lines as l
    inner join primary_filing as p
        using (ticker, period_type, period_end)
),

rows as (
    select
        ticker,
        cik,
        period_type,
        period_end,
        any_value(fiscal_year)      as fiscal_year,
        any_value(fiscal_period)    as fiscal_period,
        any_value(period_start)     as period_start,
        any_value(filed_at)         as filed_at,
        any_value(accession_number) as accession_number,
        max(filed_latest)           as latest_filed_at,
        coalesce(bool_or(is_restated), false) as is_restated,
        {%- for item in items %}
        max(case when not is_late then value end) filter (where line_item = '{{ item }}') as {{ item }},
        max(value_latest) filter (where line_item = '{{ item }}')                         as {{ item }}_latest,
        max(case when not is_late then concept end) filter (where line_item = '{{ item }}') as {{ item }}_concept,
        max(case
                when is_late then 'not in this filing: first reported ' || strftime(filed, '%Y-%m-%d')
                                  || ' (' || source_accession || '), see {{ item }}_latest'
                else derivation
            end) filter (where line_item = '{{ item }}')                                  as {{ item }}_derivation,
        max(case when not is_late then filed end) filter (where line_item = '{{ item }}')  as {{ item }}_filed,
        max(case when not is_late then accessions end) filter (where line_item = '{{ item }}') as {{ item }}_accessions
        {%- if item in flows %},
        max(case when not is_ttm_late then ttm_value end) filter (where line_item = '{{ item }}') as {{ item }}_ttm
        {%- endif %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from point_in_time
    group by ticker, cik, period_type, period_end
)

select
    r.ticker,
    r.cik,
    r.fiscal_year,
    r.fiscal_period,
    r.period_type,
    r.period_start,
    r.period_end,
    c.reporting_currency as currency,
    r.filed_at,
    r.accession_number,
    r.latest_filed_at,
    r.is_restated,
    {%- for item in items %}
    r.{{ item }},
    r.{{ item }}_latest,
    r.{{ item }}_concept,
    r.{{ item }}_derivation,
    r.{{ item }}_filed,
    r.{{ item }}_accessions{% if item in flows %},
    r.{{ item }}_ttm{% endif %}{% if not loop.last %},{% endif %}
    {%- endfor %}
from rows as r
left join {{ ref('companies') }} as c
    on c.ticker = r.ticker
{%- endmacro %}
