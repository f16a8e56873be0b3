{#
    Invariant of marts.user_lifecycle, recomputed independently from stg_events (not
    from the intermediate models the mart is built on): for every grain, creator and
    period, new + returning + resurrecting = the distinct active users of the period, and
    dormant = the users active in the previous period and not in this one; a creator's
    rows count its own events, '__all__' every event. Activity after the as-of date is
    ignored. Fails with one row per period that disagrees.
#}
{%- set grains = ['day', 'week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

active_events as (

    select user_id, creator_id, event_date
    from {{ ref('stg_events') }}
    where is_active_event
      and user_id is not null
      and creator_id is not null
      and event_date <= (select as_of_date from as_of)

    union all

    select user_id, '__all__', event_date
    from {{ ref('stg_events') }}
    where is_active_event
      and user_id is not null
      and event_date <= (select as_of_date from as_of)

),

active_user_periods as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select distinct
        '{{ grain }}' as period_grain,
        creator_id,
        user_id,
        {{ insights_warehouse.period_start('event_date', grain) }} as period_start,
        {{ insights_warehouse.add_periods(
            insights_warehouse.period_start('event_date', grain), grain, 1) }} as next_period_start
    from active_events
    {%- endfor %}

),

mart as (

    select
        period_grain,
        creator_id,
        period_start,
        sum(case when status in ('new', 'returning', 'resurrecting') then users else 0 end)
            as active_users,
        sum(case when status = 'dormant' then users else 0 end) as dormant_users
    from {{ ref('user_lifecycle') }}
    group by period_grain, creator_id, period_start

),

expected_active as (

    select period_grain, creator_id, period_start, count(*) as expected_active_users
    from active_user_periods
    group by period_grain, creator_id, period_start

),

-- users active in the previous period (next_period_start = this period) and not in this
-- one: an anti-join (joins only, no correlated subqueries: portable to Spark)
expected_dormant as (

    select
        previous.period_grain,
        previous.creator_id,
        previous.next_period_start as period_start,
        count(*) as expected_dormant_users
    from active_user_periods as previous
    left join active_user_periods as current_period
        on current_period.period_grain = previous.period_grain
        and current_period.creator_id = previous.creator_id
        and current_period.user_id = previous.user_id
        and current_period.period_start = previous.next_period_start
    where current_period.user_id is null
    group by previous.period_grain, previous.creator_id, previous.next_period_start

),

expected as (

    select
        mart.period_grain,
        mart.creator_id,
        mart.period_start,
        mart.active_users,
        mart.dormant_users,
        coalesce(expected_active.expected_active_users, 0) as expected_active_users,
        coalesce(expected_dormant.expected_dormant_users, 0) as expected_dormant_users
    from mart
    left join expected_active
        on expected_active.period_grain = mart.period_grain
        and expected_active.creator_id = mart.creator_id
        and expected_active.period_start = mart.period_start
    left join expected_dormant
        on expected_dormant.period_grain = mart.period_grain
        and expected_dormant.creator_id = mart.creator_id
        and expected_dormant.period_start = mart.period_start

)

select *
from expected
where active_users <> expected_active_users
   or dormant_users <> expected_dormant_users
