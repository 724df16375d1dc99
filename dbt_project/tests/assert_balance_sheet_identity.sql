-- Total assets = total liabilities + parent equity + noncontrolling interest + temporary equity (within
-- 0.5%), for every company and period where assets, liabilities and equity are all reported (first and
-- latest values alike). This guards the whole mart (it blocks): an equity component outside the
-- standard concepts (PLTR's pre-IPO redeemable preferred stock, tagged with a company-specific concept) is
-- the temporary_equity residual of int_statement_values_completed, with its lineage, so a failure here
-- is a real defect (a mapping or period mismatch), not an odd company.
select ticker, period_type, period_end, total_assets, total_liabilities, stockholders_equity,
       noncontrolling_interest, temporary_equity
from {{ ref('balance_sheet') }}
where (
        total_assets is not null and total_liabilities is not null and stockholders_equity is not null
        and abs(total_assets - (total_liabilities + stockholders_equity + coalesce(noncontrolling_interest, 0)
                                + coalesce(temporary_equity, 0))) > 0.005 * abs(total_assets)
    ) or (
        total_assets_latest is not null and total_liabilities_latest is not null and stockholders_equity_latest is not null
        and abs(total_assets_latest - (total_liabilities_latest + stockholders_equity_latest
                                       + coalesce(noncontrolling_interest_latest, 0)
                                       + coalesce(temporary_equity_latest, 0))) > 0.005 * abs(total_assets_latest)
    )
