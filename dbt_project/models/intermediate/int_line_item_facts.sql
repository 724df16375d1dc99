-- Facts of the candidate concepts of each standardized line item (seed line_item_concepts), in the unit
-- the line item is stated in (seed line_items.unit_kind): the reporting currency for amounts,
-- <currency>/shares for per-share values, shares for share counts. First and latest reported values come from silver.financial_facts.
select
    f.cik,
    li.statement,
    li.line_item,
    li.value_kind,
    c.priority,
    f.taxonomy,
    f.concept,
    f.unit,
    f.period_start,
    f.period_end,
    f.value_first,
    f.filed_first,
    f.accession_first,
    f.value_latest,
    f.filed_latest,
    f.accession_latest
from {{ ref('financial_facts') }} as f
inner join {{ ref('line_item_concepts') }} as c
    on c.taxonomy = f.taxonomy and c.concept = f.concept
inner join {{ ref('line_items') }} as li
    on li.line_item = c.line_item
inner join {{ ref('int_reporting_currency') }} as rc
    on rc.cik = f.cik
where f.unit = case li.unit_kind
        when 'per_share' then rc.reporting_currency || '/shares'
        when 'shares' then 'shares'
        else rc.reporting_currency
    end
  and (
        (li.value_kind = 'instant' and f.period_kind = 'instant')
     or (li.value_kind <> 'instant' and f.period_kind <> 'instant')
  )
