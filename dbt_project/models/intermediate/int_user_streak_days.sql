-- One row per user × active day (creator-agnostic, reporting time zone) with the streak
-- (metrics.md "Streak": a run of consecutive active days) that day belongs to: its start,
-- the streak length up to and including the day, and the longest streak so far.
-- Consecutive days of a run share activity_date - (row number of the day), the classic
-- gaps-and-islands key.

with active_days as (

    select
        user_id,
        activity_date,
        row_number() over (partition by user_id order by activity_date) as day_number
    from {{ ref('int_user_activity_days') }}
    where creator_id = '__all__'

),

runs as (

    select
        user_id,
        activity_date,
        {{ insights_warehouse.add_days('activity_date', '-1 * day_number') }} as run_key
    from active_days

),

run_days as (

    select
        user_id,
        activity_date,
        min(activity_date) over (partition by user_id, run_key) as streak_start_date,
        row_number() over (partition by user_id, run_key order by activity_date) as streak_length
    from runs

)

select
    user_id,
    cast(activity_date as date) as activity_date,
    cast(streak_start_date as date) as streak_start_date,
    cast(streak_length as {{ dbt.type_bigint() }}) as streak_length,
    cast(max(streak_length) over (
        partition by user_id order by activity_date
        rows between unbounded preceding and current row
    ) as {{ dbt.type_bigint() }}) as longest_streak_to_date
from run_days
