-- Daily conversation metrics per creator and for all creators ('__all__'), metrics.md
-- "Conversations and language understanding". One row per creator and date, from the
-- creator's first date with a session, a bot_response or a workflow start to the as-of
-- date.
--
-- Session measures (conversations, avg_turns, automation_rate, cost_savings) count
-- sessions on their start date by the session's creator (int_sessions); workflow
-- measures count workflow runs on their start date by the start event's creator_id
-- (int_workflow_runs: a run is completed when its start is paired with a completion,
-- by the as-of date), so the completion rate is a fraction in [0, 1]; response times
-- count bot_response events on their date by the event's creator_id. Rows for '__all__'
-- are computed over all rows (also those without a creator), never summed or averaged
-- from the creators' rows.

{%- set cost_per_human_interaction = insights_warehouse.number_var('cost_per_human_interaction', 0) %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

sessions as (

    select creator_id, start_date, turns, is_conversation, is_escalated
    from {{ ref('int_sessions') }}
    where start_date <= (select as_of_date from as_of)

),

conversation_events as (

    select creator_id, event_date, event_type, response_time_ms
    from {{ ref('stg_events') }}
    where event_type = 'bot_response'
      and event_date <= (select as_of_date from as_of)

),

{# A completion after the as-of date is not known yet at the as-of date. #}
workflow_runs as (

    select
        creator_id,
        start_date,
        case
            when is_completed and completed_date <= (select as_of_date from as_of) then 1
            else 0
        end as is_completed
    from {{ ref('int_workflow_runs') }}
    where start_date <= (select as_of_date from as_of)

),

{# Each session and event once under its creator (when it has one) and once under '__all__'. #}
attributed_sessions as (

    select creator_id, start_date as activity_date, turns, is_conversation, is_escalated
    from sessions
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), start_date, turns, is_conversation,
        is_escalated
    from sessions

),

attributed_events as (

    select creator_id, event_date as activity_date, event_type, response_time_ms
    from conversation_events
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), event_date, event_type, response_time_ms
    from conversation_events

),

attributed_workflow_runs as (

    select creator_id, start_date as activity_date, is_completed
    from workflow_runs
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), start_date, is_completed
    from workflow_runs

),

daily_sessions as (

    select
        creator_id,
        activity_date,
        count(*) as sessions,
        sum(case when is_conversation then 1 else 0 end) as conversations,
        sum(case when turns >= 1 then 1 else 0 end) as sessions_with_turns,
        sum(case when turns >= 1 then turns else 0 end) as turns,
        sum(case when not is_escalated then 1 else 0 end) as automated_sessions,
        sum(case when is_conversation and not is_escalated then 1 else 0 end)
            as automated_conversations
    from attributed_sessions
    group by creator_id, activity_date

),

daily_events as (

    select
        creator_id,
        activity_date,
        sum(case when event_type = 'bot_response' and response_time_ms is not null then 1 else 0 end)
            as timed_responses,
        avg(case when event_type = 'bot_response'
                 then cast(response_time_ms as {{ insights_warehouse.type_double() }}) end)
            as response_time_ms_mean,
        {{ insights_warehouse.percentile_cont(
            "case when event_type = 'bot_response' then cast(response_time_ms as "
            ~ insights_warehouse.type_double() ~ ") end", 0.5) }} as response_time_ms_p50,
        {{ insights_warehouse.percentile_cont(
            "case when event_type = 'bot_response' then cast(response_time_ms as "
            ~ insights_warehouse.type_double() ~ ") end", 0.95) }} as response_time_ms_p95
    from attributed_events
    group by creator_id, activity_date

),

daily_workflows as (

    select
        creator_id,
        activity_date,
        count(*) as workflows_started,
        sum(is_completed) as workflows_completed
    from attributed_workflow_runs
    group by creator_id, activity_date

),

creator_first_dates as (

    select creator_id, min(activity_date) as first_date
    from (
        select creator_id, activity_date from daily_sessions
        union all
        select creator_id, activity_date from daily_events
        union all
        select creator_id, activity_date from daily_workflows
    ) as any_activity
    group by creator_id

),

