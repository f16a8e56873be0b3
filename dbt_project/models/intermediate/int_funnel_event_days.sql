-- The events each sequence-numbered funnel numbers, counted per creator scope × user ×
-- day: one row per funnel × creator_id (the event's creator, and '__all__') × user ×
-- event_date with at least one such event. A funnel numbers its events when it is not
-- on int_funnel_attempts' fast path (order strict or any, exclusions, or a breakdown not
-- first-touch; macros/funnels.sql funnel_is_fast): its steps', its exclusions' and,
-- order strict, every active event (funnel_sequence_predicate), of identified users.
-- int_funnel_attempts continues a user's attempt numbers after the events before the
-- window it rebuilds: the sum of these counts before that window, not a scan of every
-- earlier event, so an incremental build reads the new days only.
--
-- Incremental: a run replaces the dates from the window start on; each date's rows come
-- from that date's events alone. No as-of cut (the reader applies it). definition_key
-- is the funnels' key as built (funnel_sequence_key): with another one anywhere in the
-- table, or an empty table, the run rebuilds every day.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='event_date',
    incremental_window_widen='funnel_definitions',
    partition_by=insights_warehouse.date_partition('event_date'),
    on_schema_change='fail'
) }}

{%- set all_funnels = insights_warehouse.funnel_definitions() %}
{%- set funnels = insights_warehouse.sequenced_funnels(all_funnels) %}
{%- set key = insights_warehouse.funnel_sequence_key(all_funnels) %}
{%- set window_start = insights_warehouse.replace_window_start('event_date') %}
{%- set string = dbt.type_string() %}

{%- if funnels %}

with funnel_events as (

    select
        creator_id,
        user_id,
        event_date
        {%- for funnel in funnels %},
        case when {{ insights_warehouse.funnel_sequence_predicate(funnel) }} then 1 else 0 end
            as in_f{{ loop.index }}
        {%- endfor %}
    from {{ ref('stg_events') }}
    where user_id is not null
      and {{ insights_warehouse.events_on_or_after(window_start) }}
      and (
        {%- for funnel in funnels %}
        {{ 'or ' if not loop.first }}{{ insights_warehouse.funnel_sequence_predicate(funnel) }}
        {%- endfor %}
      )

),

{#- every event twice, for its creator and for '__all__' #}
copies as (

    select 0 as is_all
    union all
    select 1 as is_all

),

per_day as (

    select
        case when copies.is_all = 1 then cast('__all__' as {{ string }})
             else funnel_events.creator_id end as creator_id,
        user_id,
        event_date
        {%- for funnel in funnels %},
        sum(in_f{{ loop.index }}) as events_f{{ loop.index }}
        {%- endfor %}
    from funnel_events
    cross join copies
    where copies.is_all = 1 or funnel_events.creator_id is not null
    group by 1, 2, 3

)

{%- for funnel in funnels %}
{{ 'union all' if not loop.first }}
select
    cast({{ insights_warehouse.funnel_literal(funnel.name) }} as {{ string }}) as funnel,
    cast(creator_id as {{ string }}) as creator_id,
    cast(user_id as {{ string }}) as user_id,
    cast(event_date as date) as event_date,
    cast(events_f{{ loop.index }} as {{ dbt.type_bigint() }}) as funnel_events,
    cast('{{ key }}' as {{ string }}) as definition_key
from per_day
where events_f{{ loop.index }} > 0
{%- endfor %}

{%- else %}

{#- no funnel numbers its events: an empty table of the same columns #}
select
    cast(null as {{ string }}) as funnel,
    cast(null as {{ string }}) as creator_id,
    cast(null as {{ string }}) as user_id,
    cast(null as date) as event_date,
    cast(null as {{ dbt.type_bigint() }}) as funnel_events,
    cast('{{ key }}' as {{ string }}) as definition_key
where 1 = 0

{%- endif %}
