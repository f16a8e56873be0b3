-- Progress of every goal (metrics.md "goal"): a goal is complete on the first day its
-- measure reaches target_value (streak: the current streak; sessions: sessions started
-- since goal_created; mastery: the BKT mastery of the goal's topic) or on the day a
-- goal_completed event arrives, whichever is first. Everything is cut at the as-of date.

{%- set grace_days = insights_warehouse.streak_grace_days_var() %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

goal_events as (

    select event_id, event_type, event_ts, event_date, user_id, goal_id, goal_type,
           target_value, topic
    from {{ ref('stg_events') }}
    where event_type in ('goal_created', 'goal_completed')
      and goal_id is not null
      and event_date <= (select as_of_date from as_of)

),

ranked_creations as (

    select
        *,
        row_number() over (partition by goal_id order by event_ts, event_id) as creation_rank
    from goal_events
    where event_type = 'goal_created'
      and user_id is not null

),

goals as (

    select
        goal_id,
        user_id,
        coalesce(goal_type, 'custom') as goal_type,
        target_value,
        topic,
        event_ts as created_at,
        event_date as created_date
    from ranked_creations
    where creation_rank = 1

),

completion_events as (

    select goal_id, min(event_date) as event_completed_on
    from goal_events
    where event_type = 'goal_completed'
    group by goal_id

),

{# --- streak goals: the current streak reaches the target on an active day ----------- #}

streak_days as (

    select user_id, activity_date, streak_length
    from {{ ref('int_user_streak_days') }}
    where activity_date <= (select as_of_date from as_of)

),

streak_reached as (

    select goals.goal_id, min(streak_days.activity_date) as measure_completed_on
    from goals
    inner join streak_days
        on goals.user_id = streak_days.user_id
        and streak_days.activity_date >= goals.created_date
        and streak_days.streak_length >= goals.target_value
    where goals.goal_type = 'streak'
    group by goals.goal_id

),

last_active_days as (

    select user_id, activity_date, streak_length
    from (
        select
            user_id,
            activity_date,
            streak_length,
            row_number() over (partition by user_id order by activity_date desc) as recency
        from streak_days
    ) as ranked
    where recency = 1

),

current_streaks as (

    select
        last_active_days.user_id,
        case
            when {{ insights_warehouse.days_between('last_active_days.activity_date',
                                                    'as_of.as_of_date') }} <= {{ grace_days }}
                then last_active_days.streak_length
            else 0
        end as current_streak
    from last_active_days
    cross join as_of

),

{# --- sessions goals: sessions started after the goal_created event ----------------- #}

goal_sessions as (

    select
        goals.goal_id,
        goals.target_value,
        sessions.start_date,
        row_number() over (
            partition by goals.goal_id order by sessions.started_at, sessions.session_id
        ) as sessions_since_created
    from goals
    inner join {{ ref('int_sessions') }} as sessions
        on goals.user_id = sessions.user_id
        and sessions.started_at > goals.created_at
        and sessions.start_date <= (select as_of_date from as_of)
    where goals.goal_type = 'sessions'

),

sessions_progress as (

    select
        goal_id,
        max(sessions_since_created) as current_value,
        min(case when sessions_since_created >= target_value then start_date end)
            as measure_completed_on
    from goal_sessions
    group by goal_id

),

{# --- mastery goals: the topic's mastery after each attempt ------------------------- #}

goal_attempts as (

    select
        goals.goal_id,
        goals.created_at,
        goals.created_date,
        mastery.attempted_at,
        mastery.attempt_date,
        mastery.mastery,
        row_number() over (
            partition by goals.goal_id, mastery.attempted_at < goals.created_at
            order by mastery.attempt_number desc
        ) as recency_in_period
    from goals
    inner join {{ ref('int_exercise_mastery') }} as mastery
        on goals.user_id = mastery.user_id
        and goals.topic = mastery.topic
        and mastery.attempt_date <= (select as_of_date from as_of)
    where goals.goal_type = 'mastery'

),

{# The measure on the creation day is the mastery after the last earlier attempt; after
   that, every attempt is a new value. #}
mastery_candidates as (

    select
        goal_id,
        case when attempted_at < created_at then created_date else attempt_date end
            as measure_date,
        mastery
    from goal_attempts
    where attempted_at >= created_at
       or recency_in_period = 1

),

mastery_progress as (

    select
        goal_attempts.goal_id,
        max(case when goal_attempts.recency_in_period = 1
                  and goal_attempts.attempted_at >= goal_attempts.created_at
                 then goal_attempts.mastery end) as mastery_after_creation,
        max(case when goal_attempts.recency_in_period = 1
                  and goal_attempts.attempted_at < goal_attempts.created_at
                 then goal_attempts.mastery end) as mastery_before_creation
    from goal_attempts
    group by goal_attempts.goal_id

),

mastery_reached as (

    select mastery_candidates.goal_id, min(mastery_candidates.measure_date) as measure_completed_on
    from mastery_candidates
    inner join goals
        on mastery_candidates.goal_id = goals.goal_id
    where mastery_candidates.mastery >= goals.target_value
    group by mastery_candidates.goal_id

),

topic_priors as (

    select topic, p_init from {{ ref('int_bkt_params') }}

),

{# --- all goals ---------------------------------------------------------------------- #}

measured as (

    select
        goals.goal_id,
        goals.user_id,
        goals.goal_type,
        goals.target_value,
        goals.topic,
        goals.created_at,
        goals.created_date,
        case goals.goal_type
            when 'streak' then cast(coalesce(current_streaks.current_streak, 0)
                                    as {{ insights_warehouse.type_double() }})
            when 'sessions' then cast(coalesce(sessions_progress.current_value, 0)
                                      as {{ insights_warehouse.type_double() }})
            when 'mastery' then coalesce(
                mastery_progress.mastery_after_creation,
                mastery_progress.mastery_before_creation,
                topic_priors.p_init,
                {{ insights_warehouse.bkt_default_param('p_init') }})
        end as current_value,
        case goals.goal_type
            when 'streak' then streak_reached.measure_completed_on
            when 'sessions' then sessions_progress.measure_completed_on
            when 'mastery' then mastery_reached.measure_completed_on
        end as measure_completed_on,
        completion_events.event_completed_on
    from goals
    left join current_streaks
        on goals.user_id = current_streaks.user_id
    left join streak_reached
        on goals.goal_id = streak_reached.goal_id
    left join sessions_progress
        on goals.goal_id = sessions_progress.goal_id
    left join mastery_progress
        on goals.goal_id = mastery_progress.goal_id
    left join mastery_reached
        on goals.goal_id = mastery_reached.goal_id
    left join topic_priors
        on goals.topic = topic_priors.topic
    left join completion_events
        on goals.goal_id = completion_events.goal_id

),

completed as (

    select
        *,
        case
            when measure_completed_on is null then event_completed_on
            when event_completed_on is null then measure_completed_on
            when event_completed_on < measure_completed_on then event_completed_on
            else measure_completed_on
        end as completed_on
    from measured

)

select
    cast(completed.goal_id as {{ dbt.type_string() }}) as goal_id,
    cast(completed.user_id as {{ dbt.type_string() }}) as user_id,
    cast(completed.goal_type as {{ dbt.type_string() }}) as goal_type,
    cast(completed.target_value as {{ insights_warehouse.type_double() }}) as target_value,
    cast(completed.current_value as {{ insights_warehouse.type_double() }}) as current_value,
    cast(
        case
            when completed.completed_on is not null then 1.0
            when completed.current_value is null then 0.0
            when completed.target_value is null or completed.target_value <= 0 then null
            when completed.current_value >= completed.target_value then 1.0
            else completed.current_value / completed.target_value
        end
        as {{ insights_warehouse.type_double() }}
    ) as progress,
    cast(case when completed.completed_on is not null then 'completed' else 'active' end
         as {{ dbt.type_string() }}) as status,
    cast(completed.completed_on as date) as completed_on,
    cast(
        case
            when completed.completed_on is null then null
            when completed.measure_completed_on = completed.completed_on
                 and completed.event_completed_on = completed.completed_on
                then 'measure_and_event'
            when completed.measure_completed_on = completed.completed_on then 'measure'
            else 'event'
        end
        as {{ dbt.type_string() }}
    ) as completed_by,
    cast(completed.topic as {{ dbt.type_string() }}) as topic,
    cast(completed.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(completed.created_date as date) as created_date,
    cast(as_of.as_of_date as date) as as_of_date
from completed
cross join as_of
