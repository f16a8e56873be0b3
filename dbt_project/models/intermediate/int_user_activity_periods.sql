-- One row per period grain × creator × user × period (day; ISO week, starting Monday;
-- month; in the reporting time zone) in which the user had at least one active event
-- served by that creator (creator_id = '__all__': any active event), up to the
-- as-of date: days after it are cut before days are rolled up, so the as-of period holds
-- only its days so far. Each row carries the calendar neighbours of its period (p - 1
-- and p + 1) so that consumers compare periods without grain-specific date arithmetic.

{%- set grains = ['day', 'week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

user_days as (

    select user_id, creator_id, activity_date, active_events
    from {{ ref('int_user_activity_days') }}
    where activity_date <= (select as_of_date from as_of)

),

user_periods as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        cast('{{ grain }}' as {{ dbt.type_string() }}) as period_grain,
        creator_id,
        user_id,
        {{ insights_warehouse.period_start('activity_date', grain) }} as period_start,
        count(*) as active_days,
        sum(active_events) as active_events
    from user_days
    group by creator_id, user_id, {{ insights_warehouse.period_start('activity_date', grain) }}
    {%- endfor %}

),

with_neighbours as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        period_grain,
        creator_id,
        user_id,
        period_start,
        {{ insights_warehouse.add_periods('period_start', grain, -1) }} as previous_period_start,
        {{ insights_warehouse.add_periods('period_start', grain, 1) }} as next_period_start,
        active_days,
        active_events
    from user_periods
    where period_grain = '{{ grain }}'
    {%- endfor %}

)

select
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    user_id,
    cast(period_start as date) as period_start,
    cast(previous_period_start as date) as previous_period_start,
    cast(next_period_start as date) as next_period_start,
    cast({{ insights_warehouse.add_days('next_period_start', -1) }} as date) as period_end,
    cast(active_days as {{ dbt.type_bigint() }}) as active_days,
    cast(active_events as {{ dbt.type_bigint() }}) as active_events
from with_neighbours
