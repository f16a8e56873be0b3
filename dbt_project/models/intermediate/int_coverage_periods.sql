-- Every calendar period (day; ISO week, starting Monday; month; reporting time zone)
-- that holds a day between the coverage start and the as-of date, with is_covered:
-- the period lies wholly in that range (metrics.md v2 "Coverage"). The first and the
-- last period of a grain can be partial (not covered).

{%- set grains = ['day', 'week', 'month'] %}

with coverage as (

    select coverage_start_date, as_of_date from {{ ref('int_coverage') }}

),

calendar_days as (

    {{ insights_warehouse.date_spine(
        '(select coverage_start_date from coverage)',
        '(select as_of_date from coverage)'
    ) }}

),

periods as (

    {{ insights_warehouse.calendar_periods(grains) }}

)

select
    cast(periods.period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(periods.period_start as date) as period_start,
    cast(periods.period_end as date) as period_end,
    cast(
        periods.period_start >= coverage.coverage_start_date
        and periods.period_end <= coverage.as_of_date
        as boolean
    ) as is_covered
from periods
cross join coverage
