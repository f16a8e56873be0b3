-- System health per day (product document 001, "System health"): the platform's API
-- calls (api_call events: endpoint, status_code, latency_ms) per date, creator and
-- endpoint, with the error rate and latency percentiles, and the error events (error,
-- by error_code) and failed workflows of the same day beside them.
--
-- Rows: per date × creator_id × endpoint with at least one call, plus endpoint = '__all__'
-- (every call of the creator that day) and creator_id = '__all__' (every call, also
-- those without a creator); '__all__' rows are computed over the calls, never summed
-- from other rows. A call is an error when its status_code is 400 or more (client
-- errors 4xx, server errors 5xx); a call without a status_code counts as a call and in
-- neither. Latency percentiles interpolate (percentile_cont) over the calls with a
-- latency. Dates up to the as-of date only.
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

calls as (

    select
        event_date,
        creator_id,
        coalesce(endpoint, '(none)') as endpoint,
        status_code,
        cast(latency_ms as {{ insights_warehouse.type_double() }}) as latency_ms
    from {{ ref('stg_events') }}
    where event_type = 'api_call'
      and event_date <= (select as_of_date from as_of)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

{# Each call under its creator and '__all__', and under its endpoint and '__all__'. #}
attributed as (

    select event_date, creator_id, endpoint, status_code, latency_ms
    from calls where creator_id is not null

    union all

    select event_date, creator_id, cast('__all__' as {{ dbt.type_string() }}), status_code,
        latency_ms
    from calls where creator_id is not null

    union all

    select event_date, cast('__all__' as {{ dbt.type_string() }}), endpoint, status_code,
        latency_ms
    from calls

    union all

    select event_date, cast('__all__' as {{ dbt.type_string() }}),
        cast('__all__' as {{ dbt.type_string() }}), status_code, latency_ms
    from calls

),

daily_calls as (

    select
        event_date,
        creator_id,
        endpoint,
        count(*) as calls,
        sum(case when status_code >= 400 then 1 else 0 end) as error_calls,
        sum(case when status_code >= 400 and status_code < 500 then 1 else 0 end)
            as client_error_calls,
        sum(case when status_code >= 500 then 1 else 0 end) as server_error_calls,
        count(latency_ms) as timed_calls,
        avg(latency_ms) as latency_ms_mean,
        {{ insights_warehouse.percentile_cont('latency_ms', 0.5) }} as latency_ms_p50,
        {{ insights_warehouse.percentile_cont('latency_ms', 0.95) }} as latency_ms_p95,
        {{ insights_warehouse.percentile_cont('latency_ms', 0.99) }} as latency_ms_p99
    from attributed
    group by event_date, creator_id, endpoint

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(endpoint as {{ dbt.type_string() }}) as endpoint,
    cast(calls as {{ dbt.type_bigint() }}) as calls,
    cast(error_calls as {{ dbt.type_bigint() }}) as error_calls,
    cast(client_error_calls as {{ dbt.type_bigint() }}) as client_error_calls,
    cast(server_error_calls as {{ dbt.type_bigint() }}) as server_error_calls,
    cast(
        cast(error_calls as {{ insights_warehouse.type_double() }}) / calls
        as {{ insights_warehouse.type_double() }}
    ) as error_rate,
    cast(timed_calls as {{ dbt.type_bigint() }}) as timed_calls,
    cast(latency_ms_mean as {{ insights_warehouse.type_double() }}) as latency_ms_mean,
    cast(latency_ms_p50 as {{ insights_warehouse.type_double() }}) as latency_ms_p50,
    cast(latency_ms_p95 as {{ insights_warehouse.type_double() }}) as latency_ms_p95,
    cast(latency_ms_p99 as {{ insights_warehouse.type_double() }}) as latency_ms_p99
from daily_calls
