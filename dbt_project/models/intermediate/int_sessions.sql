-- One row per session_id, over all its events (every type, anonymous included).
-- The session's user and creator are the first non-null user_id / creator_id in time
-- order (ties broken by event_id), so one late or partial event cannot move it.

with events as (

    select session_id, event_id, event_ts, user_id, creator_id, is_active_event
    from {{ ref('stg_events') }}

),

session_bounds as (

    select
        session_id,
        min(event_ts) as started_at,
        max(event_ts) as ended_at,
        count(*) as events,
        sum(case when is_active_event then 1 else 0 end) as active_events
    from events
    group by session_id

),

ranked_creators as (

    select
        session_id,
        creator_id,
        row_number() over (
            partition by session_id order by event_ts, event_id
        ) as creator_rank
    from events
    where creator_id is not null

),

ranked_users as (

    select
        session_id,
        user_id,
        row_number() over (
            partition by session_id order by event_ts, event_id
        ) as user_rank
    from events
    where user_id is not null

)

select
    session_bounds.session_id,
    ranked_users.user_id,
    ranked_creators.creator_id,
    session_bounds.started_at,
    {{ insights_warehouse.reporting_date('session_bounds.started_at') }} as start_date,
    session_bounds.ended_at,
    session_bounds.events,
    session_bounds.active_events
from session_bounds
left join ranked_users
    on session_bounds.session_id = ranked_users.session_id
    and ranked_users.user_rank = 1
left join ranked_creators
    on session_bounds.session_id = ranked_creators.session_id
    and ranked_creators.creator_rank = 1
