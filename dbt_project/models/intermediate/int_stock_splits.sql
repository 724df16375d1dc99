-- Stock splits per ticker, to put share counts from filings on the basis of the price series (whose
-- prices are split-adjusted up to the provider's download day). Events come from the price provider
-- (split_ratio) and, for splits the provider did not record, from the company's own XBRL disclosure
-- us-gaap:StockholdersEquityNoteStockSplitConversionRatio1. A company discloses one split around several
-- dates (approval, record date, quarter end): disclosures of the same ratio within 120 days are one event,
-- dated by the latest of them.
with provider_splits as (
    select ticker, trade_date as split_date, split_ratio, 'prices' as source
    from {{ ref('prices_daily') }}
    where split_ratio is not null
),

xbrl_disclosures as (
    select c.ticker, f.period_end as disclosed_on, f.value_first as split_ratio
    from {{ ref('financial_facts') }} as f
    inner join {{ ref('companies') }} as c
        on c.cik = f.cik
    where f.taxonomy = 'us-gaap'
      and f.concept = 'StockholdersEquityNoteStockSplitConversionRatio1'
      and f.value_first > 0 and f.value_first <> 1
),

xbrl_islands as (
    select
        *,
        sum(new_event) over (partition by ticker order by disclosed_on rows unbounded preceding) as event_id
    from (
        select
            *,
            case
                when lag(disclosed_on) over w is null
                  or disclosed_on - lag(disclosed_on) over w > 120
                  or split_ratio <> lag(split_ratio) over w then 1
                else 0
            end as new_event
        from xbrl_disclosures
        window w as (partition by ticker order by disclosed_on)
    )
),

xbrl_splits as (
    select ticker, max(disclosed_on) as split_date, any_value(split_ratio) as split_ratio, 'xbrl' as source
    from xbrl_islands
    group by ticker, event_id
)

select ticker, split_date, split_ratio, source from provider_splits
union all
select x.ticker, x.split_date, x.split_ratio, x.source
from xbrl_splits as x
where not exists (
    select 1 from provider_splits as p
    where p.ticker = x.ticker and abs(datediff('day', p.split_date, x.split_date)) <= 120
)
