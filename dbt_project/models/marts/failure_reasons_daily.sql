-- Errors by code and workflow failure reasons per day (product document 001, "System
-- health"): per date × creator_id × kind × workflow × reason.
--
-- kind 'error': error events, reason = data.error_code ('(none)' without one), workflow
-- '(none)'. kind 'workflow_failure': failed workflow runs (int_workflow_runs, dated by
-- their workflow_failed event), workflow = the run's workflow, reason = what went wrong
-- inside the run, from the events of its session between its start and its failure
-- (inclusive): the latest error event ('error <code>'), else the latest api_call with a
-- status of 400 or more ('http <status>'), else '(no error recorded)'.
-- creator_id is the event's or run's creator ('(none)' without one); '__all__' is every
-- row of the kind (never summed from other rows: counted over the same events). Up to
-- the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

errors as (

    select
        event_date,
        coalesce(creator_id, '(none)') as creator_id,
        cast('error' as {{ dbt.type_string() }}) as kind,
        cast('(none)' as {{ dbt.type_string() }}) as workflow,
        cast(coalesce(error_code, '(none)') as {{ dbt.type_string() }}) as reason,
        session_id
    from {{ ref('stg_events') }}
    where event_type = 'error'
      and event_date <= (select as_of_date from as_of)

),

failed_runs as (

    select
        start_event_id,
        session_id,
        coalesce(workflow, '(none)') as workflow,
        coalesce(creator_id, '(none)') as creator_id,
        started_at,
        failed_at,
        {{ insights_warehouse.reporting_date('failed_at') }} as failed_date
    from {{ ref('int_workflow_runs') }}
    where is_failed

),

evidence as (

    select
        failed_runs.start_event_id,
        case
            when events.event_type = 'error'
                then {{ dbt.concat(["'error '", "coalesce(events.error_code, '(none)')"]) }}
            else {{ dbt.concat(["'http '", "cast(events.status_code as " ~ dbt.type_string() ~ ")"]) }}
        end as reason,
        row_number() over (
            partition by failed_runs.start_event_id
            order by case when events.event_type = 'error' then 0 else 1 end,
                     events.event_ts desc, events.event_id desc
        ) as evidence_rank
    from failed_runs
    inner join {{ ref('stg_events') }} as events
        on events.session_id = failed_runs.session_id
        and events.event_ts >= failed_runs.started_at
        and events.event_ts <= failed_runs.failed_at
        and (events.event_type = 'error'
             or (events.event_type = 'api_call' and events.status_code >= 400))

),

failures as (

    select
        failed_runs.failed_date as event_date,
        failed_runs.creator_id,
        cast('workflow_failure' as {{ dbt.type_string() }}) as kind,
        failed_runs.workflow,
        cast(coalesce(evidence.reason, '(no error recorded)') as {{ dbt.type_string() }}) as reason,
        failed_runs.session_id
    from failed_runs
    left join evidence
        on evidence.start_event_id = failed_runs.start_event_id and evidence.evidence_rank = 1
    where failed_runs.failed_date <= (select as_of_date from as_of)

),

rows_ as (

    select * from errors
    union all
    select * from failures

),

attributed as (

    select event_date, creator_id, kind, workflow, reason, session_id from rows_
    union all
    select event_date, cast('__all__' as {{ dbt.type_string() }}) as creator_id, kind, workflow,
           reason, session_id
    from rows_

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(kind as {{ dbt.type_string() }}) as kind,
    cast(workflow as {{ dbt.type_string() }}) as workflow,
    cast(reason as {{ dbt.type_string() }}) as reason,
    cast(count(*) as {{ dbt.type_bigint() }}) as occurrences,
    cast(count(distinct session_id) as {{ dbt.type_bigint() }}) as sessions
from attributed
group by event_date, creator_id, kind, workflow, reason
