-- Which candidate concepts of a line item are the SAME economic line for a company (its concept family).
--
-- Values of two concepts are compared like with like (first-reported vs latest, the four quarters of a
-- trailing-twelve-month sum) only within one family. Two concepts are one family for a company when
--   * the company reported both for at least one common period, and their latest values are equal in every
--     period it reported both for (its Revenues and its RevenueFromContractWithCustomerExcludingAssessedTax
--     are the same numbers: the same line); or
--   * the seed gives them the same `concept_family` (a concept and its successor in the taxonomy, e.g.
--     SalesRevenueNet and RevenueFromContractWithCustomerExcludingAssessedTax) and they have no common
--     period with different values.
-- Concepts with different values for a common period are different lines for that company (Chevron's
-- Revenues, "total revenues and other income", vs its sales and other operating revenues; a total vs the
-- part of it that is interest on debt). Families are closed transitively; each is named after the seed
-- family of its highest-priority concept.
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
        bool_and(abs(a.value_latest - b.value_latest)
                 <= 1e-9 * greatest(abs(a.value_latest), abs(b.value_latest))) as always_equal
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
    where (c1.concept_family = c2.concept_family and coalesce(s.always_equal, true))
       or coalesce(s.always_equal, false)
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
