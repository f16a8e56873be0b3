{#
    Invariant of marts.api_health_daily: every call has one endpoint, so per date and
    creator the endpoint = '__all__' row's calls and error counts equal the sums over
    the endpoints; and per date and endpoint, the creator_id = '__all__' row is at least
    the sum over the creators (calls without a creator count only there). Fails with
    one row per disagreement.
#}
with rows as (

    select * from {{ ref('api_health_daily') }}

),

by_endpoint as (

    select
        {{ adapter.quote('date') }} as day, creator_id,
        sum(calls) as calls, sum(error_calls) as error_calls,
        sum(server_error_calls) as server_error_calls
    from rows
    where endpoint <> '__all__'
    group by {{ adapter.quote('date') }}, creator_id

),

all_endpoints as (

    select {{ adapter.quote('date') }} as day, creator_id, calls, error_calls, server_error_calls
    from rows
    where endpoint = '__all__'

),

by_creator as (

    select {{ adapter.quote('date') }} as day, endpoint, sum(calls) as calls
    from rows
    where creator_id <> '__all__'
    group by {{ adapter.quote('date') }}, endpoint

),

all_creators as (

    select {{ adapter.quote('date') }} as day, endpoint, calls
    from rows
    where creator_id = '__all__'

)

select 'endpoints' as check_name, by_endpoint.day, by_endpoint.creator_id as key_value
from by_endpoint
left join all_endpoints
    on by_endpoint.day = all_endpoints.day and by_endpoint.creator_id = all_endpoints.creator_id
where all_endpoints.calls is null
   or all_endpoints.calls <> by_endpoint.calls
   or all_endpoints.error_calls <> by_endpoint.error_calls
   or all_endpoints.server_error_calls <> by_endpoint.server_error_calls

union all

select 'creators', by_creator.day, by_creator.endpoint
from by_creator
left join all_creators
    on by_creator.day = all_creators.day and by_creator.endpoint = all_creators.endpoint
where all_creators.calls is null or all_creators.calls < by_creator.calls
