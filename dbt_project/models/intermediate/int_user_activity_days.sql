-- One row per user × creator × day (reporting time zone) with at least one active
-- event of that user served by that creator, plus the creator-agnostic grain: one row
-- per user × day with creator_id = '__all__' (all of the user's active events that day,
-- including those with no creator_id). Anonymous events are not user activity.
-- Incremental: a run replaces the dates from the window start on (macros/incremental_window.sql);
-- each activity_date row depends only on that date's events.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='activity_date',
    partition_by=insights_warehouse.date_partition('activity_date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('activity_date') %}

with user_active_events as (

    select
        user_id,
        creator_id,
        event_date
    from {{ ref('stg_events') }}
    where is_active_event
      and user_id is not null
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

per_creator as (

    select
        user_id,
        creator_id,
        event_date as activity_date,
        count(*) as active_events
    from user_active_events
    where creator_id is not null
    group by user_id, creator_id, event_date

),

all_creators as (

    select
        user_id,
        cast('__all__' as {{ dbt.type_string() }}) as creator_id,
        event_date as activity_date,
        count(*) as active_events
    from user_active_events
    group by user_id, event_date

)

select user_id, creator_id, activity_date, active_events from per_creator
union all
select user_id, creator_id, activity_date, active_events from all_creators
