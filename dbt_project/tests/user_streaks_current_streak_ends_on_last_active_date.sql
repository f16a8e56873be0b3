-- A current streak runs from its start date to the last active day.
-- A singular test, not an expression_is_true in the model's yml: its SQL calls
-- the engine-dispatched days_between, which only dbt renders (the pipeline counts the yml's
-- expression tests itself, orchestration/batched_tests.py). Fails with the offending rows.
select *
from (select * from {{ ref('user_streaks') }} where current_streak > 0) as streaks
where not coalesce((
    {{ insights_warehouse.days_between('current_streak_start_date', 'last_active_date') }} + 1
    = current_streak
), false)
