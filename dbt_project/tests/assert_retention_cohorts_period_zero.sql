{#
    Period-0 consistency of marts.retention_cohorts, recomputed independently from
    stg_users and stg_events (not from the intermediate models the mart uses): every
    cohort of the users snapshot (signed up by the as-of date) has exactly one k = 0
    row starting on the cohort start, with the cohort's size, and, when that period is
    complete, retained_users = the cohort's users with an active event in their signup
    period up to the as-of date. Fails with one row per cohort that disagrees.
#}
{%- set grains = ['week', 'month'] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

cohort_users as (

    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        '{{ grain }}' as cohort_grain,
        user_id,
        {{ insights_warehouse.period_start('signup_date', grain) }} as cohort_start
    from {{ ref('stg_users') }}
    where signup_date <= (select as_of_date from as_of)
    {%- endfor %}

),

expected as (

    select
        cohort_users.cohort_grain,
        cohort_users.cohort_start,
        count(*) as cohort_size,
        sum(case when exists (
            select 1 from {{ ref('stg_events') }} as events
            where events.user_id = cohort_users.user_id
              and events.is_active_event
              and events.event_date <= (select as_of_date from as_of)
              {%- for grain in grains %}
              and ({{ 'cohort_users.cohort_grain' }} <> '{{ grain }}'
                   or {{ insights_warehouse.period_start('events.event_date', grain) }}
                      = cohort_users.cohort_start)
              {%- endfor %}
        ) then 1 else 0 end) as retained_in_period_zero
    from cohort_users
    group by cohort_users.cohort_grain, cohort_users.cohort_start

),

period_zero as (

    select
        cohort_grain,
        cohort_start,
        count(*) as zero_rows,
        min(cohort_size) as cohort_size,
        min(retained_users) as retained_users,
        min(case when period_start = cohort_start then 1 else 0 end) as starts_on_cohort,
        min(case when is_complete_period then 1 else 0 end) as is_complete_period
    from {{ ref('retention_cohorts') }}
    where period = 0
    group by cohort_grain, cohort_start

)

select
    coalesce(expected.cohort_grain, period_zero.cohort_grain) as cohort_grain,
    coalesce(expected.cohort_start, period_zero.cohort_start) as cohort_start,
    expected.cohort_size as expected_cohort_size,
    expected.retained_in_period_zero as expected_retained_users,
    period_zero.zero_rows,
    period_zero.cohort_size,
    period_zero.retained_users
from expected
full outer join period_zero
    on expected.cohort_grain = period_zero.cohort_grain
    and expected.cohort_start = period_zero.cohort_start
where expected.cohort_grain is null
   or period_zero.cohort_grain is null
   or period_zero.zero_rows <> 1
   or period_zero.starts_on_cohort <> 1
   or period_zero.cohort_size <> expected.cohort_size
   or (period_zero.is_complete_period = 1
       and period_zero.retained_users <> expected.retained_in_period_zero)
