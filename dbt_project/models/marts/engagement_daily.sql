-- Daily engagement per creator and for all creators ('__all__'): DAU, rolling WAU and
-- MAU, stickiness, sessions started and active events. One row per creator and date,
-- from the creator's first activity date to the as-of date, without gaps.
--
-- WAU/MAU without a self-join of every day to its window: for each user × creator,
-- an active day a covers the dates a .. a + W - 1 (the dates whose window contains a).
-- Consecutive active days' coverages are merged into runs, and each run adds +1 on its
-- first date and -1 on the day after its last; a running sum of these changes over
-- the calendar is the number of distinct users whose window holds an active day.
--
-- Coverage (metrics.md v2): a window that reaches before the coverage start (the first
-- day with a loaded event) has unknown WAU / MAU, reported null (and stickiness with
-- MAU), never a low number.

{%- set wau_days = insights_warehouse.window_days('wau_window_days') %}
{%- set mau_days = insights_warehouse.window_days('mau_window_days') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

coverage as (

    select coverage_start_date from {{ ref('int_coverage') }}

),

user_days as (

    select user_id, creator_id, activity_date
    from {{ ref('int_user_activity_days') }}
    where activity_date <= (select as_of_date from as_of)

),

creator_days as (

    select creator_id, activity_date, active_events, sessions_started
    from {{ ref('int_creator_daily_activity') }}
    where activity_date <= (select as_of_date from as_of)

),

creator_first_dates as (

    select creator_id, min(activity_date) as first_date
    from (
        select creator_id, activity_date from creator_days
        union all
        select creator_id, activity_date from user_days
    ) as any_activity
    group by creator_id

),

calendar as (

    {{ insights_warehouse.date_spine(
        '(select min(first_date) from creator_first_dates)',
        '(select as_of_date from as_of)'
    ) }}

),

creator_calendar as (

    select creator_first_dates.creator_id, calendar.date_day
    from creator_first_dates
    inner join calendar
        on calendar.date_day >= creator_first_dates.first_date

),

daily_active_users as (

    select creator_id, activity_date, count(*) as dau
    from user_days
    group by creator_id, activity_date

),

user_day_neighbours as (

    select
        creator_id,
        activity_date,
        lag(activity_date) over (
            partition by user_id, creator_id order by activity_date
        ) as previous_activity_date,
        lead(activity_date) over (
            partition by user_id, creator_id order by activity_date
        ) as next_activity_date
    from user_days

),

{# A coverage run starts on an active day that the previous active day's coverage does
   not reach, and ends W - 1 days after an active day the next one does not follow
   within W days (the -1 lands on the day after the run). #}
window_changes as (

    {%- for window_name, days in [('wau', wau_days), ('mau', mau_days)] %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        creator_id,
        activity_date as change_date,
        {{ 1 if window_name == 'wau' else 0 }} as wau_delta,
        {{ 1 if window_name == 'mau' else 0 }} as mau_delta
    from user_day_neighbours
    where previous_activity_date is null
       or activity_date >= {{ insights_warehouse.add_days('previous_activity_date', days) }}

    union all

    select
        creator_id,
        {{ insights_warehouse.add_days('activity_date', days) }} as change_date,
        {{ -1 if window_name == 'wau' else 0 }} as wau_delta,
        {{ -1 if window_name == 'mau' else 0 }} as mau_delta
    from user_day_neighbours
    where next_activity_date is null
       or next_activity_date >= {{ insights_warehouse.add_days('activity_date', days) }}
    {%- endfor %}

),

daily_window_changes as (

    select
        creator_id,
        change_date,
        sum(wau_delta) as wau_delta,
        sum(mau_delta) as mau_delta
    from window_changes
    where change_date <= (select as_of_date from as_of)
    group by creator_id, change_date

),

daily as (

    select
        creator_calendar.date_day,
        creator_calendar.creator_id,
        coalesce(daily_active_users.dau, 0) as dau,
        sum(coalesce(daily_window_changes.wau_delta, 0)) over (
            partition by creator_calendar.creator_id
            order by creator_calendar.date_day
            rows between unbounded preceding and current row
        ) as wau,
        sum(coalesce(daily_window_changes.mau_delta, 0)) over (
            partition by creator_calendar.creator_id
            order by creator_calendar.date_day
            rows between unbounded preceding and current row
        ) as mau,
        coalesce(creator_days.sessions_started, 0) as sessions,
        coalesce(creator_days.active_events, 0) as active_events,
        {{ insights_warehouse.add_days('creator_calendar.date_day', -(wau_days - 1)) }}
            >= coverage.coverage_start_date as is_wau_covered,
        {{ insights_warehouse.add_days('creator_calendar.date_day', -(mau_days - 1)) }}
            >= coverage.coverage_start_date as is_mau_covered
    from creator_calendar
    cross join coverage
    left join daily_active_users
        on creator_calendar.creator_id = daily_active_users.creator_id
        and creator_calendar.date_day = daily_active_users.activity_date
    left join daily_window_changes
        on creator_calendar.creator_id = daily_window_changes.creator_id
        and creator_calendar.date_day = daily_window_changes.change_date
    left join creator_days
        on creator_calendar.creator_id = creator_days.creator_id
        and creator_calendar.date_day = creator_days.activity_date

)

select
    cast(daily.date_day as date) as {{ adapter.quote('date') }},
    cast(daily.creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(daily.dau as {{ dbt.type_bigint() }}) as dau,
    cast(case when daily.is_wau_covered then daily.wau end as {{ dbt.type_bigint() }}) as wau,
    cast(case when daily.is_mau_covered then daily.mau end as {{ dbt.type_bigint() }}) as mau,
    cast(
        case
            when daily.mau = 0 or not daily.is_mau_covered then null
            else cast(daily.dau as {{ insights_warehouse.type_double() }}) / daily.mau
        end
        as {{ insights_warehouse.type_double() }}
    ) as stickiness,
    cast(daily.sessions as {{ dbt.type_bigint() }}) as sessions,
    cast(daily.active_events as {{ dbt.type_bigint() }}) as active_events,
    cast(as_of.as_of_date as date) as as_of_date,
    cast({{ wau_days }} as integer) as wau_window_days,
    cast({{ mau_days }} as integer) as mau_window_days,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone
from daily
cross join as_of
order by daily.date_day, daily.creator_id
