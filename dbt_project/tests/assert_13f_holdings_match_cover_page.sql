-- Every 13F report whose information table is loaded has tableEntryTotal entries summing to the cover
-- page's tableValueTotal, in US dollars under the same unit rule. Rows returned = reports that disagree.
-- An asset check of silver/holdings (it reads two models: dagster-dbt needs to be told which one).
{{ config(meta={'dagster': {'ref': {'name': 'holdings'}}}) }}
select
    r.manager_cik,
    r.manager_name,
    r.period,
    r.accession_number,
    r.table_entry_total,
    count(h.row_number) as entries,
    r.table_value_total_usd,
    sum(h.value_usd) as value_usd
from {{ ref('holdings_reports') }} as r
left join {{ ref('holdings') }} as h using (accession_number)
where r.information_table_status = 'loaded'
group by all
having count(h.row_number) != r.table_entry_total
    or sum(h.value_usd) is distinct from r.table_value_total_usd
