-- Sessions without conversation_end by drop-off point (metrics.md "Drop-off point": the
-- intent of the session's last intent_classified event, or 'unknown'; int_sessions),
-- over sessions started up to the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

dropped_sessions as (

    select drop_off_point, is_conversation
    from {{ ref('int_sessions') }}
    where drop_off_point is not null
      and start_date <= (select as_of_date from as_of)

),

by_point as (

    select
        drop_off_point,
        count(*) as sessions,
        sum(case when is_conversation then 1 else 0 end) as conversations
    from dropped_sessions
    group by drop_off_point

)

select
    cast(by_point.drop_off_point as {{ dbt.type_string() }}) as drop_off_point,
    cast(by_point.sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(by_point.conversations as {{ dbt.type_bigint() }}) as conversations,
    cast(
        cast(by_point.sessions as {{ insights_warehouse.type_double() }})
            / sum(by_point.sessions) over ()
        as {{ insights_warehouse.type_double() }}
    ) as share,
    cast(as_of.as_of_date as date) as as_of_date
from by_point
cross join as_of
order by by_point.sessions desc, by_point.drop_off_point
