-- KPIs per (ticker, period_type, period_end), from the first-reported Gold statement values (what was
-- public at filed_at) and, for valuation, the close on the filing date. See seed financial_kpis for the
-- formulas (a declared dependency, so a run that builds this model also runs the test comparing the two).
-- depends_on: {{ ref('financial_kpis') }} Quarterly rows use trailing-twelve-month flows where a ratio mixes a flow with a balance
-- (ROE, ROA, asset turnover, P/E); margins use the period's own flows.
--
-- Valuation (point in time): the price is the last close on or before `filed_at` (never a later one, and
-- none when the series has no close in the 4 days before the filing). The
-- price series is split-adjusted up to its last day, so the share count from the filing is put on the
-- same basis with the splits after the share count's date (int_stock_splits): market cap = close x shares
-- x split factor. Only for companies reporting in USD (the currency of the price series).
with income as (select * from {{ ref('income_statement') }}),
balance as (select * from {{ ref('balance_sheet') }}),
cash as (select * from {{ ref('cash_flow') }}),

periods as (
    select ticker, period_type, period_end from income
    union
    select ticker, period_type, period_end from balance
    union
    select ticker, period_type, period_end from cash
),

joined as (
    select
        p.ticker,
        coalesce(i.cik, b.cik, c.cik)                             as cik,
        coalesce(i.fiscal_year, b.fiscal_year, c.fiscal_year)     as fiscal_year,
        coalesce(i.fiscal_period, b.fiscal_period, c.fiscal_period) as fiscal_period,
        p.period_type,
        p.period_end,
        coalesce(i.currency, b.currency, c.currency)              as currency,
        greatest(i.filed_at, b.filed_at, c.filed_at)              as filed_at,
        list_distinct(list_filter([i.accession_number, b.accession_number, c.accession_number], lambda x: x is not null))
                                                                  as accession_numbers,
        i.revenue, i.gross_profit, i.operating_income, i.net_income, i.eps_diluted,
        case when p.period_type = 'FY' then i.revenue else i.revenue_ttm end       as revenue_12m,
        case when p.period_type = 'FY' then i.net_income else i.net_income_ttm end as net_income_12m,
        b.total_assets, b.current_assets, b.inventory, b.current_liabilities, b.long_term_debt, b.current_debt,
        b.stockholders_equity, b.noncontrolling_interest, b.cash_and_equivalents, b.shares_outstanding,
        i.shares_diluted,
        c.operating_cash_flow, c.capex, c.free_cash_flow
    from periods as p
    left join income as i using (ticker, period_type, period_end)
    left join balance as b using (ticker, period_type, period_end)
    left join cash as c using (ticker, period_type, period_end)
),

splits as (
    select * from {{ ref('int_stock_splits') }}
),

price_span as (
    select ticker, max(trade_date) as last_price_date from {{ ref('prices_daily') }} group by ticker
),

priced as (
    -- the last close on or before the filing date (point in time)
    -- (within 4 days, a weekend and a holiday: a series that ends before the filing has no price "as of" it)
    select
        j.*,
        case when j.filed_at - px.trade_date <= 4 then px.trade_date end as price_date,
        case when j.filed_at - px.trade_date <= 4 then px.close end as price_close
    from joined as j
    asof left join {{ ref('prices_daily') }} as px
        on px.ticker = j.ticker and px.trade_date <= j.filed_at
),

with_basis as (
    select
        pr.*,
        coalesce(pr.shares_outstanding, pr.shares_diluted) as shares,
        case when pr.shares_outstanding is not null then 'shares_outstanding'
             when pr.shares_diluted is not null then 'shares_diluted' end as shares_source,
        -- splits after the share count's date, up to the end of the price series
        coalesce((
            select exp(sum(ln(s.split_ratio)))
            from splits as s
            inner join price_span as ps on ps.ticker = s.ticker
            where s.ticker = pr.ticker and s.split_date > pr.period_end and s.split_date <= ps.last_price_date
        ), 1.0) as split_factor
    from priced as pr
),

prior_year as (
    select ticker, period_type, fiscal_period, fiscal_year, revenue, eps_diluted, period_end
    from income
),

valued as (
    select
        w.*,
        case when w.currency = 'USD' and w.price_close is not null and w.shares is not null
             then w.price_close * w.shares * w.split_factor end as market_cap,
        py.revenue as prior_revenue,
        py.eps_diluted as prior_eps_diluted,
        (
            select exp(sum(ln(s.split_ratio)))
            from splits as s
            where s.ticker = w.ticker and s.split_date > py.period_end and s.split_date <= w.period_end
        ) as splits_since_prior
    from with_basis as w
    left join prior_year as py
        on py.ticker = w.ticker and py.period_type = w.period_type and py.fiscal_period = w.fiscal_period
       and py.fiscal_year = w.fiscal_year - 1
)

select
    ticker,
    cik,
    fiscal_year,
    fiscal_period,
    period_type,
    period_end,
    currency,
    filed_at,
    accession_numbers,
    gross_profit / nullif(revenue, 0)                                   as gross_margin,
    operating_income / nullif(revenue, 0)                               as operating_margin,
    net_income / nullif(revenue, 0)                                     as net_margin,
    net_income_12m / nullif(stockholders_equity, 0)                     as return_on_equity,
    net_income_12m / nullif(total_assets, 0)                            as return_on_assets,
    current_assets - current_liabilities                                as working_capital,
    current_assets / nullif(current_liabilities, 0)                     as current_ratio,
    (current_assets - coalesce(inventory, 0)) / nullif(current_liabilities, 0) as quick_ratio,
    (long_term_debt + coalesce(current_debt, 0)) / nullif(stockholders_equity, 0) as debt_to_equity,
    revenue_12m / nullif(total_assets, 0)                               as asset_turnover,
    free_cash_flow,
    free_cash_flow / nullif(revenue, 0)                                 as fcf_margin,
    case when prior_revenue > 0 then revenue / prior_revenue - 1 end    as revenue_growth_yoy,
    -- EPS of both years on the same share basis (the prior year's EPS divided by the splits in between)
    case when prior_eps_diluted > 0
         then eps_diluted / (prior_eps_diluted / coalesce(splits_since_prior, 1.0)) - 1 end as eps_growth_yoy,
    price_date,
    price_close,
    shares,
    shares_source,
    split_factor,
    market_cap,
    market_cap + coalesce(long_term_debt, 0) + coalesce(current_debt, 0) + coalesce(noncontrolling_interest, 0)
        - coalesce(cash_and_equivalents, 0)                             as enterprise_value,
    case when net_income_12m > 0 then market_cap / net_income_12m end   as pe_ratio,
    case when stockholders_equity > 0 then market_cap / stockholders_equity end as pb_ratio,
    net_income_12m / nullif(market_cap, 0)                              as earnings_yield
from valued
