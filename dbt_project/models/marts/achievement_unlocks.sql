-- Achievements unlocked per user: for every rule of the seed badge_rules (metric,
-- threshold), the first day the user's cumulative metric reaches the threshold. The
-- metrics are computed here per user and day (cumulative values, one row per day the
-- value changes); a new badge on an existing metric needs only a seed row.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

rules as (

    select achievement_id, metric, threshold
    from {{ ref('badge_rules') }}

),

{# Daily increments of the additive metrics. #}
daily_increments as (

    select user_id, 'sessions' as metric, start_date as metric_date, count(*) as increment
    from {{ ref('int_sessions') }}
    where user_id is not null
    group by user_id, start_date

    union all

    select user_id, 'exercises_correct' as metric, attempt_date as metric_date,
           count(*) as increment
    from {{ ref('int_exercise_attempts') }}
    where is_correct
    group by user_id, attempt_date

    union all

    select user_id, 'lessons_completed' as metric, event_date as metric_date,
           count(*) as increment
    from {{ ref('stg_events') }}
    where event_type = 'lesson_completed'
      and user_id is not null
    group by user_id, event_date

    union all

    select user_id, 'goals_completed' as metric, completed_on as metric_date,
           count(*) as increment
    from {{ ref('goal_progress') }}
    where completed_on is not null
    group by user_id, completed_on

),

metric_days as (

    select
        user_id,
        metric,
        metric_date,
        sum(increment) over (
            partition by user_id, metric order by metric_date
            rows between unbounded preceding and current row
        ) as metric_value
    from daily_increments
    where metric_date <= (select as_of_date from as_of)

    union all

    select
        user_id,
        'longest_streak' as metric,
        activity_date as metric_date,
        longest_streak_to_date as metric_value
    from {{ ref('int_user_streak_days') }}
    where activity_date <= (select as_of_date from as_of)

),

reached as (

    select
        metric_days.user_id,
        rules.achievement_id,
        rules.metric,
        rules.threshold,
        metric_days.metric_date,
        metric_days.metric_value,
        row_number() over (
            partition by metric_days.user_id, rules.achievement_id
            order by metric_days.metric_date
        ) as reach_rank
    from rules
    inner join metric_days
        on rules.metric = metric_days.metric
        and metric_days.metric_value >= rules.threshold

)

select
    cast(reached.user_id as {{ dbt.type_string() }}) as user_id,
    cast(reached.achievement_id as {{ dbt.type_string() }}) as achievement_id,
    cast(reached.metric_date as date) as unlocked_on,
    cast(reached.metric as {{ dbt.type_string() }}) as metric,
    cast(reached.threshold as {{ insights_warehouse.type_double() }}) as threshold,
    cast(reached.metric_value as {{ insights_warehouse.type_double() }}) as metric_value,
    cast(as_of.as_of_date as date) as as_of_date
from reached
cross join as_of
where reached.reach_rank = 1
