-- The reporting currency of each company: the ISO currency unit carrying most of its monetary
-- us-gaap/ifrs-full facts (a 20-F filer may add USD convenience translations next to its home currency).
select
    cik,
    arg_max(unit, n_facts) as reporting_currency
from (
    select cik, unit, count(*) as n_facts
    from {{ ref('financial_facts') }}
    where taxonomy in ('us-gaap', 'ifrs-full')
      and regexp_full_match(unit, '[A-Z]{3}')
    group by cik, unit
)
group by cik
