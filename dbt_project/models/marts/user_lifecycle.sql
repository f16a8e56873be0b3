-- Lifecycle of users per period (metrics.md "Lifecycle", v2 "Coverage"): per period
-- grain (day, ISO week starting Monday, month; reporting time zone) and period, the
-- users that are new, returning, resurrecting and dormant. Dense: four rows for every
-- covered period after the first covered one of its grain (a period is covered when it
-- lies wholly between the first day with a loaded event and the as-of date; the first
-- covered period has no known previous period, so it is not reported).
--
-- Per user and grain, each active period is compared with the user's signup period and
-- previous active period (lag): signup in the period (no signup_at: no earlier active
-- period) -> new; active in the calendar period p - 1 -> returning; else ->
-- resurrecting (metrics.md is silent on a first activity after a signup in an earlier
-- period: it counts as resurrecting). A user is dormant in p + 1 of each active period p
-- whose next active period (lead) is not p + 1.
--
-- Per creator (marts.md version 2): the same statuses over the user's active events
-- served by that creator (creator_id = '__all__': any active event, the rules above).
-- For a creator there is no signup, so a user is *new* to it in the period of their
-- first active event with it, when that is known to be their first: the user has no
-- signup_at, signed up on or after the coverage start (all their events are loaded), or
-- signed up in that period. Otherwise (signed up before the coverage start) earlier
-- activity with the creator cannot be ruled out and the first loaded period counts as
-- resurrecting, as for '__all__'.

{%- set grains = ['day', 'week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

coverage as (

    select coverage_start_date from {{ ref('int_coverage') }}

),

user_periods as (

    select
        activity.period_grain,
        activity.creator_id,
        activity.user_id,
        activity.period_start,
        activity.previous_period_start,
        activity.next_period_start,
        case activity.period_grain
            {%- for grain in grains %}
            when '{{ grain }}' then {{ insights_warehouse.period_start('users.signup_date', grain) }}
            {%- endfor %}
        end as signup_period_start,
        users.signup_date,
        lag(activity.period_start) over (
            partition by activity.period_grain, activity.creator_id, activity.user_id
            order by activity.period_start
        ) as previous_active_start,
        lead(activity.period_start) over (
            partition by activity.period_grain, activity.creator_id, activity.user_id
            order by activity.period_start
        ) as next_active_start
    from {{ ref('int_user_activity_periods') }} as activity
    left join {{ ref('stg_users') }} as users
        on activity.user_id = users.user_id

),

user_statuses as (

    select
        period_grain,
        creator_id,
        period_start,
        case
            when creator_id = '__all__' and signup_date is not null
                and signup_period_start = period_start then 'new'
            when creator_id = '__all__' and signup_date is null
                and previous_active_start is null then 'new'
            when creator_id <> '__all__' and previous_active_start is null
                and (signup_date is null
                     or signup_date >= (select coverage_start_date from coverage)
                     or signup_period_start = period_start) then 'new'
            when previous_active_start = previous_period_start then 'returning'
            else 'resurrecting'
        end as status,
        user_id
    from user_periods

    union all

    select
        period_grain,
        creator_id,
        next_period_start as period_start,
        'dormant' as status,
        user_id
    from user_periods
    where (next_active_start is null or next_active_start <> next_period_start)
      and next_period_start <= (select as_of_date from as_of)

),

status_counts as (

    select period_grain, creator_id, period_start, status, count(*) as users
    from user_statuses
    group by period_grain, creator_id, period_start, status

),

covered_periods as (

    select period_grain, period_start, period_end
    from {{ ref('int_coverage_periods') }}
    where is_covered

),

{# Per grain: every covered period after the first covered one. #}
periods as (

    select covered_periods.period_grain, covered_periods.period_start, covered_periods.period_end
    from covered_periods
    where covered_periods.period_start > (
        select min(first_covered.period_start) from covered_periods as first_covered
        where first_covered.period_grain = covered_periods.period_grain
    )

),

creators as (

    select cast('__all__' as {{ dbt.type_string() }}) as creator_id

    union

    select distinct creator_id from {{ ref('int_user_activity_periods') }}

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
        creators.creator_id,
        periods.period_start,
        periods.period_end,
        lifecycle_statuses.status,
        lifecycle_statuses.status_order,
        coalesce(status_counts.users, 0) as users
    from periods
    cross join creators
    cross join lifecycle_statuses
    left join status_counts
        on periods.period_grain = status_counts.period_grain
        and creators.creator_id = status_counts.creator_id
        and periods.period_start = status_counts.period_start
        and lifecycle_statuses.status = status_counts.status

)

select
    cast(lifecycle.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(lifecycle.period_start as date) as period_start,
    cast(lifecycle.status as {{ dbt.type_string() }}) as status,
    cast(lifecycle.users as {{ dbt.type_bigint() }}) as users,
    cast(lifecycle.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(lifecycle.period_end as date) as period_end,
    cast(lifecycle.period_end <= as_of.as_of_date as boolean) as is_complete_period,
    cast(as_of.as_of_date as date) as as_of_date,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone
from lifecycle
cross join as_of
order by
    case lifecycle.period_grain when 'day' then 1 when 'week' then 2 else 3 end,
    lifecycle.creator_id,
    lifecycle.period_start,
    lifecycle.status_order
