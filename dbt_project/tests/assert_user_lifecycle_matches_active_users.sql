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

expected as (

    select
        mart.period_grain,
        mart.creator_id,
        mart.period_start,
        mart.active_users,
        mart.dormant_users,
        (
            select count(*) from active_user_periods as a
            where a.period_grain = mart.period_grain and a.creator_id = mart.creator_id
              and a.period_start = mart.period_start
        ) as expected_active_users,
        (
            select count(*) from active_user_periods as previous
            where previous.period_grain = mart.period_grain
              and previous.creator_id = mart.creator_id
              and previous.next_period_start = mart.period_start
              and not exists (
                  select 1 from active_user_periods as current_period
                  where current_period.period_grain = previous.period_grain
                    and current_period.creator_id = previous.creator_id
                    and current_period.user_id = previous.user_id
                    and current_period.period_start = mart.period_start
              )
        ) as expected_dormant_users
    from mart

)

select *
from expected
where active_users <> expected_active_users
   or dormant_users <> expected_dormant_users
