-- One row per workflow_started event (a workflow run), with whether and when it completed
-- or failed, matched within the same session_id and workflow. Completion: the k-th start
-- pairs with the k-th workflow_completed event in time order (event_ts, ties broken by
-- event_id), an outcome only ever pairing with a start at or before it: a completion
-- that arrives while every earlier start of the session and workflow is already paired
-- (a completion "with no start") is left out and does not shift the pairing of later
-- runs. Failure: workflow_failed events pair the same way with the runs left not
-- completed, so a run is never both. A run without a paired outcome is neither. Portable
-- window functions only; no as-of cut (the marts apply theirs).
--
-- The matching is first in, first out: walking a session and workflow's events in order
-- (starts before outcomes at the same timestamp, so an outcome at the very time of its
-- start pairs), `open_runs_before` is the balance of starts minus outcomes before the
-- event. An outcome pairs when that balance is above its running minimum (floored at 0),
-- i.e. when some earlier start is still open; the paired outcomes, numbered in order, are
-- then the outcomes of the 1st, 2nd, ... start of that pass.

{#- One FIFO pass per outcome: its name, its event type, and the CTE of the starts it
    pairs with (every start for completions; the runs left not completed for failures). #}
{%- set passes = [
    {'name': 'completed', 'event_type': 'workflow_completed', 'starts': 'starts'},
    {'name': 'failed', 'event_type': 'workflow_failed', 'starts': 'not_completed_starts'},
] %}

with workflow_events as (

    select
        event_id,
        session_id,
        workflow,
        event_type,
        event_ts,
        event_date,
        user_id,
        creator_id
    from {{ ref('stg_events') }}
    where event_type in ('workflow_started', 'workflow_completed', 'workflow_failed')

),

starts as (

    select
        event_id,
        session_id,
        workflow,
        user_id,
        creator_id,
        event_ts,
        event_date,
        row_number() over (
            partition by session_id, workflow order by event_ts, event_id
        ) as run_number
    from workflow_events
    where event_type = 'workflow_started'

),
{%- for pass in passes %}
{%- if pass.starts == 'not_completed_starts' %}

not_completed_starts as (

    select
        starts.event_id,
        starts.session_id,
        starts.workflow,
        starts.event_ts,
        starts.event_date,
        row_number() over (
            partition by starts.session_id, starts.workflow
            order by starts.event_ts, starts.event_id
        ) as run_number
    from starts
    left join completed_runs
        on starts.event_id = completed_runs.start_event_id
    where completed_runs.start_event_id is null

),
{%- endif %}

{# The pass's starts (+1) and outcomes (-1) in order, with the running balance. #}
{{ pass.name }}_sequence as (

    select
        event_id,
        session_id,
        workflow,
        event_ts,
        event_date,
        event_kind,
        sum(event_kind) over (
            partition by session_id, workflow
            order by event_ts, event_kind desc, event_id
            rows between unbounded preceding and current row
        ) as balance
    from (
        select event_id, session_id, workflow, event_ts, event_date, 1 as event_kind
        from {{ pass.starts }}
        union all
        select event_id, session_id, workflow, event_ts, event_date, -1 as event_kind
        from workflow_events
        where event_type = '{{ pass.event_type }}'
    ) as pass_events

),

{{ pass.name }}_floor as (

    select
        event_id,
        session_id,
        workflow,
        event_ts,
        event_date,
        event_kind,
        balance - event_kind as open_runs_before,
        {# lowest balance before this event (null for the first event) #}
        min(balance) over (
            partition by session_id, workflow
            order by event_ts, event_kind desc, event_id
            rows between unbounded preceding and 1 preceding
        ) as previous_min_balance
    from {{ pass.name }}_sequence

),

{{ pass.name }}_paired as (

    select
        event_id,
        session_id,
        workflow,
        event_ts,
        event_date,
        row_number() over (
            partition by session_id, workflow order by event_ts, event_id
        ) as run_number
    from {{ pass.name }}_floor
    where event_kind = -1
      and open_runs_before > case
          when previous_min_balance is null or previous_min_balance > 0 then 0
          else previous_min_balance
      end

),

{{ pass.name }}_runs as (

    select
        {{ pass.starts }}.event_id as start_event_id,
        {{ pass.name }}_paired.event_id,
        {{ pass.name }}_paired.event_ts,
        {{ pass.name }}_paired.event_date
    from {{ pass.starts }}
    inner join {{ pass.name }}_paired
        on {{ pass.starts }}.session_id = {{ pass.name }}_paired.session_id
        and ({{ pass.starts }}.workflow = {{ pass.name }}_paired.workflow
             or ({{ pass.starts }}.workflow is null and {{ pass.name }}_paired.workflow is null))
        and {{ pass.starts }}.run_number = {{ pass.name }}_paired.run_number

){{ ',' if not loop.last }}
{%- endfor %}

select
    starts.event_id as start_event_id,
    starts.session_id,
    starts.workflow,
    cast(starts.run_number as {{ dbt.type_bigint() }}) as run_number,
    starts.user_id,
    starts.creator_id,
    starts.event_ts as started_at,
    starts.event_date as start_date,
    completed_runs.event_id as completion_event_id,
    completed_runs.event_ts as completed_at,
    completed_runs.event_date as completed_date,
    completed_runs.event_id is not null as is_completed,
    failed_runs.event_id as failure_event_id,
    failed_runs.event_ts as failed_at,
    failed_runs.event_id is not null as is_failed
from starts
left join completed_runs
    on starts.event_id = completed_runs.start_event_id
left join failed_runs
    on starts.event_id = failed_runs.start_event_id
