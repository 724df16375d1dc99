{#- The 13F value unit rule, defined once. The SEC's amended Form 13F (Release 34-95148) reports value
    rounded to the nearest DOLLAR for filings made on or after 2023-01-03; earlier filings report it in
    THOUSANDS of dollars. The rule follows the filing date, not the period: a late filing for 2021Q4
    made in 2023 (MetLife, 0001140361-23-013281, filed 2023-03-23) is in dollars.
    When the filing date is not loaded (the manager's submissions index was not fetched), the signature
    date decides if it is on or after 2023-01-03 (a report is filed after it is signed); otherwise the
    unit is unknown and value_usd stays null. Never guessed from the magnitude. -#}

{% macro thirteenf_dollar_values_from() -%} date '2023-01-03' {%- endmacro %}

{#- 1 (dollars), 1000 (thousands of dollars) or null (unknown). -#}
{% macro thirteenf_value_multiplier(filing_date, signature_date) -%}
    case
        when {{ filing_date }} is not null and {{ filing_date }} >= {{ thirteenf_dollar_values_from() }} then 1
        when {{ filing_date }} is not null then 1000
        when {{ signature_date }} >= {{ thirteenf_dollar_values_from() }} then 1
    end
{%- endmacro %}

{#- The rule applied, in words, for the row's lineage. -#}
{% macro thirteenf_value_unit_rule(filing_date, signature_date) -%}
    case
        when {{ filing_date }} is not null and {{ filing_date }} >= {{ thirteenf_dollar_values_from() }}
            then 'filed ' || {{ filing_date }} || ' (EDGAR filing index), on or after 2023-01-03: value in dollars'
        when {{ filing_date }} is not null
            then 'filed ' || {{ filing_date }} || ' (EDGAR filing index), before 2023-01-03: value in thousands of dollars, x1000'
        when {{ signature_date }} >= {{ thirteenf_dollar_values_from() }}
            then 'filing date not loaded; signed ' || {{ signature_date }}
                || ', on or after 2023-01-03, and filed after signing: value in dollars'
        else 'unit unknown: filing date not loaded and signed '
            || coalesce({{ signature_date }}::varchar, 'on no date') || ', before 2023-01-03; value_usd left null'
    end
{%- endmacro %}
