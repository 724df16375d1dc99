-- Facts of the candidate concepts of each standardized line item (seed line_item_concepts), in the unit
-- the line item is stated in (seed line_items.unit_kind): the reporting currency for amounts,
-- <currency>/shares for per-share values, shares for share counts. First and latest reported values come
-- from silver.financial_facts.
--
-- A candidate written 'A+B' is the sum of concepts A and B of the same period and unit (a filer that
-- splits one line over two concepts, e.g. capital expenditure into oil and gas property and other PP&E);
-- it exists for a period only when every part was reported for it. Its first-reported value is the sum of
-- the parts' first-reported values, public when the last part was (`filed_first` = the latest part's
-- date); its latest value is the sum of the parts' latest values.
with candidates as (
    select
        c.line_item,
        c.priority,
        c.taxonomy,
        c.concept,
        c.concept_family,
        li.statement,
        li.value_kind,
        li.unit_kind,
        li.can_reverse,
        string_split(c.concept, '+') as parts
    from {{ ref('line_item_concepts') }} as c
    inner join {{ ref('line_items') }} as li
        on li.line_item = c.line_item
),

candidate_parts as (
    select *, unnest(parts) as part, len(parts) as n_parts
    from candidates
),

part_facts as (
    select
        f.cik,
        p.statement,
        p.line_item,
        p.value_kind,
        p.can_reverse,
        p.priority,
        p.taxonomy,
        p.concept,
        p.concept_family,
        p.n_parts,
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
    inner join candidate_parts as p
        on p.taxonomy = f.taxonomy and p.part = f.concept
    inner join {{ ref('int_reporting_currency') }} as rc
        on rc.cik = f.cik
    where f.unit = case p.unit_kind
            when 'per_share' then rc.reporting_currency || '/shares'
            when 'shares' then 'shares'
            else rc.reporting_currency
        end
      and (
            (p.value_kind = 'instant' and f.period_kind = 'instant')
         or (p.value_kind <> 'instant' and f.period_kind <> 'instant')
      )
)

select
    cik,
    statement,
    line_item,
    value_kind,
    can_reverse,
    priority,
    taxonomy,
    concept,
    concept_family,
    unit,
    period_start,
    period_end,
    sum(value_first)                                    as value_first,
    max(filed_first)                                    as filed_first,
    arg_max(accession_first, {f: filed_first, a: accession_first}) as accession_first,
    list_sort(list_distinct(list(accession_first)))     as accessions_first,
    sum(value_latest)                                   as value_latest,
    max(filed_latest)                                   as filed_latest,
    arg_max(accession_latest, {f: filed_latest, a: accession_latest}) as accession_latest,
    list_sort(list_distinct(list(accession_latest)))    as accessions_latest
from part_facts
group by all
having count(*) = any_value(n_parts)
