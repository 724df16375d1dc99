-- Bronze XBRL facts, renamed and typed. The one model that reads the source (see _bronze__sources.yml).
select
    cik::varchar                as cik,
    ticker::varchar             as ticker,
    entity_name::varchar        as entity_name,
    taxonomy::varchar           as taxonomy,
    concept::varchar            as concept,
    unit::varchar               as unit,
    value::double               as value,
    start_date::date            as period_start,
    end_date::date              as period_end,
    fy::integer                 as filing_fiscal_year,
    fp::varchar                 as filing_fiscal_period,
    upper(trim(form))::varchar  as form,
    filed::date                 as filed,
    accn::varchar               as accession_number
from {{ source('bronze', 'edgar_company_facts') }}
where value is not null and isfinite(value)
