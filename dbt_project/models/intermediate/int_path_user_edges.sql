-- Each user's path of every configured path definition (var `paths`, metrics.md v2
-- "Paths"): one row per definition × creator scope × user × edge, which marts.path_edges
-- counts. Per definition and creator scope:
--   anchor  the user's first event (event_ts, then event_id) the anchor selector picks;
--   path    the anchor and the user's events after it (direction after) or before it
--           (before) in the anchor's session, in time order (away from the anchor),
--           labelled (macros/paths.sql path_label); consecutive events with the same
--           label are one path step. Step 1 is the anchor's step (the anchor and the
--           events right after it with its label), steps 2 .. N + 1 the next N steps.
--   edges   (step i, source, target): the user's steps i and i + 1, for i = 1 .. N;
--           target `end` when step i is the path's last (the session has no further
--           event), also at step N + 1. A path longer than N + 1 steps is cut there,
--           without an `end`.
-- An anchor without a session (session_id null) has no path: one row with a null step,
-- so the user's later anchors stay out. Per creator: the anchor and the path among that
-- creator's events; creator_id '__all__': all of the user's events. Resolved users only
-- (anonymous events never count); events up to the as-of date.
--
-- Incremental: rows are filed under the anchor's date. A run rebuilds the anchors from
-- its window start on, moved back to the first anchor date of any built path whose
-- session has an event in the window now or reached into it at the last build (widening
-- 'sessions': each row carries its anchor's session_id and that session's ended_at from
-- int_sessions), and to the day after the as-of date. A user with a built row before
-- that day keeps it: their first anchor is older than the window and its session did not
-- change (identity changes move the window back to the first changed event,
-- macros/incremental_window.sql identity_window_start). The others' first anchor is in
-- the window's events; a `before` path reads back to the first day of the sessions with
-- an event in the window (macros/paths.sql path_events_read_start). Changed definitions
-- (or reporting time zone) rebuild every row (config incremental_built_with).

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='anchor_date',
    partition_by=insights_warehouse.date_partition('anchor_date'),
    incremental_window_widen='sessions',
    incremental_as_of_cut=true,
    incremental_built_with={
        'definition_key': "'" ~ insights_warehouse.path_definitions_key() ~ "'"},
    on_schema_change='sync_all_columns'
) }}

{%- set paths = insights_warehouse.path_definitions() %}
{%- set window_start = insights_warehouse.replace_window_start('anchor_date') %}
{%- set read_start = insights_warehouse.path_events_read_start(
        window_start, paths, ref('int_sessions')) %}
{%- set string = dbt.type_string() %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

{#- Each path's anchor flag and label are computed once per event here, so the events
    are read once and carry no event data further. #}
events as (

    select
        user_id,
        creator_id,
        session_id,
        event_id,
        event_ts,
        event_date
        {%- for p in paths %},
        case when {{ insights_warehouse.selector_predicate(p.anchor) }} then 1 else 0 end
            as is_anchor_{{ loop.index }},
        {{ insights_warehouse.path_label(p.label) }} as label_{{ loop.index }}
        {%- endfor %}
    from {{ ref('stg_events') }}
    where user_id is not null
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(read_start) }}

),

