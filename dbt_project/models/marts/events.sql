-- The event table for analysts (issue 17, "Events for analysts"): one row per current
-- event, with the resolved user, creator, session, type, timestamps and the typed
-- fields, and `data` reduced to the keys of var published_data_keys
-- (config/settings.yaml metrics.published_data_keys). No personal data and no free text:
-- error messages, feedback comments and extracted entity values (typed columns and
-- their `data` keys), keys the contract does not list (custom events carry anything),
-- top-level fields the contract does not list (extra_fields), the anonymous_id and the
-- user_id as sent stay in the raw layer.
-- Incremental: a run replaces the event dates from the window start on
-- (macros/incremental_window.sql; the window moves back to the oldest anonymous event
-- whose resolved user a newly loaded day can change, so retroactive identity reaches
-- this table). No as-of cut: every loaded event is here.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='event_date',
    partition_by=insights_warehouse.date_partition('event_date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('event_date') %}
{%- set keys = var('published_data_keys') or [] %}

select
    event_id,
    event_date,
    event_ts,
    event_type,
    is_known_event_type,
    is_active_event,
    user_id,
    identity_resolution,
    session_id,
    creator_id,
    agent_id,
    program_id,
    channel,
    platform,
    location,
    sentiment,
    duration_ms,
    response_time_ms,
    confidence,
    text_length,
    intent,
    entity,
    workflow,
    endpoint,
    status_code,
    latency_ms,
    error_code,
    rating,
    topic,
    lesson_id,
    skill,
    is_correct,
    quality,
    goal_id,
    goal_type,
    target_value,
    is_escalated_to_human,
    {{ insights_warehouse.json_keep_keys('event_data', keys) }} as data,
    export_date
from {{ ref('stg_events') }}
where {{ insights_warehouse.events_on_or_after(window_start) }}
