-- Per agent version per day (product document 001: teams compare agents per agent
-- version): the version of an agent that served each conversational event is the
-- unlisted data field `data.agent_version` (kept in the event's data JSON; the raw export
-- contract lets platforms add data fields). Per date × agent_id × agent_version.
--
-- Measures, over the events of that agent and version on that date: sessions (distinct
-- session_id), classifications and fallback_rate (intent_classified with intent
-- 'fallback'), response_time_ms_p50 over bot_response events, ratings, mean_rating and
-- csat (share of ratings 4..5) of user_feedback events, negative_sentiment_rate over the
-- events carrying a sentiment. Events without an agent_id are left out; events of an
-- agent without a version are under agent_version '(none)'. Up to the as-of date.
-- Incremental: a run replaces the dates from the window start on
-- (macros/incremental_window.sql); a date's rows depend only on that date's events.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='date',
    incremental_as_of_cut=true,
    partition_by=insights_warehouse.date_partition('date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('date') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select
        event_date,
        session_id,
        agent_id,
        coalesce({{ insights_warehouse.json_field_text('event_data', 'agent_version') }}, '(none)')
            as agent_version,
        event_type,
        intent,
        cast(response_time_ms as {{ insights_warehouse.type_double() }}) as response_time_ms,
        case when event_type = 'user_feedback' then rating end as rating,
        sentiment
    from {{ ref('stg_events') }}
    where agent_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

daily as (

    select
        event_date,
        agent_id,
        agent_version,
        count(distinct session_id) as sessions,
        sum(case when event_type = 'intent_classified' then 1 else 0 end) as classifications,
        sum(case when event_type = 'intent_classified' and intent = 'fallback' then 1 else 0 end)
            as fallback_classifications,
        {{ insights_warehouse.percentile_cont(
            "case when event_type = 'bot_response' then response_time_ms end", 0.5) }}
            as response_time_ms_p50,
        {{ insights_warehouse.rating_sums() }},
        count(sentiment) as sentiment_events,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative_events
    from events
    group by event_date, agent_id, agent_version

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(agent_id as {{ dbt.type_string() }}) as agent_id,
    cast(agent_version as {{ dbt.type_string() }}) as agent_version,
    cast(sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(classifications as {{ dbt.type_bigint() }}) as classifications,
    cast(
        case when classifications > 0
             then cast(fallback_classifications as {{ insights_warehouse.type_double() }}) / classifications end
        as {{ insights_warehouse.type_double() }}
    ) as fallback_rate,
    cast(response_time_ms_p50 as {{ insights_warehouse.type_double() }}) as response_time_ms_p50,
    cast(ratings as {{ dbt.type_bigint() }}) as ratings,
    cast(mean_rating as {{ insights_warehouse.type_double() }}) as mean_rating,
    {{ insights_warehouse.share('satisfied_ratings', 'ratings') }} as csat,
    cast(sentiment_events as {{ dbt.type_bigint() }}) as sentiment_events,
    {{ insights_warehouse.share('negative_events', 'sentiment_events') }} as negative_sentiment_rate
from daily
