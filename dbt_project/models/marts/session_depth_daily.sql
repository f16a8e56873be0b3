-- Engagement depth per day (product documents 000 and 002): how long sessions last and
-- how many messages users send in them, per session start date × creator_id (the
-- session's creator, int_sessions) plus creator_id = '__all__' (every session).
--
-- A session's duration is from its first to its last event (0 for a one-event session,
-- which counts as a bounce); messages are its user_message events. Percentiles
-- interpolate (percentile_cont). Dates up to the as-of date; anonymous sessions count.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

sessions as (

    select
        creator_id,
        start_date,
        cast(duration_s as {{ insights_warehouse.type_double() }}) as duration_s,
        cast(user_messages as {{ insights_warehouse.type_double() }}) as user_messages,
        events
    from {{ ref('int_sessions') }}
    where start_date <= (select as_of_date from as_of)

),

attributed as (

    select creator_id, start_date, duration_s, user_messages, events
    from sessions where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), start_date, duration_s, user_messages,
        events
    from sessions

)

select
    cast(start_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(count(*) as {{ dbt.type_bigint() }}) as sessions,
    cast(avg(duration_s) as {{ insights_warehouse.type_double() }}) as mean_duration_s,
    cast({{ insights_warehouse.percentile_cont('duration_s', 0.5) }}
        as {{ insights_warehouse.type_double() }}) as p50_duration_s,
    cast({{ insights_warehouse.percentile_cont('duration_s', 0.9) }}
        as {{ insights_warehouse.type_double() }}) as p90_duration_s,
    cast(avg(user_messages) as {{ insights_warehouse.type_double() }}) as mean_user_messages,
    cast({{ insights_warehouse.percentile_cont('user_messages', 0.5) }}
        as {{ insights_warehouse.type_double() }}) as p50_user_messages,
    cast(sum(case when user_messages > 0 then 1 else 0 end) as {{ dbt.type_bigint() }})
        as sessions_with_messages,
    cast(
        cast(sum(case when events = 1 then 1 else 0 end) as {{ insights_warehouse.type_double() }})
        / count(*) as {{ insights_warehouse.type_double() }}
    ) as bounce_rate
from attributed
group by start_date, creator_id
