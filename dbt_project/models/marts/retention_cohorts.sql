-- Signup-cohort retention (metrics.md "Cohorts and retention"), per cohort grain (ISO
-- week starting Monday, month; reporting time zone): one row per cohort and period
-- k = 0, 1, 2, ... up to the period holding the as-of date. A user of cohort c is
-- retained in period k if active in period c + k; the cohort size counts every user
-- who signed up in c, active or not. Periods not complete at the as-of date have
-- retained_users and retention_rate null, and so are periods not wholly covered by the
-- loaded events (metrics.md v2 "Coverage": before the coverage start, the count is
-- unknown, never 0); is_covered says which. Equals the `retention` definition
-- start = signup, return = any_active, first_time, on of the same grain.

{%- set grains = ['week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

coverage as (

    select coverage_start_date from {{ ref('int_coverage') }}

),

cohort_users as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        cast('{{ grain }}' as {{ dbt.type_string() }}) as cohort_grain,
        user_id,
        {{ insights_warehouse.period_start('signup_date', grain) }} as cohort_start
    from {{ ref('stg_users') }}
    where signup_date <= (select as_of_date from as_of)
    {%- endfor %}

),

cohorts as (

    select cohort_grain, cohort_start, count(*) as cohort_size
    from cohort_users
    group by cohort_grain, cohort_start

),

calendar_days as (

    {{ insights_warehouse.date_spine(
        '(select min(cohort_start) from cohorts)',
        '(select as_of_date from as_of)'
    ) }}

),

{# Every calendar period of each grain from the first cohort to the as-of period. #}
periods as (

    {{ insights_warehouse.calendar_periods(grains, grain_column='cohort_grain') }}

),

cohort_periods as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        cohorts.cohort_grain,
        cohorts.cohort_start,
        cohorts.cohort_size,
        {{ insights_warehouse.periods_between('cohorts.cohort_start', 'periods.period_start', grain) }}
            as period,
        periods.period_start,
        periods.period_end
    from cohorts
    inner join periods
        on cohorts.cohort_grain = periods.cohort_grain
        and periods.period_start >= cohorts.cohort_start
    where cohorts.cohort_grain = '{{ grain }}'
    {%- endfor %}

),

retained as (

    select
        cohort_users.cohort_grain,
        cohort_users.cohort_start,
        activity.period_start,
        count(*) as retained_users
    from cohort_users
    inner join {{ ref('int_user_activity_periods') }} as activity
        on activity.period_grain = cohort_users.cohort_grain
        and activity.creator_id = '__all__'
        and activity.user_id = cohort_users.user_id
        and activity.period_start >= cohort_users.cohort_start
    group by cohort_users.cohort_grain, cohort_users.cohort_start, activity.period_start

),

final as (

    select
        cohort_periods.cohort_grain,
        cohort_periods.cohort_start,
        cohort_periods.cohort_size,
        cohort_periods.period,
        cohort_periods.period_start,
        cohort_periods.period_end,
        cohort_periods.period_end <= as_of.as_of_date as is_complete_period,
        cohort_periods.period_end <= as_of.as_of_date
            and cohort_periods.period_start >= coverage.coverage_start_date as is_covered,
        case
            when cohort_periods.period_end <= as_of.as_of_date
                and cohort_periods.period_start >= coverage.coverage_start_date
                then coalesce(retained.retained_users, 0)
        end as retained_users,
        as_of.as_of_date
    from cohort_periods
    cross join as_of
    cross join coverage
    left join retained
        on cohort_periods.cohort_grain = retained.cohort_grain
        and cohort_periods.cohort_start = retained.cohort_start
        and cohort_periods.period_start = retained.period_start

)

select
    cast(cohort_grain as {{ dbt.type_string() }}) as cohort_grain,
    cast(cohort_start as date) as cohort_start,
    cast(cohort_size as {{ dbt.type_bigint() }}) as cohort_size,
    cast(period as integer) as period,
    cast(retained_users as {{ dbt.type_bigint() }}) as retained_users,
    cast(
        cast(retained_users as {{ insights_warehouse.type_double() }}) / cohort_size
        as {{ insights_warehouse.type_double() }}
    ) as retention_rate,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(is_complete_period as boolean) as is_complete_period,
    cast(as_of_date as date) as as_of_date,
    cast('{{ insights_warehouse.reporting_timezone() }}' as {{ dbt.type_string() }})
        as reporting_timezone,
    cast(coalesce(is_covered, false) as boolean) as is_covered
from final
order by case cohort_grain when 'week' then 1 else 2 end, cohort_start, period
