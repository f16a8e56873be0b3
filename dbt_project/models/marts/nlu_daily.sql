-- Daily language-understanding metrics over all intent_classified events (metrics.md
-- "Intent metrics"): classifications, mean confidence, low-confidence rate, fallback
-- rate. Only dates with classifications. Per creator (marts.md version 2): one row per
-- date and creator_id (the event's creator) plus the creator_id = '__all__' row over every
-- classification (version 1's rows, unchanged).
-- Incremental: a run replaces the dates from the window start on
-- (macros/incremental_window.sql); a date's rows depend only on that date's events, and
-- every date is rebuilt when low_confidence_threshold changed (incremental_built_with).

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='date',
    incremental_as_of_cut=true,
    incremental_built_with={'low_confidence_threshold':
                            insights_warehouse.number_var('low_confidence_threshold', 0, 1)},
    partition_by=insights_warehouse.date_partition('date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('date') %}

{%- set threshold = insights_warehouse.number_var('low_confidence_threshold', 0, 1) %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select
        event_date,
        creator_id,
        intent,
        cast(confidence as {{ insights_warehouse.type_double() }}) as confidence
    from {{ ref('stg_events') }}
    where event_type = 'intent_classified'
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

classifications as (

    select event_date, creator_id, intent, confidence from events
    where creator_id is not null

    union all

    select event_date, cast('__all__' as {{ dbt.type_string() }}), intent, confidence
    from events

),

daily as (

    select
        event_date,
        creator_id,
        count(*) as classifications,
        count(confidence) as classifications_with_confidence,
        avg(confidence) as mean_confidence,
        sum(case when confidence < {{ threshold }} then 1 else 0 end) as low_confidence_classifications,
        sum(case when intent = 'fallback' then 1 else 0 end) as fallback_classifications
    from classifications
    group by event_date, creator_id

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(classifications as {{ dbt.type_bigint() }}) as classifications,
    cast(mean_confidence as {{ insights_warehouse.type_double() }}) as mean_confidence,
    cast(
        case
            when classifications_with_confidence = 0 then null
            else cast(low_confidence_classifications as {{ insights_warehouse.type_double() }})
                / classifications_with_confidence
        end
        as {{ insights_warehouse.type_double() }}
    ) as low_confidence_rate,
    cast(
        cast(fallback_classifications as {{ insights_warehouse.type_double() }}) / classifications
        as {{ insights_warehouse.type_double() }}
    ) as fallback_rate,
    cast(classifications_with_confidence as {{ dbt.type_bigint() }}) as classifications_with_confidence,
    cast(low_confidence_classifications as {{ dbt.type_bigint() }}) as low_confidence_classifications,
    cast(fallback_classifications as {{ dbt.type_bigint() }}) as fallback_classifications,
    cast({{ threshold }} as {{ insights_warehouse.type_double() }}) as low_confidence_threshold
from daily
order by event_date, creator_id
