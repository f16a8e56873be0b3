-- Activity streaks per user at the as-of date (metrics.md "Streak"): a streak is a run
-- of consecutive days (reporting time zone) each with an active event. Runs are found
-- with gaps-and-islands: within a user's active days in date order, activity_date minus
-- its row number is constant along a run of consecutive days. current_streak is the
-- length of the user's last run if it ends within `streak_grace_days` days before the
-- as-of date (0 = on it; settings default 1: on d or d-1), else 0; longest_streak is
-- the longest run up to the as-of date. Coverage (metrics.md v2): a run that starts on
-- the coverage start (the first day with a loaded event) may have begun before it, so
-- its length is unknown: the current streak is null when it is that run, the longest
-- streak is null when the user has such a run (never 0).

{%- set raw_grace = var('streak_grace_days') %}
{%- if raw_grace is none and not execute %}
{%- set grace_days = 1 %}
{%- else %}
{%- set grace_days = raw_grace | int(-1) %}
{%- if grace_days < 0 or (raw_grace | string | trim) != (grace_days | string) %}
{{ exceptions.raise_compiler_error(
    "var streak_grace_days must be a whole number of days >= 0, got: " ~ raw_grace) }}
{%- endif %}
{%- endif %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

coverage as (

    select coverage_start_date from {{ ref('int_coverage') }}

),

user_days as (

    select
        user_id,
        activity_date,
        row_number() over (partition by user_id order by activity_date) as day_number
    from {{ ref('int_user_activity_days') }}
    where creator_id = '__all__'
      and activity_date <= (select as_of_date from as_of)

),

runs as (

    select
        user_id,
        min(activity_date) as run_start,
        max(activity_date) as run_end,
        count(*) as run_days
    from user_days
    group by user_id, {{ insights_warehouse.add_days('activity_date', '-day_number') }}

),

user_runs as (

    select
        user_id,
        count(*) as runs,
        sum(run_days) as active_days,
        max(run_days) as longest_streak,
        max(run_end) as last_active_date,
        max(case when run_start <= (select coverage_start_date from coverage) then 1 else 0 end)
            as has_run_from_coverage_start,
        max(case when run_end = last_run_end then run_days end) as last_run_days,
        max(case when run_end = last_run_end then run_start end) as last_run_start
    from (
        select runs.*, max(run_end) over (partition by user_id) as last_run_end
        from runs
    ) as ranked_runs
    group by user_id

),

{# Users of the snapshot who signed up by the as-of date, plus every active user (an
   active user_id may be missing from the users snapshot). #}
all_users as (

    select user_id from {{ ref('stg_users') }}
    where signup_date <= (select as_of_date from as_of)

    union

    select user_id from user_runs

)

select
    cast(all_users.user_id as {{ dbt.type_string() }}) as user_id,
    cast(as_of.as_of_date as date) as as_of_date,
    cast(
        case
            when user_runs.last_active_date
                >= {{ insights_warehouse.add_days('as_of.as_of_date', -grace_days) }}
                then case
                    when user_runs.last_run_start > coverage.coverage_start_date
                        then user_runs.last_run_days
                end
            else 0
        end
        as integer
    ) as current_streak,
    cast(
        case
            when user_runs.has_run_from_coverage_start = 1 then null
            else coalesce(user_runs.longest_streak, 0)
        end
        as integer
    ) as longest_streak,
    cast(user_runs.last_active_date as date) as last_active_date,
    cast(
        case
            when user_runs.last_active_date
                >= {{ insights_warehouse.add_days('as_of.as_of_date', -grace_days) }}
                then user_runs.last_run_start
        end
        as date
    ) as current_streak_start_date,
    cast(coalesce(user_runs.active_days, 0) as integer) as active_days,
    cast(coalesce(user_runs.runs, 0) as integer) as streaks,
    cast({{ grace_days }} as integer) as streak_grace_days,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone
from all_users
cross join as_of
cross join coverage
left join user_runs
    on all_users.user_id = user_runs.user_id
where as_of.as_of_date is not null
order by all_users.user_id
