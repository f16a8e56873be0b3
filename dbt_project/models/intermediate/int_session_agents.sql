-- One row per session (int_sessions): its agent, the first non-null agent_id of its
-- events in time order (ties by event_id; null when none has one), with the session's
-- start_date and ended_at. agent_daily counts sessions under this agent.
-- Incremental like int_sessions (widening 'sessions', macros/incremental_window.sql
-- sessions_window_start): a run replaces the sessions from the first day of any built
-- session with an event in its window; every event of a session that starts on or
-- after that day is on or after it, so the window's events give each session's agent.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='start_date',
    partition_by=insights_warehouse.date_partition('start_date'),
    incremental_window_widen='sessions',
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('start_date') %}

with sessions as (

    select session_id, start_date, ended_at
    from {{ ref('int_sessions') }}
    where {{ insights_warehouse.date_on_or_after('start_date', window_start) }}

),

agents as (

    select
        session_id,
        {{ insights_warehouse.first_by('agent_id', ['event_ts', 'event_id']) }} as agent_id
    from {{ ref('stg_events') }}
    where agent_id is not null
      and {{ insights_warehouse.events_on_or_after(window_start) }}
    group by session_id

)

select
    sessions.session_id,
    cast(sessions.start_date as date) as start_date,
    sessions.ended_at,
    cast(agents.agent_id as {{ dbt.type_string() }}) as agent_id
from sessions
left join agents on agents.session_id = sessions.session_id
