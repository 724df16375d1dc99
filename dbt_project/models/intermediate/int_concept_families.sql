-- Which candidate concepts of a line item are the SAME economic line for a company (its concept family).
--
-- Values of two concepts are compared like with like (first-reported vs latest, the four quarters of a
-- trailing-twelve-month sum, the operands of a derived quarter) only within one family. Two concepts are
-- one family for a company unless one filing reported both for the same period with different values
-- (then they are two lines for this company: a total and its continuing-operations part, a total and the
-- interest on debt only), and when
--   * the seed gives them the same `concept_family` (a concept and its successor in the taxonomy, e.g.
--     SalesRevenueNet and RevenueFromContractWithCustomerExcludingAssessedTax); or
--   * the company reported both for at least one common period and their latest values are equal in every
--     period it reported both for (its Revenues and its RevenueFromContractWithCustomerExcludingAssessedTax
--     are the same numbers: for this company, the same line).
-- Values of different filings are never used to SPLIT a seed family: they may differ because the later
-- filing restated the period, which is exactly what like-with-like comparison must see. Concepts of
-- different seed families with different values stay apart (Chevron's Revenues, "total revenues and
-- other income", vs its sales and other operating revenues). Families are closed transitively; each is
-- named after the seed family of its highest-priority concept. "One filing" is read from the first and
-- the latest report of each period (the filings that set silver.financial_facts' values).
with recursive concepts as (
    -- (a concept name may exist in both taxonomies: Assets): concepts are keyed taxonomy:concept
    select distinct cik, line_item, taxonomy, concept, taxonomy || ':' || concept as qconcept, concept_family, priority
    from {{ ref('int_line_item_facts') }}
),

side_by_side as (
    -- two candidate concepts of a line item that the company reported for the same period
    select
        a.cik,
        a.line_item,
        a.taxonomy || ':' || a.concept as concept_a,
        b.taxonomy || ':' || b.concept as concept_b,
        bool_or(
            (a.accession_first = b.accession_first and not {{ same_amount('a.value_first', 'b.value_first') }})
            or (a.accession_first = b.accession_latest and not {{ same_amount('a.value_first', 'b.value_latest') }})
            or (a.accession_latest = b.accession_first and not {{ same_amount('a.value_latest', 'b.value_first') }})
            or (a.accession_latest = b.accession_latest and not {{ same_amount('a.value_latest', 'b.value_latest') }})
        ) as differ_in_one_filing,
        bool_and({{ same_amount('a.value_latest', 'b.value_latest') }}) as always_equal
    from {{ ref('int_line_item_facts') }} as a
    inner join {{ ref('int_line_item_facts') }} as b
        on b.cik = a.cik and b.line_item = a.line_item and b.unit = a.unit
       and b.period_end = a.period_end and b.period_start is not distinct from a.period_start
       and a.taxonomy || ':' || a.concept < b.taxonomy || ':' || b.concept
    group by all
),

edges as (
    select c1.cik, c1.line_item, c1.qconcept as qconcept, c2.qconcept as other
    from concepts as c1
    inner join concepts as c2
        on c2.cik = c1.cik and c2.line_item = c1.line_item and c2.qconcept <> c1.qconcept
    left join side_by_side as s
        on s.cik = c1.cik and s.line_item = c1.line_item
       and s.concept_a = least(c1.qconcept, c2.qconcept) and s.concept_b = greatest(c1.qconcept, c2.qconcept)
    where not coalesce(s.differ_in_one_filing, false)
      and (c1.concept_family = c2.concept_family or coalesce(s.always_equal, false))
),

reachable (cik, line_item, qconcept, other) as (
    select cik, line_item, qconcept, qconcept from concepts
    union
    select r.cik, r.line_item, r.qconcept, e.other
    from reachable as r
    inner join edges as e
        on e.cik = r.cik and e.line_item = r.line_item and e.qconcept = r.other
)

select
    c.cik,
    c.line_item,
    c.taxonomy,
    c.concept,
    c.priority,
    c.concept_family as seed_family,
    arg_min(o.concept_family, {priority: o.priority, qconcept: o.qconcept}) as concept_family,
    list_sort(list_distinct(list(o.concept))) as family_concepts
from concepts as c
inner join reachable as r
    on r.cik = c.cik and r.line_item = c.line_item and r.qconcept = c.qconcept
inner join concepts as o
    on o.cik = r.cik and o.line_item = r.line_item and o.qconcept = r.other
group by c.cik, c.line_item, c.taxonomy, c.concept, c.priority, c.concept_family
