-- One row per current event WITHOUT a user_id (anonymous as sent): the user it is
-- resolved to (metrics.md "Version 2 additions", Identity), or null when none.
--   1. the user_id of the event with the same anonymous_id and a user_id nearest before
--      it (time, then event_id), else
--   2. the one nearest after it, else
--   3. the single user_id of its session, when the session's events carry exactly one;
--   else none (anonymous).
-- A table rebuilt on every run, so identification is retroactive: stg_events' user_id
-- is the resolved user. Reads the raw source (stg_events reads this model).
-- depends_on_export_date: the later of the event's own export date and that of the
-- event that decides its resolution (the nearest identified event before / after, or
-- the session's latest). An export day loaded later changes a resolution only by adding
-- (or re-sending) the event that then decides it, so the incremental window reaches back
-- to the anonymous events whose depends_on_export_date is in the window
-- (macros/incremental_window.sql, identity_window_start).

with events as (

    select event_id, session_id, user_id, anonymous_id, event_ts, export_date
    from {{ source('raw', 'events') }}
    where is_current

),

by_device as (

    select
        event_id,
        {{ insights_warehouse.last_value_ignore_nulls('user_id') }} over (
            partition by anonymous_id order by event_ts, event_id
            rows between unbounded preceding and 1 preceding
        ) as user_before,
        {{ insights_warehouse.last_value_ignore_nulls(
            'case when user_id is not null then export_date end') }} over (
            partition by anonymous_id order by event_ts, event_id
            rows between unbounded preceding and 1 preceding
        ) as user_before_export_date,
        {{ insights_warehouse.first_value_ignore_nulls('user_id') }} over (
            partition by anonymous_id order by event_ts, event_id
            rows between 1 following and unbounded following
        ) as user_after,
        {{ insights_warehouse.first_value_ignore_nulls(
            'case when user_id is not null then export_date end') }} over (
            partition by anonymous_id order by event_ts, event_id
            rows between 1 following and unbounded following
        ) as user_after_export_date
    from events
    where anonymous_id is not null
      -- only the devices and sessions of anonymous events are looked up: the others'
      -- windows and counts would be computed for nothing
      and anonymous_id in (select anonymous_id from events where user_id is null)

),

by_session as (

    select
        session_id,
        -- exactly one distinct user_id (nulls aside): cheaper than count(distinct)
        case when min(user_id) = max(user_id) then min(user_id) end as session_user_id,
        max(case when user_id is not null then export_date end) as session_export_date
    from events
    where session_id in (select session_id from events where user_id is null)
    group by session_id

),

anonymous_events as (

    select
        e.event_id,
        e.session_id,
        e.anonymous_id,
        e.event_ts,
        e.export_date,
        d.user_before,
        d.user_after,
        s.session_user_id,
        -- the export day of the event that decides (a new event that would decide
        -- instead is itself that event); the session only when the device decides nothing
        case
            when d.user_before is not null then d.user_before_export_date
            when d.user_after is not null then d.user_after_export_date
            else s.session_export_date
        end as deciding_export_date
    from events e
    left join by_device d on d.event_id = e.event_id
    left join by_session s on s.session_id = e.session_id
    where e.user_id is null

)

select
    event_id,
    session_id,
    anonymous_id,
    event_ts,
    {{ insights_warehouse.reporting_date('event_ts') }} as event_date,
    coalesce(user_before, user_after, session_user_id) as resolved_user_id,
    case
        when user_before is not null then 'anonymous_id_before'
        when user_after is not null then 'anonymous_id_after'
        when session_user_id is not null then 'session'
        else 'anonymous'
    end as resolution,
    case
        when deciding_export_date > export_date then deciding_export_date
        else export_date
    end as depends_on_export_date
from anonymous_events
