-- One row per session_id, over all its events (every type, anonymous included).
-- The session's user and creator are the first non-null user_id / creator_id in time
-- order (ties broken by event_id), so one late or partial event cannot move it.
-- Conversation measures (metrics.md "Conversations and language understanding"): turns,
-- whether it is a conversation / completed / escalated, and its drop-off point.
-- Incremental: a run replaces the start dates from the window start on, moved back to
-- the first day of every built session with an event in the window
-- (macros/incremental_window.sql sessions_window_start), so each session is summarised
-- over all of its events.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='start_date',
    partition_by=insights_warehouse.date_partition('start_date'),
    incremental_window_widen='sessions',
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('start_date') %}

with events as (

    select
        session_id, event_id, event_ts, user_id, creator_id, is_active_event,
        event_type, intent, is_escalated_to_human
    from {{ ref('stg_events') }} as stg
    where {{ insights_warehouse.events_on_or_after(window_start) }}
    {%- if window_start is not none %}
      {#- the events of built sessions that start before the window: unchanged sessions
          (macros/incremental_window.sql sessions_window_start), of which the window
          holds only the last events #}
      and not exists (
          select 1 from {{ this }} as built
          where built.session_id = stg.session_id
            and built.start_date < {{ insights_warehouse.date_literal(window_start) }})
    {%- endif %}

),

session_bounds as (

    select
        session_id,
        min(event_ts) as started_at,
        max(event_ts) as ended_at,
        count(*) as events,
        sum(case when is_active_event then 1 else 0 end) as active_events,
        sum(case when event_type in ('user_message', 'bot_response') then 1 else 0 end) as turns,
        sum(case when event_type = 'user_message' then 1 else 0 end) as user_messages,
        max(case when event_type = 'conversation_start' then 1 else 0 end) as has_conversation_start,
        max(case when event_type = 'conversation_end' then 1 else 0 end) as has_conversation_end,
        max(case when is_escalated_to_human then 1 else 0 end) as has_escalation,
        -- the session's first user and creator, and its last intent (event time, then
        -- event_id): one aggregate each (macros/cross_db/first_by.sql), no window
        {{ insights_warehouse.first_by('user_id', ['event_ts', 'event_id'],
                                      where="user_id is not null") }} as first_user_id,
        {{ insights_warehouse.first_by('creator_id', ['event_ts', 'event_id'],
                                      where="creator_id is not null") }} as first_creator_id,
        {{ insights_warehouse.last_by('intent', ['event_ts', 'event_id'],
                                      where="event_type = 'intent_classified'") }} as last_intent
    from events
    group by session_id

)

select
    session_bounds.session_id,
    session_bounds.first_user_id as user_id,
    session_bounds.first_creator_id as creator_id,
    session_bounds.started_at,
    {{ insights_warehouse.reporting_date('session_bounds.started_at') }} as start_date,
    session_bounds.ended_at,
    session_bounds.events,
    session_bounds.active_events,
    {{ insights_warehouse.seconds_between('session_bounds.started_at', 'session_bounds.ended_at') }}
        as duration_s,
    session_bounds.turns,
    session_bounds.user_messages,
    session_bounds.has_conversation_start = 1 as is_conversation,
    session_bounds.has_conversation_end = 1 as is_completed,
    session_bounds.has_escalation = 1 as is_escalated,
    case
        when session_bounds.has_conversation_end = 1 then null
        else coalesce(session_bounds.last_intent, 'unknown')
    end as drop_off_point
from session_bounds
