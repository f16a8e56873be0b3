{#
    marts.experiment_results recomputed from stg_experiment_assignments and stg_payments
    (marts.md "experiment_results"), not from the mart's SQL: per experiment and variant,
    the users assigned up to the as-of date and those with a charge at or after their
    assignment and at most var experiment_conversion_window_days later (paid up to the
    as-of date); the control is the variant named 'control' (any case), else the first in
    alphabetical order. For every other variant: the difference of rates, the lift and the
    95 % normal interval of the difference, difference +- 1.959964 x sqrt(p1 (1 - p1) / n1
    + p0 (1 - p0) / n0). Fails with one row per variant where the mart disagrees.
#}

{%- set window_days = var('experiment_conversion_window_days') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

assigned as (

    select experiment_id, variant, user_id, assigned_at
    from {{ ref('stg_experiment_assignments') }}
    where assigned_at is not null
      and {{ insights_warehouse.reporting_date('assigned_at') }} <= (select as_of_date from as_of)

),

converted_users as (

    select distinct assigned.experiment_id, assigned.user_id
    from assigned
    inner join {{ ref('stg_payments') }} as payments
        on payments.user_id = assigned.user_id
    where payments.payment_kind = 'charge'
      and payments.paid_date <= (select as_of_date from as_of)
      and payments.paid_at >= assigned.assigned_at
      and payments.paid_at <= {{ insights_warehouse.add_days_to_timestamp('assigned.assigned_at', window_days) }}

),

counts as (

    select
        assigned.experiment_id,
        assigned.variant,
        count(*) as n,
        count(converted_users.user_id) as x
    from assigned
    left join converted_users
        on converted_users.experiment_id = assigned.experiment_id
        and converted_users.user_id = assigned.user_id
    group by assigned.experiment_id, assigned.variant

),

controls as (

    select
        experiment_id,
        coalesce(min(case when lower(variant) = 'control' then variant end), min(variant))
            as variant
    from counts
    group by experiment_id

),

expected as (

    select
        counts.experiment_id,
        counts.variant,
        counts.n,
        counts.x,
        counts.variant = controls.variant as is_control,
        cast(counts.x as {{ insights_warehouse.type_double() }}) / counts.n as p1,
        cast(control.x as {{ insights_warehouse.type_double() }}) / control.n as p0,
        control.n as n0
    from counts
    inner join controls
        on controls.experiment_id = counts.experiment_id
    inner join counts as control
        on control.experiment_id = controls.experiment_id
        and control.variant = controls.variant

),

intervals as (

    select
        *,
        p1 - p0 as difference,
        1.959964 * sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n0) as half_width
    from expected

),

compared as (

    select
        coalesce(mart.experiment_id, intervals.experiment_id) as experiment_id,
        coalesce(mart.variant, intervals.variant) as variant,
        mart.users, intervals.n as expected_users,
        mart.conversions, intervals.x as expected_conversions,
        mart.is_control, intervals.is_control as expected_is_control,
        mart.ci_low, intervals.difference - intervals.half_width as expected_ci_low,
        mart.ci_high, intervals.difference + intervals.half_width as expected_ci_high,
        mart.rate_difference, intervals.difference as expected_difference,
        mart.lift,
        case when intervals.p0 > 0 then intervals.difference / intervals.p0 end as expected_lift
    from {{ ref('experiment_results') }} as mart
    full outer join intervals
        on intervals.experiment_id = mart.experiment_id
        and intervals.variant = mart.variant

)

select *
from compared
where users is null or expected_users is null
   or users <> expected_users
   or conversions <> expected_conversions
   or is_control <> expected_is_control
   or (expected_is_control and (ci_low is not null or ci_high is not null or lift is not null))
   or (not expected_is_control and (
        abs(ci_low - expected_ci_low) > 1e-5
        or abs(ci_high - expected_ci_high) > 1e-5
        or abs(rate_difference - expected_difference) > 1e-9
        or (expected_lift is null) <> (lift is null)
        or abs(lift - expected_lift) > 1e-9))
