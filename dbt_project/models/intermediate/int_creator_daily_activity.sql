-- One row per creator × day (reporting time zone) with any activity: active events
-- (anonymous included, attributed by the event's creator_id) and sessions started
-- (attributed by the session's creator, int_sessions). Plus creator_id = '__all__' rows
-- over everything, including activity with no creator_id.
-- Incremental: a run replaces the dates from the window start on (macros/incremental_window.sql);
-- each activity_date row depends only on that date's events and sessions started.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='activity_date',
    partition_by=insights_warehouse.date_partition('activity_date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('activity_date') %}

with active_events as (

    select creator_id, event_date
    from {{ ref('stg_events') }}
    where is_active_event
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

sessions as (

    select creator_id, start_date
    from {{ ref('int_sessions') }}
    where {{ insights_warehouse.date_on_or_after('start_date', window_start) }}

),

activity as (

    select creator_id, event_date as activity_date, 1 as active_events, 0 as sessions_started
    from active_events
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), event_date, 1, 0
    from active_events

    union all

    select creator_id, start_date, 0, 1
    from sessions
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), start_date, 0, 1
    from sessions

)

select
    creator_id,
    activity_date,
    sum(active_events) as active_events,
    sum(sessions_started) as sessions_started
from activity
group by creator_id, activity_date
