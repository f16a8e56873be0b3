-- Paths (metrics.md v2 "Paths"; marts.md version 2 path_edges), driven by the
-- definitions of var `paths` (config/settings.yaml metrics.paths; no SQL per path:
-- this model loops over them). Per definition and creator scope:
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
-- users counts the users with that edge. Per creator: the anchor and the path among
-- that creator's events; creator_id '__all__': all of the user's events. Resolved users
-- only (anonymous events never count); events up to the as-of date.

{%- set paths = insights_warehouse.path_definitions() %}

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
        event_ts
        {%- for p in paths %},
        case when {{ insights_warehouse.selector_predicate(p.anchor) }} then 1 else 0 end
            as is_anchor_{{ loop.index }},
        {{ insights_warehouse.path_label(p.label) }} as label_{{ loop.index }}
        {%- endfor %}
    from {{ ref('stg_events') }}
    where user_id is not null
      and event_date <= (select as_of_date from as_of)

),

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
        case when copies.is_all = 1 then cast('__all__' as {{ dbt.type_string() }})
             else events.creator_id end as scope,
        user_id,
        session_id,
        event_id,
        event_ts,
        row_number() over (
            partition by
                case when copies.is_all = 1 then cast('__all__' as {{ dbt.type_string() }})
                     else events.creator_id end,
                user_id
            order by event_ts, event_id) as occurrence
    from events
    cross join copies
    where events.is_anchor_{{ i }} = 1
      and (copies.is_all = 1 or events.creator_id is not null)

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
    inner join p{{ i }}_anchor_events as anchors
        on anchors.occurrence = 1
        and events.user_id = anchors.user_id
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

p{{ i }}_edges as (

    select
        cast('{{ p.name }}' as {{ dbt.type_string() }}) as path,
        cast('{{ p.direction }}' as {{ dbt.type_string() }}) as direction,
        scope as creator_id,
        step,
        source,
        target,
        count(*) as users,
        cast({{ insights_warehouse.selector_literal(tojson(p.anchor, sort_keys=true)) }}
            as {{ dbt.type_string() }}) as anchor,
        cast('{{ p.label }}' as {{ dbt.type_string() }}) as label_by,
        {{ p.steps }} as max_steps
    from p{{ i }}_user_edges
    where step <= {{ p.steps }}
       or (step = {{ p.steps + 1 }} and target = 'end')
    group by scope, step, source, target

),
{%- endfor %}

unioned as (
    {%- for p in paths %}
    {{ 'union all' if not loop.first }}
    select * from p{{ loop.index }}_edges
    {%- endfor %}
    {%- if not paths %}
    select
        cast(null as {{ dbt.type_string() }}) as path,
        cast(null as {{ dbt.type_string() }}) as direction,
        cast(null as {{ dbt.type_string() }}) as creator_id,
        cast(null as integer) as step,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as target,
        cast(null as {{ dbt.type_bigint() }}) as users,
        cast(null as {{ dbt.type_string() }}) as anchor,
        cast(null as {{ dbt.type_string() }}) as label_by,
        cast(null as integer) as max_steps
    from as_of
    where 1 = 0
    {%- endif %}

)

select
    cast(unioned.path as {{ dbt.type_string() }}) as path,
    cast(unioned.direction as {{ dbt.type_string() }}) as direction,
    cast(unioned.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(unioned.step as integer) as step,
    cast(unioned.source as {{ dbt.type_string() }}) as source,
    cast(unioned.target as {{ dbt.type_string() }}) as target,
    cast(unioned.users as {{ dbt.type_bigint() }}) as users,
    cast(unioned.anchor as {{ dbt.type_string() }}) as anchor,
    cast(unioned.label_by as {{ dbt.type_string() }}) as label_by,
    cast(unioned.max_steps as integer) as max_steps,
    cast(as_of.as_of_date as date) as as_of_date
from unioned
cross join as_of
order by path, creator_id, step, users desc, source, target