calendar as (

    {{ insights_warehouse.date_spine(
        '(select min(first_date) from creator_first_dates)',
        '(select as_of_date from as_of)'
    ) }}

),

creator_calendar as (

    select creator_first_dates.creator_id, calendar.date_day
    from creator_first_dates
    inner join calendar
        on calendar.date_day >= creator_first_dates.first_date

),

daily as (

    select
        creator_calendar.date_day,
        creator_calendar.creator_id,
        coalesce(daily_sessions.sessions, 0) as sessions,
        coalesce(daily_sessions.conversations, 0) as conversations,
        coalesce(daily_sessions.sessions_with_turns, 0) as sessions_with_turns,
        coalesce(daily_sessions.turns, 0) as turns,
        coalesce(daily_sessions.automated_sessions, 0) as automated_sessions,
        coalesce(daily_sessions.automated_conversations, 0) as automated_conversations,
        coalesce(daily_workflows.workflows_started, 0) as workflows_started,
        coalesce(daily_workflows.workflows_completed, 0) as workflows_completed,
        coalesce(daily_events.timed_responses, 0) as timed_responses,
        daily_events.response_time_ms_mean,
        daily_events.response_time_ms_p50,
        daily_events.response_time_ms_p95
    from creator_calendar
    left join daily_sessions
        on creator_calendar.creator_id = daily_sessions.creator_id
        and creator_calendar.date_day = daily_sessions.activity_date
    left join daily_events
        on creator_calendar.creator_id = daily_events.creator_id
        and creator_calendar.date_day = daily_events.activity_date
    left join daily_workflows
        on creator_calendar.creator_id = daily_workflows.creator_id
        and creator_calendar.date_day = daily_workflows.activity_date

)

select
    cast(daily.date_day as date) as {{ adapter.quote('date') }},
    cast(daily.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(daily.conversations as {{ dbt.type_bigint() }}) as conversations,
    cast(
        case
            when daily.sessions_with_turns = 0 then null
            else cast(daily.turns as {{ insights_warehouse.type_double() }}) / daily.sessions_with_turns
        end
        as {{ insights_warehouse.type_double() }}
    ) as avg_turns,
    cast(
        case
            when daily.workflows_started = 0 then null
            else cast(daily.workflows_completed as {{ insights_warehouse.type_double() }})
                / daily.workflows_started
        end
        as {{ insights_warehouse.type_double() }}
    ) as workflow_completion_rate,
    cast(daily.response_time_ms_mean as {{ insights_warehouse.type_double() }}) as response_time_ms_mean,
    cast(daily.response_time_ms_p50 as {{ insights_warehouse.type_double() }}) as response_time_ms_p50,
    cast(daily.response_time_ms_p95 as {{ insights_warehouse.type_double() }}) as response_time_ms_p95,
    cast(
        case
            when daily.sessions = 0 then null
            else cast(daily.automated_sessions as {{ insights_warehouse.type_double() }}) / daily.sessions
        end
        as {{ insights_warehouse.type_double() }}
    ) as automation_rate,
    cast(
        daily.automated_conversations * {{ cost_per_human_interaction }}
        as {{ insights_warehouse.type_double() }}
    ) as cost_savings,
    cast(daily.sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(daily.automated_sessions as {{ dbt.type_bigint() }}) as automated_sessions,
    cast(daily.automated_conversations as {{ dbt.type_bigint() }}) as automated_conversations,
    cast(daily.sessions_with_turns as {{ dbt.type_bigint() }}) as sessions_with_turns,
    cast(daily.turns as {{ dbt.type_bigint() }}) as turns,
    cast(daily.workflows_started as {{ dbt.type_bigint() }}) as workflows_started,
    cast(daily.workflows_completed as {{ dbt.type_bigint() }}) as workflows_completed,
    cast(daily.timed_responses as {{ dbt.type_bigint() }}) as timed_responses,
    cast(as_of.as_of_date as date) as as_of_date,
    cast({{ cost_per_human_interaction }} as {{ insights_warehouse.type_double() }})
        as cost_per_human_interaction
from daily
cross join as_of
order by daily.date_day, daily.creator_id
