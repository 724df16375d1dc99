-- A manager's portfolio weights for a quarter add up to 1 (when its values are known). Rows = violations.
select manager_cik, period, sum(weight) as total_weight
from {{ ref('holdings_by_manager') }}
where weight is not null
group by manager_cik, period
having abs(sum(weight) - 1) > 1e-9
