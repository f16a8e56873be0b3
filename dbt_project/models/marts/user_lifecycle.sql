-- Lifecycle of users per period (metrics.md "Lifecycle"): per period grain (day, ISO
-- week starting Monday, month; reporting time zone) and period, the users that are new,
-- returning, resurrecting and dormant. Dense: four rows for every period from the one
-- holding the grain's first activity to the one holding the as-of date (partial, flagged).
--
-- Per user and grain, each active period is compared with the user's previous active
-- period (lag): none -> new; the calendar period p - 1 -> returning; earlier ->
-- resurrecting. A user is dormant in p + 1 of each active period p whose next active
-- period (lead) is not p + 1, if p + 1 has started by the as-of date.

{%- set grains = ['day', 'week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

user_periods as (

    select
        period_grain,
        user_id,
        period_start,
        previous_period_start,
        next_period_start,
        lag(period_start) over (
            partition by period_grain, user_id order by period_start
        ) as previous_active_start,
        lead(period_start) over (
            partition by period_grain, user_id order by period_start
        ) as next_active_start
    from {{ ref('int_user_activity_periods') }}

),

user_statuses as (

    select
        period_grain,
        period_start,
        case
            when previous_active_start is null then 'new'
            when previous_active_start = previous_period_start then 'returning'
            else 'resurrecting'
        end as status,
        user_id
    from user_periods

    union all

    select
        period_grain,
        next_period_start as period_start,
        'dormant' as status,
        user_id
    from user_periods
    where (next_active_start is null or next_active_start <> next_period_start)
      and next_period_start <= (select as_of_date from as_of)

),

status_counts as (

    select period_grain, period_start, status, count(*) as users
    from user_statuses
    group by period_grain, period_start, status

),

calendar_days as (

    {{ insights_warehouse.date_spine(
        '(select min(period_start) from ' ~ ref('int_user_activity_periods') ~ ')',
        '(select as_of_date from as_of)'
    ) }}

),

{# Per grain: every period from the one holding the grain's first activity to the one
   holding the as-of date. #}
periods as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select distinct
        cast('{{ grain }}' as {{ dbt.type_string() }}) as period_grain,
        {{ insights_warehouse.period_start('date_day', grain) }} as period_start,
        {{ insights_warehouse.add_days(
            insights_warehouse.add_periods(insights_warehouse.period_start('date_day', grain), grain, 1),
            -1) }} as period_end
    from calendar_days
    where date_day >= (
        select min(period_start) from {{ ref('int_user_activity_periods') }}
        where period_grain = '{{ grain }}'
    )
    {%- endfor %}

),

lifecycle_statuses as (

    select 'new' as status, 1 as status_order
    union all select 'returning', 2
    union all select 'resurrecting', 3
    union all select 'dormant', 4

),

lifecycle as (

    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        lifecycle_statuses.status,
        lifecycle_statuses.status_order,
        coalesce(status_counts.users, 0) as users
    from periods
    cross join lifecycle_statuses
    left join status_counts
        on periods.period_grain = status_counts.period_grain
        and periods.period_start = status_counts.period_start
        and lifecycle_statuses.status = status_counts.status

)

select
    cast(lifecycle.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(lifecycle.period_start as date) as period_start,
    cast(lifecycle.status as {{ dbt.type_string() }}) as status,
    cast(lifecycle.users as {{ dbt.type_bigint() }}) as users,
    cast(lifecycle.period_end as date) as period_end,
    cast(lifecycle.period_end <= as_of.as_of_date as boolean) as is_complete_period,
    cast(as_of.as_of_date as date) as as_of_date,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone
from lifecycle
cross join as_of
order by
    case lifecycle.period_grain when 'day' then 1 when 'week' then 2 else 3 end,
    lifecycle.period_start,
    lifecycle.status_order
