-- Each rating and each sentiment-carrying message with the intent it belongs to
-- (intent_satisfaction_daily's attribution): a rating (user_feedback with data.rating)
-- belongs to the last intent_classified event of its session at or before it
-- (event_ts, ties by event_id), a message's sentiment to the first intent_classified of
-- its session at or after it; '(none)' when there is none. One row per rating or
-- message, with its session's ended_at. Ratings and messages up to the as-of date.
--
-- Incremental: a run replaces the ratings and messages dated from the window start on,
-- moved back (widening 'sessions' by event_date, macros/incremental_window.sql
-- sessions_window_start) to the earliest one whose session has an event in the window
-- now or reached into it at the last build (ended_at), whose intent may have changed.
-- The classifications read are those of the sessions of the window's rows, of any date.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='event_date',
    incremental_window_widen='sessions',
    incremental_as_of_cut=true,
    partition_by=insights_warehouse.date_partition('event_date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('event_date') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

rated_events as (

    select event_id, session_id, event_ts, event_date, event_type, rating, sentiment
    from {{ ref('stg_events') }}
    where event_type in ('user_feedback', 'user_message')
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

feedback as (

    select event_id, session_id, event_ts, event_date, rating
    from rated_events
    where event_type = 'user_feedback' and rating is not null

),

messages as (

    select event_id, session_id, event_ts, event_date, sentiment
    from rated_events
    where event_type = 'user_message' and sentiment is not null

),

classified as (

    select event_id, session_id, event_ts, coalesce(intent, '(none)') as intent
    from {{ ref('stg_events') }}
    where event_type = 'intent_classified'
    {%- if window_start is not none %}
      and session_id in (
          select session_id from feedback
          union
          select session_id from messages)
    {%- endif %}

),

rated as (

    -- each rating with the session's latest intent at or before it (event time, then
    -- event_id; null when none): one aggregate per rating (macros/cross_db/first_by.sql)
    select
        feedback.event_id,
        feedback.session_id,
        feedback.event_date,
        feedback.rating,
        {{ insights_warehouse.last_by('classified.intent', ['classified.event_ts', 'classified.event_id']) }}
            as intent
    from feedback
    left join classified
        on classified.session_id = feedback.session_id
        and classified.event_ts <= feedback.event_ts
    group by feedback.event_id, feedback.session_id, feedback.event_date, feedback.rating

),

felt as (

    -- each message's sentiment with the session's next intent at or after it
    select
        messages.event_id,
        messages.session_id,
        messages.event_date,
        messages.sentiment,
        {{ insights_warehouse.first_by('classified.intent', ['classified.event_ts', 'classified.event_id']) }}
            as intent
    from messages
    left join classified
        on classified.session_id = messages.session_id
        and classified.event_ts >= messages.event_ts
    group by messages.event_id, messages.session_id, messages.event_date, messages.sentiment

),

attributed as (

    select event_id, session_id, event_date, intent, rating,
           cast(null as {{ dbt.type_string() }}) as sentiment
    from rated
    union all
    select event_id, session_id, event_date, intent, cast(null as {{ dbt.type_int() }}) as rating,
           sentiment
    from felt

)

select
    cast(attributed.event_id as {{ dbt.type_string() }}) as event_id,
    cast(attributed.session_id as {{ dbt.type_string() }}) as session_id,
    cast(attributed.event_date as date) as event_date,
    sessions.ended_at,
    cast(coalesce(attributed.intent, '(none)') as {{ dbt.type_string() }}) as intent,
    cast(attributed.rating as {{ dbt.type_int() }}) as rating,
    cast(attributed.sentiment as {{ dbt.type_string() }}) as sentiment
from attributed
left join {{ ref('int_sessions') }} as sessions
    on sessions.session_id = attributed.session_id
