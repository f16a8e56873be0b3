-- Per-agent metrics per day (product document 001: teams compare their agents), with the
-- definitions of metrics.md "Conversations and language understanding" applied to one
-- agent: per date × creator_id × agent_id.
--
-- Session measures (sessions, conversations, automation) count sessions on their start
-- date under the session's agent: the first non-null agent_id of the session in time
-- order (ties by event_id), as int_sessions does for the creator; the session's creator
-- is int_sessions'. Event measures (classifications, fallback and low-confidence rates,
-- response times, failed workflows, ratings) count events on their date under the
-- event's own agent_id and creator_id. Sessions and events without an agent are left
-- out (conversation_daily has the per-creator and platform totals). Up to the as-of date.

{%- set threshold = insights_warehouse.number_var('low_confidence_threshold', 0, 1) %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select
        session_id, event_id, event_ts, event_date, creator_id, agent_id, event_type,
        intent, cast(confidence as {{ insights_warehouse.type_double() }}) as confidence,
        cast(response_time_ms as {{ insights_warehouse.type_double() }}) as response_time_ms,
        rating
    from {{ ref('stg_events') }}
    where agent_id is not null
      and event_date <= (select as_of_date from as_of)

),

session_agents as (

    -- the session's first agent (event time, then event_id)
    select
        session_id,
        {{ insights_warehouse.first_by('agent_id', ['event_ts', 'event_id']) }} as agent_id
    from {{ ref('stg_events') }}
    where agent_id is not null
    group by session_id

),

daily_sessions as (

    select
        sessions.start_date as activity_date,
        coalesce(sessions.creator_id, '(none)') as creator_id,
        session_agents.agent_id,
        count(*) as sessions,
        sum(case when sessions.is_conversation then 1 else 0 end) as conversations,
        sum(case when not sessions.is_escalated then 1 else 0 end) as automated_sessions
    from {{ ref('int_sessions') }} as sessions
    inner join session_agents on sessions.session_id = session_agents.session_id
    where sessions.start_date <= (select as_of_date from as_of)
    group by sessions.start_date, coalesce(sessions.creator_id, '(none)'), session_agents.agent_id

),

daily_events as (

    select
        event_date as activity_date,
        coalesce(creator_id, '(none)') as creator_id,
        agent_id,
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
        sum(case when event_type = 'user_feedback' and rating >= 4 then 1 else 0 end) as satisfied_ratings
    from events
    group by event_date, coalesce(creator_id, '(none)'), agent_id

),

keys as (

    select activity_date, creator_id, agent_id from daily_sessions
    union
    select activity_date, creator_id, agent_id from daily_events

)

select
    cast(keys.activity_date as date) as {{ adapter.quote('date') }},
    cast(keys.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(keys.agent_id as {{ dbt.type_string() }}) as agent_id,
    cast(coalesce(s.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
    cast(coalesce(s.conversations, 0) as {{ dbt.type_bigint() }}) as conversations,
    cast(
        case when s.sessions > 0
             then cast(s.automated_sessions as {{ insights_warehouse.type_double() }}) / s.sessions end
        as {{ insights_warehouse.type_double() }}
    ) as automation_rate,
    cast(coalesce(e.classifications, 0) as {{ dbt.type_bigint() }}) as classifications,
    cast(
        case when e.classifications > 0
             then cast(e.fallback_classifications as {{ insights_warehouse.type_double() }}) / e.classifications end
        as {{ insights_warehouse.type_double() }}
    ) as fallback_rate,
    cast(
        case when e.classifications_with_confidence > 0
             then cast(e.low_confidence_classifications as {{ insights_warehouse.type_double() }})
                  / e.classifications_with_confidence end
        as {{ insights_warehouse.type_double() }}
    ) as low_confidence_rate,
    cast(coalesce(e.timed_responses, 0) as {{ dbt.type_bigint() }}) as timed_responses,
    cast(e.response_time_ms_p50 as {{ insights_warehouse.type_double() }}) as response_time_ms_p50,
    cast(e.response_time_ms_p95 as {{ insights_warehouse.type_double() }}) as response_time_ms_p95,
    cast(coalesce(e.workflows_started, 0) as {{ dbt.type_bigint() }}) as workflows_started,
    cast(coalesce(e.workflows_failed, 0) as {{ dbt.type_bigint() }}) as workflows_failed,
    cast(coalesce(e.ratings, 0) as {{ dbt.type_bigint() }}) as ratings,
    {{ insights_warehouse.share('e.satisfied_ratings', 'e.ratings') }} as csat
from keys
left join daily_sessions as s
    on keys.activity_date = s.activity_date and keys.creator_id = s.creator_id
    and keys.agent_id = s.agent_id
left join daily_events as e
    on keys.activity_date = e.activity_date and keys.creator_id = e.creator_id
    and keys.agent_id = e.agent_id
