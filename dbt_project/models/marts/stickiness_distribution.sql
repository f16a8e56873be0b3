-- Stickiness distribution (metrics.md v2 "Stickiness distribution"): for each covered
-- ISO week (Monday) and month (reporting time zone) and each n >= 1, the users active
-- on exactly n days of it and on at least n days, per creator (days with an active
-- event of that creator) plus creator_id = '__all__' (days with any active event).
-- Covered periods only (metrics.md v2 "Coverage": the whole period between the first
-- day with a loaded event and the as-of date). Dense: every n from 1 to the period's
-- number of days, for every creator with an active user in the period.

{%- set grains = ['week', 'month'] %}

with covered_periods as (

    select period_grain, period_start, period_end
    from {{ ref('int_coverage_periods') }}
    where is_covered
      and period_grain in ({% for g in grains %}'{{ g }}'{{ ", " if not loop.last }}{% endfor %})

),

user_days as (

    select user_id, creator_id, activity_date
    from {{ ref('int_user_activity_days') }}

),

user_period_days as (

    select
        covered_periods.period_grain,
        covered_periods.period_start,
        user_days.creator_id,
        user_days.user_id,
        count(*) as days_active
    from covered_periods
    inner join user_days
        on user_days.activity_date between covered_periods.period_start and covered_periods.period_end
    group by
        covered_periods.period_grain,
        covered_periods.period_start,
        user_days.creator_id,
        user_days.user_id

),

exactly as (

    select period_grain, period_start, creator_id, days_active, count(*) as users
    from user_period_days
    group by period_grain, period_start, creator_id, days_active

),

period_creators as (

    select distinct
        user_period_days.period_grain,
        user_period_days.period_start,
        covered_periods.period_end,
        user_period_days.creator_id
    from user_period_days
    inner join covered_periods
        on user_period_days.period_grain = covered_periods.period_grain
        and user_period_days.period_start = covered_periods.period_start

),

{# n = 1 .. 31 (a month has at most 31 days), cut to the period's length. #}
day_counts as (

    select n
    from (
        {%- for n in range(1, 32) %}
        {{ 'union all ' if not loop.first }}select {{ n }} as n
        {%- endfor %}
    ) as numbers

),

grid as (

    select
        period_creators.period_grain,
        period_creators.period_start,
        period_creators.creator_id,
        day_counts.n as days_active
    from period_creators
    inner join day_counts
        on day_counts.n <= {{ insights_warehouse.days_between('period_creators.period_start', 'period_creators.period_end') }} + 1

),

counted as (

    select
        grid.period_grain,
        grid.period_start,
        grid.creator_id,
        grid.days_active,
        coalesce(exactly.users, 0) as users
    from grid
    left join exactly
        on grid.period_grain = exactly.period_grain
        and grid.period_start = exactly.period_start
        and grid.creator_id = exactly.creator_id
        and grid.days_active = exactly.days_active

)

select
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(days_active as integer) as days_active,
    cast(users as {{ dbt.type_bigint() }}) as users,
    cast(
        sum(users) over (
            partition by period_grain, period_start, creator_id
            order by days_active desc
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}
    ) as users_at_least
from counted
order by case period_grain when 'week' then 1 else 2 end, period_start, creator_id, days_active
