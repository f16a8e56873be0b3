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
-- The session's agent comes from int_session_agents, the event measures per day from
-- int_agent_daily_events: both incremental, so a daily run reads the new days' events
-- only and this table joins the two.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

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
    inner join {{ ref('int_session_agents') }} as session_agents
        on sessions.session_id = session_agents.session_id
    where session_agents.agent_id is not null
      and sessions.start_date <= (select as_of_date from as_of)
    group by sessions.start_date, coalesce(sessions.creator_id, '(none)'), session_agents.agent_id

),

daily_events as (

    select * from {{ ref('int_agent_daily_events') }}

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
