-- The event measures of agent_daily: per date × creator × agent, the agent's events of
-- that date (intent classifications, fallback and low-confidence classifications, timed
-- responses and their p50 / p95, workflows started and failed, ratings). Events without
-- an agent are left out; creator_id '(none)': the event has none. Up to the as-of date.
-- Incremental: a run replaces the dates from the window start on
-- (macros/incremental_window.sql); a date's rows depend only on that date's events, and
-- every date is rebuilt when low_confidence_threshold changed (incremental_built_with).

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='activity_date',
    incremental_as_of_cut=true,
    incremental_built_with={'low_confidence_threshold':
                            insights_warehouse.number_var('low_confidence_threshold', 0, 1)},
    partition_by=insights_warehouse.date_partition('activity_date'),
    on_schema_change='fail'
) }}

{%- set threshold = insights_warehouse.number_var('low_confidence_threshold', 0, 1) %}
{%- set window_start = insights_warehouse.replace_window_start('activity_date') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select
        event_date, creator_id, agent_id, event_type, intent,
        cast(confidence as {{ insights_warehouse.type_double() }}) as confidence,
        cast(response_time_ms as {{ insights_warehouse.type_double() }}) as response_time_ms,
        rating
    from {{ ref('stg_events') }}
    where agent_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

)

select
    cast(event_date as date) as activity_date,
    cast(coalesce(creator_id, '(none)') as {{ dbt.type_string() }}) as creator_id,
    cast(agent_id as {{ dbt.type_string() }}) as agent_id,
    sum(case when event_type = 'intent_classified' then 1 else 0 end) as classifications,
    sum(case when event_type = 'intent_classified' and intent = 'fallback' then 1 else 0 end)
        as fallback_classifications,
    sum(case when event_type = 'intent_classified' and confidence is not null then 1 else 0 end)
        as classifications_with_confidence,
    sum(case when event_type = 'intent_classified' and confidence < {{ threshold }} then 1 else 0 end)
        as low_confidence_classifications,
    sum(case when event_type = 'bot_response' and response_time_ms is not null then 1 else 0 end)
        as timed_responses,
    {{ insights_warehouse.percentile_cont(
        "case when event_type = 'bot_response' then response_time_ms end", 0.5) }}
        as response_time_ms_p50,
    {{ insights_warehouse.percentile_cont(
        "case when event_type = 'bot_response' then response_time_ms end", 0.95) }}
        as response_time_ms_p95,
    sum(case when event_type = 'workflow_started' then 1 else 0 end) as workflows_started,
    sum(case when event_type = 'workflow_failed' then 1 else 0 end) as workflows_failed,
    sum(case when event_type = 'user_feedback' and rating is not null then 1 else 0 end) as ratings,
    sum(case when event_type = 'user_feedback' and rating >= 4 then 1 else 0 end) as satisfied_ratings,
    cast({{ threshold }} as {{ insights_warehouse.type_double() }}) as low_confidence_threshold
from events
group by event_date, coalesce(creator_id, '(none)'), agent_id
