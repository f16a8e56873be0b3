-- Sessions without conversation_end by drop-off point (metrics.md "Drop-off point": the
-- intent of the session's last intent_classified event, or 'unknown'; int_sessions),
-- over sessions started up to the as-of date. Per creator (marts.md version 2): rows per
-- creator_id (the session's creator, int_sessions) and drop-off point, the share within
-- that creator's dropped sessions, plus the creator_id = '__all__' rows over every
-- dropped session (version 1's rows, unchanged).

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

sessions as (

    select creator_id, drop_off_point, is_conversation
    from {{ ref('int_sessions') }}
    where drop_off_point is not null
      and start_date <= (select as_of_date from as_of)

),

dropped_sessions as (

    select creator_id, drop_off_point, is_conversation from sessions
    where creator_id is not null

    union all

    select cast('__all__' as {{ dbt.type_string() }}), drop_off_point, is_conversation
    from sessions

),

by_point as (

    select
        creator_id,
        drop_off_point,
        count(*) as sessions,
        sum(case when is_conversation then 1 else 0 end) as conversations
    from dropped_sessions
    group by creator_id, drop_off_point

)

select
    cast(by_point.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(by_point.drop_off_point as {{ dbt.type_string() }}) as drop_off_point,
    cast(by_point.sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(by_point.conversations as {{ dbt.type_bigint() }}) as conversations,
    cast(
        cast(by_point.sessions as {{ insights_warehouse.type_double() }})
            / sum(by_point.sessions) over (partition by by_point.creator_id)
        as {{ insights_warehouse.type_double() }}
    ) as share,
    cast(as_of.as_of_date as date) as as_of_date
from by_point
cross join as_of
order by by_point.creator_id, by_point.sessions desc, by_point.drop_off_point
