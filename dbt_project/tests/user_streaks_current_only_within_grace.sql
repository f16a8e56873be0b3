-- A current streak (> 0) exactly when the last active day is within the grace days of the as-of date.
-- A singular test, not an expression_is_true in the model's yml: its SQL calls
-- the engine-dispatched add_days, which only dbt renders (the pipeline counts the yml's
-- expression tests itself, orchestration/batched_tests.py). Fails with the offending rows.
select *
from {{ ref('user_streaks') }}
where not coalesce((
    current_streak is null or (current_streak > 0) = (last_active_date is not null and
    last_active_date >= {{ insights_warehouse.add_days('as_of_date', '-streak_grace_days') }})
), false)
