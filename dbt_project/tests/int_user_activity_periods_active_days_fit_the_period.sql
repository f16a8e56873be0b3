-- A period holds at most as many active days as it has days.
-- A singular test, not an expression_is_true in the model's yml: its SQL calls
-- the engine-dispatched days_between, which only dbt renders (the pipeline counts the yml's
-- expression tests itself, orchestration/batched_tests.py). Fails with the offending rows.
select *
from {{ ref('int_user_activity_periods') }}
where not coalesce((
    active_days <= {{ insights_warehouse.days_between('period_start', 'period_end') }} + 1
), false)
