-- A per-user engagement score (product documents 000 and 002), as of the as-of date,
-- for segments, churn models and reports. One row per user with any active day up to
-- the as-of date.
--
-- Signals over the 28 days ending on the as-of date (inclusive):
--   active_days_28d        days with an active event (int_user_activity_days, all creators)
--   sessions_28d           the user's sessions started in the window (int_sessions)
--   messages_per_session   user messages per session of the window (0 without sessions)
--   days_since_active      days from the user's last active day to the as-of date
-- Components, each in [0, 1]:
--   frequency = min(active_days_28d / 14, 1)       (every other day or more = 1)
--   volume    = min(sessions_28d / 20, 1)
--   depth     = min(messages_per_session / 6, 1)
--   recency   = 7 / (7 + days_since_active)         (1 today, 1/2 a week ago)
-- engagement_score = 100 × (0.35 frequency + 0.25 volume + 0.20 depth + 0.20 recency),
-- in [0, 100]. The weights and caps are documented in docs/metrics.md (user_engagement).

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

active_days as (

    select
        days.user_id,
        max(days.activity_date) as last_active_date,
        sum(case when days.activity_date > {{ insights_warehouse.add_days('as_of.as_of_date', -28) }}
                 then 1 else 0 end) as active_days_28d
    from {{ ref('int_user_activity_days') }} as days
    cross join as_of
    where days.creator_id = '__all__'
      and days.activity_date <= as_of.as_of_date
    group by days.user_id

),

window_sessions as (

    select
        sessions.user_id,
        count(*) as sessions_28d,
        sum(sessions.user_messages) as messages_28d
    from {{ ref('int_sessions') }} as sessions
    cross join as_of
    where sessions.user_id is not null
      and sessions.start_date <= as_of.as_of_date
      and sessions.start_date > {{ insights_warehouse.add_days('as_of.as_of_date', -28) }}
    group by sessions.user_id

),

signals as (

    select
        active_days.user_id,
        as_of.as_of_date,
        active_days.last_active_date,
        active_days.active_days_28d,
        coalesce(window_sessions.sessions_28d, 0) as sessions_28d,
        case when window_sessions.sessions_28d > 0
             then cast(window_sessions.messages_28d as {{ insights_warehouse.type_double() }})
                  / window_sessions.sessions_28d
             else 0.0 end as messages_per_session,
        {{ insights_warehouse.days_between('active_days.last_active_date', 'as_of.as_of_date') }} as days_since_active
    from active_days
    cross join as_of
    left join window_sessions on window_sessions.user_id = active_days.user_id

),

components as (

    select
        *,
        least(cast(active_days_28d as {{ insights_warehouse.type_double() }}) / 14, 1.0) as frequency_score,
        least(cast(sessions_28d as {{ insights_warehouse.type_double() }}) / 20, 1.0) as volume_score,
        least(messages_per_session / 6, 1.0) as depth_score,
        7.0 / (7 + days_since_active) as recency_score
    from signals

)

select
    cast(user_id as {{ dbt.type_string() }}) as user_id,
    cast(as_of_date as date) as as_of_date,
    cast(last_active_date as date) as last_active_date,
    cast(active_days_28d as {{ dbt.type_bigint() }}) as active_days_28d,
    cast(sessions_28d as {{ dbt.type_bigint() }}) as sessions_28d,
    cast(messages_per_session as {{ insights_warehouse.type_double() }}) as messages_per_session,
    cast(days_since_active as {{ dbt.type_bigint() }}) as days_since_active,
    cast(frequency_score as {{ insights_warehouse.type_double() }}) as frequency_score,
    cast(volume_score as {{ insights_warehouse.type_double() }}) as volume_score,
    cast(depth_score as {{ insights_warehouse.type_double() }}) as depth_score,
    cast(recency_score as {{ insights_warehouse.type_double() }}) as recency_score,
    cast(
        100 * (0.35 * frequency_score + 0.25 * volume_score + 0.20 * depth_score + 0.20 * recency_score)
        as {{ insights_warehouse.type_double() }}
    ) as engagement_score
from components
