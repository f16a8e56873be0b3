{#
    marts.user_lifecycle recomputed independently from stg_events and stg_users (not from
    the intermediate models the mart is built on; metrics.md "Lifecycle"): for every
    grain, creator and period, new + returning + resurrecting = the distinct active users
    of the period, and dormant = the users active in the previous period and not in this
    one; a creator's rows count its own events, '__all__' every event. Each active user
    has one status: new (for '__all__': signed up in the period, or without signup_at
    their first active period; for a creator: their first active period with it, when
    that is known to be their first: no signup_at, signed up on or after the first loaded
    day (int_coverage) or in that period), else returning (active in the previous
    calendar period), else resurrecting. Activity after the as-of date is ignored. Fails
    with one row per period that disagrees.
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
        active_events.creator_id,
        active_events.user_id,
        {{ insights_warehouse.period_start('active_events.event_date', grain) }} as period_start,
        {{ insights_warehouse.add_periods(
            insights_warehouse.period_start('active_events.event_date', grain), grain, 1) }}
            as next_period_start,
        users.signup_date,
        {{ insights_warehouse.period_start('users.signup_date', grain) }} as signup_period_start
    from active_events
    left join {{ ref('stg_users') }} as users
        on users.user_id = active_events.user_id
    {%- endfor %}

),

first_active as (

    select period_grain, creator_id, user_id, min(period_start) as first_period_start
    from active_user_periods
    group by period_grain, creator_id, user_id

),

classified as (

    select
        current_period.period_grain,
        current_period.creator_id,
        current_period.period_start,
        case
            when current_period.creator_id = '__all__' and current_period.signup_date is not null
                then current_period.signup_period_start = current_period.period_start
            when current_period.creator_id = '__all__'
                then first_active.first_period_start = current_period.period_start
            else first_active.first_period_start = current_period.period_start
                and (current_period.signup_date is null
                     or current_period.signup_date >= (
                         select coverage_start_date from {{ ref('int_coverage') }})
                     or current_period.signup_period_start = current_period.period_start)
        end as is_new,
        previous_period.user_id is not null as was_active_before
    from active_user_periods as current_period
    inner join first_active
        on first_active.period_grain = current_period.period_grain
        and first_active.creator_id = current_period.creator_id
        and first_active.user_id = current_period.user_id
    left join active_user_periods as previous_period
        on previous_period.period_grain = current_period.period_grain
        and previous_period.creator_id = current_period.creator_id
        and previous_period.user_id = current_period.user_id
        and previous_period.next_period_start = current_period.period_start

),

expected_statuses as (

    select
        period_grain,
        creator_id,
        period_start,
        sum(case when is_new then 1 else 0 end) as expected_new_users,
        sum(case when not is_new and was_active_before then 1 else 0 end)
            as expected_returning_users,
        sum(case when not is_new and not was_active_before then 1 else 0 end)
            as expected_resurrecting_users
    from classified
    group by period_grain, creator_id, period_start

),

mart as (

    select
        period_grain,
        creator_id,
        period_start,
        sum(case when status in ('new', 'returning', 'resurrecting') then users else 0 end)
            as active_users,
        sum(case when status = 'dormant' then users else 0 end) as dormant_users,
        sum(case when status = 'new' then users else 0 end) as new_users,
        sum(case when status = 'returning' then users else 0 end) as returning_users,
        sum(case when status = 'resurrecting' then users else 0 end) as resurrecting_users
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
        coalesce(expected_dormant.expected_dormant_users, 0) as expected_dormant_users,
        mart.new_users,
        mart.returning_users,
        mart.resurrecting_users,
        coalesce(expected_statuses.expected_new_users, 0) as expected_new_users,
        coalesce(expected_statuses.expected_returning_users, 0) as expected_returning_users,
        coalesce(expected_statuses.expected_resurrecting_users, 0)
            as expected_resurrecting_users
    from mart
    left join expected_active
        on expected_active.period_grain = mart.period_grain
        and expected_active.creator_id = mart.creator_id
        and expected_active.period_start = mart.period_start
    left join expected_dormant
        on expected_dormant.period_grain = mart.period_grain
        and expected_dormant.creator_id = mart.creator_id
        and expected_dormant.period_start = mart.period_start
    left join expected_statuses
        on expected_statuses.period_grain = mart.period_grain
        and expected_statuses.creator_id = mart.creator_id
        and expected_statuses.period_start = mart.period_start

)

select *
from expected
where active_users <> expected_active_users
   or dormant_users <> expected_dormant_users
   or new_users <> expected_new_users
   or returning_users <> expected_returning_users
   or resurrecting_users <> expected_resurrecting_users
