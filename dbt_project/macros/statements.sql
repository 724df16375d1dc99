{#- The layout of the Gold statements: which standardized line items each wide table carries, in order.
    The seed `line_items` describes the same items (statement, kind, description) and the singular test
    `assert_statement_layout_matches_seed` keeps the two in step. -#}
{% macro statement_line_items(statement) -%}
    {%- set layout = {
        'income_statement': ['revenue', 'cost_of_revenue', 'gross_profit', 'operating_expenses',
                             'operating_income', 'interest_income', 'interest_expense', 'net_interest_income',
                             'premiums_earned', 'pretax_income', 'income_tax', 'net_income',
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
                'interest_income', 'interest_expense', 'net_interest_income', 'premiums_earned',
                'pretax_income', 'income_tax', 'net_income', 'operating_cash_flow', 'investing_cash_flow',
                'financing_cash_flow', 'capex', 'dividends_paid', 'share_repurchases', 'free_cash_flow']) -}}
{%- endmacro %}

{#- One wide row per (ticker, period_type, period_end): a pivot of gold.statement_lines, which applies every
    point-in-time and TTM rule (see that model). Per line item X: X = value, X_latest = value_latest,
    X_concept = concept, X_derivation = derivation, X_filed = filed, X_accessions = accessions, and for flow
    items X_ttm = ttm_value, all of the row (ticker, period_type, period_end, line_item X) of
    statement_lines; row columns come from the same rows (filed_at, accession_number: the statement's
    primary filing). A period whose statement has no value at all has no primary filing and no row. -#}
{% macro pivot_statement(statement) -%}
{%- set items = statement_line_items(statement) -%}
{%- set flows = flow_line_items() -%}
with lines as (
    select *
    from {{ ref('statement_lines') }}
    where statement = '{{ statement }}' and filed_at is not null
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
        any_value(value) filter (where line_item = '{{ item }}')        as {{ item }},
        any_value(value_latest) filter (where line_item = '{{ item }}') as {{ item }}_latest,
        any_value(concept) filter (where line_item = '{{ item }}')      as {{ item }}_concept,
        any_value(derivation) filter (where line_item = '{{ item }}')   as {{ item }}_derivation,
        any_value(filed) filter (where line_item = '{{ item }}')        as {{ item }}_filed,
        any_value(accessions) filter (where line_item = '{{ item }}')   as {{ item }}_accessions
        {%- if item in flows %},
        any_value(ttm_value) filter (where line_item = '{{ item }}')    as {{ item }}_ttm
        {%- endif %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from lines
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

{#- Why a derived quarter (`value` = year to date - previous year to date) of a flow that cannot reverse within a
    fiscal year (seed line_items.can_reverse = false) must not be published, or null when it may. Used by
    int_statement_values on a row with `can_reverse`, `derived_method` and `line_item`. -#}
{% macro derived_quarter_sanity(value, year_to_date, fiscal_year) -%}
    case
        when not can_reverse and {{ value }} is not null then
            case
                when sign({{ value }}) * sign({{ year_to_date }}) < 0 then
                    derived_method || ' = ' || format('{:,.0f}', {{ value }})
                    || ' has the opposite sign of its year-to-date value ' || format('{:,.0f}', {{ year_to_date }})
                    || ' (' || line_item || ' cannot reverse within a fiscal year)'
                when abs({{ value }}) > abs({{ year_to_date }}) then
                    derived_method || ' = ' || format('{:,.0f}', {{ value }})
                    || ' is larger than its year-to-date value ' || format('{:,.0f}', {{ year_to_date }})
                    || ' (' || line_item || ' cannot reverse within a fiscal year)'
                when {{ fiscal_year }} is not null and abs({{ value }}) > abs({{ fiscal_year }}) then
                    derived_method || ' = ' || format('{:,.0f}', {{ value }})
                    || ' is larger than the fiscal year value ' || format('{:,.0f}', {{ fiscal_year }})
                    || ' (' || line_item || ' cannot reverse within a fiscal year)'
            end
    end
{%- endmacro %}