{# The sessions' last events (all creators' events, anonymous ones too): how far each
   anchor session reached at this build, which the next run's window reads. #}
sessions as (

    select session_id, ended_at
    from {{ ref('int_sessions') }}
    where session_id is not null
      and {{ insights_warehouse.events_on_or_after(
                 window_start, insights_warehouse.reporting_date('ended_at'), 'ended_at') }}

),

{%- if window_start is not none %}

{# The users whose first anchor lies before the window: their built rows stay. #}
kept as (

    select distinct path, creator_id, user_id
    from {{ this }}
    where anchor_date < {{ insights_warehouse.date_literal(window_start) }}

),
{%- endif %}

{# Every anchor in two scopes: its creator's, and all creators' ('__all__'). #}
copies as (

    select 0 as is_all
    union all
    select 1 as is_all

),
{%- for p in paths %}
{%- set i = loop.index %}
{%- set after = p.direction == 'after' %}
{%- set cmp = '>' if after else '<' %}
{%- set order = 'asc' if after else 'desc' %}

{# ---- path {{ p.name }} ---- #}
p{{ i }}_anchor_events as (

    select
        case when copies.is_all = 1 then cast('__all__' as {{ string }})
             else events.creator_id end as scope,
        user_id,
        session_id,
        event_id,
        event_ts,
        event_date,
        row_number() over (
            partition by
                case when copies.is_all = 1 then cast('__all__' as {{ string }})
                     else events.creator_id end,
                user_id
            order by event_ts, event_id) as occurrence
    from events
    cross join copies
    where events.is_anchor_{{ i }} = 1
      and (copies.is_all = 1 or events.creator_id is not null)

),

{# The user's first anchor (in the window: of the users without a built row before it). #}
p{{ i }}_anchors as (

    select scope, user_id, session_id, event_id, event_ts, event_date
    from p{{ i }}_anchor_events as anchor_events
    where occurrence = 1
    {%- if window_start is not none %}
      and not exists (
          select 1 from kept
          where kept.path = '{{ p.name }}'
            and kept.creator_id = anchor_events.scope
            and kept.user_id = anchor_events.user_id)
    {%- endif %}

),

{# The anchor's session: its creator's events in it (scope a creator) or all of them. #}
p{{ i }}_path_events as (

    select
        anchors.scope,
        events.user_id,
        events.event_ts,
        events.event_id,
        events.label_{{ i }} as label
    from events
    inner join p{{ i }}_anchors as anchors
        on events.user_id = anchors.user_id
        and events.session_id = anchors.session_id
        and (anchors.scope = '__all__' or anchors.scope = events.creator_id)
        and (events.event_ts {{ cmp }} anchors.event_ts
             or (events.event_ts = anchors.event_ts and events.event_id {{ cmp }}= anchors.event_id))

),

p{{ i }}_ordered as (

    select
        scope,
        user_id,
        label,
        row_number() over (
            partition by scope, user_id order by event_ts {{ order }}, event_id {{ order }})
            as position,
        lag(label) over (
            partition by scope, user_id order by event_ts {{ order }}, event_id {{ order }})
            as previous_label
    from p{{ i }}_path_events

),

{# A new step where the label changes: the running count of changes. #}
p{{ i }}_runs as (

    select
        scope,
        user_id,
        label,
        sum(case when previous_label is null or previous_label <> label then 1 else 0 end)
            over (partition by scope, user_id order by position
                  rows between unbounded preceding and current row) as step
    from p{{ i }}_ordered

),

p{{ i }}_steps as (

    select scope, user_id, step, min(label) as label
    from p{{ i }}_runs
    group by scope, user_id, step

),

p{{ i }}_user_edges as (

    select
        scope,
        user_id,
        step,
        label as source,
        coalesce(lead(label) over (partition by scope, user_id order by step), 'end') as target
    from p{{ i }}_steps
    where step <= {{ p.steps + 2 }}

),

{# The counted edges: steps 1 .. N, and step N + 1 where the path ends. #}
p{{ i }}_rows as (

    select
        cast('{{ p.name }}' as {{ string }}) as path,
        anchors.scope as creator_id,
        anchors.user_id,
        anchors.event_date as anchor_date,
        anchors.session_id,
        coalesce(sessions.ended_at, anchors.event_ts) as ended_at,
        edges.step,
        edges.source,
        edges.target
    from p{{ i }}_anchors as anchors
    left join p{{ i }}_user_edges as edges
        on edges.scope = anchors.scope
        and edges.user_id = anchors.user_id
        and (edges.step <= {{ p.steps }}
             or (edges.step = {{ p.steps + 1 }} and edges.target = 'end'))
    left join sessions on sessions.session_id = anchors.session_id

),
{%- endfor %}

unioned as (
    {%- for p in paths %}
    {{ 'union all' if not loop.first }}
    select * from p{{ loop.index }}_rows
    {%- endfor %}
    {%- if not paths %}
    select
        cast(null as {{ string }}) as path,
        cast(null as {{ string }}) as creator_id,
        cast(null as {{ string }}) as user_id,
        cast(null as date) as anchor_date,
        cast(null as {{ string }}) as session_id,
        cast(null as {{ dbt.type_timestamp() }}) as ended_at,
        cast(null as integer) as step,
        cast(null as {{ string }}) as source,
        cast(null as {{ string }}) as target
    from as_of
    where 1 = 0
    {%- endif %}

)

select
    cast(path as {{ string }}) as path,
    cast(creator_id as {{ string }}) as creator_id,
    cast(user_id as {{ string }}) as user_id,
    cast(anchor_date as date) as anchor_date,
    cast(session_id as {{ string }}) as session_id,
    cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
    cast(step as integer) as step,
    cast(source as {{ string }}) as source,
    cast(target as {{ string }}) as target,
    cast('{{ insights_warehouse.path_definitions_key() }}' as {{ string }}) as definition_key
from unioned
