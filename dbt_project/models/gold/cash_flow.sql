-- gold.cash_flow: one row per (ticker, period_type 'FY'|'Q', period_end); see macros/statements.sql for the
-- column layout and models/gold/_gold.yml for the meaning of every column.
{{ pivot_statement('cash_flow') }}
