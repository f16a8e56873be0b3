-- Results of every experiment per variant: assigned users, conversions (a charge within
-- the conversion window after assignment), conversion rate, lift and a two-sided
-- two-proportion z-test against the control variant with a 95% confidence interval of
-- the difference, and a sample ratio mismatch test (chi-square against an equal split).
-- Holm's correction across the experiment's metrics, power and the minimum detectable
-- effect are in ml.experiment_analysis (the Python analysis, which reads the staging
-- models: dbt never reads an ml table it would have to wait for).

{%- set window_days = insights_warehouse.window_days('experiment_conversion_window_days') %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

assignments as (

    select experiment_id, variant, user_id, assigned_at
    from {{ ref('stg_experiment_assignments') }}
    where assigned_at is not null
      and {{ insights_warehouse.reporting_date('assigned_at') }} <= (select as_of_date from as_of)

),

charges as (

    select user_id, paid_at
    from {{ ref('stg_payments') }}
    where payment_kind = 'charge'
      and paid_date <= (select as_of_date from as_of)

),

converted as (

    select distinct assignments.experiment_id, assignments.user_id
    from assignments
    inner join charges
        on assignments.user_id = charges.user_id
        and charges.paid_at >= assignments.assigned_at
        and charges.paid_at <= {{ insights_warehouse.add_days_to_timestamp('assignments.assigned_at', window_days) }}

),

variants as (

    select
        assignments.experiment_id,
        assignments.variant,
        count(*) as users,
        count(converted.user_id) as conversions
    from assignments
    left join converted
        on assignments.experiment_id = converted.experiment_id
        and assignments.user_id = converted.user_id
    group by assignments.experiment_id, assignments.variant

),

rated as (

    select
        *,
        cast(conversions as {{ insights_warehouse.type_double() }}) / users as conversion_rate,
        row_number() over (
            partition by experiment_id
            order by case when lower(variant) = 'control' then 0 else 1 end, variant
        ) as control_rank,
        count(*) over (partition by experiment_id) as n_variants,
        sum(users) over (partition by experiment_id) as experiment_users
    from variants

),

srm as (

    select
        experiment_id,
        sum(
            (users - cast(experiment_users as {{ insights_warehouse.type_double() }}) / n_variants)
            * (users - cast(experiment_users as {{ insights_warehouse.type_double() }}) / n_variants)
            / (cast(experiment_users as {{ insights_warehouse.type_double() }}) / n_variants)
        ) as chi_square,
        max(n_variants) - 1 as degrees_of_freedom
    from rated
    group by experiment_id

),

compared as (

    select
        rated.experiment_id,
        rated.variant,
        rated.users,
        rated.conversions,
        rated.conversion_rate,
        rated.control_rank = 1 as is_control,
        control.variant as control_variant,
        control.users as control_users,
        control.conversion_rate as control_rate,
        rated.conversion_rate - control.conversion_rate as rate_difference,
        cast(rated.conversions + control.conversions as {{ insights_warehouse.type_double() }})
            / (rated.users + control.users) as pooled_rate,
        srm.chi_square,
        srm.degrees_of_freedom
    from rated
    inner join rated as control
        on rated.experiment_id = control.experiment_id
        and control.control_rank = 1
    inner join srm
        on rated.experiment_id = srm.experiment_id

),

tested as (

    select
        *,
        case
            when is_control then null
            when pooled_rate <= 0 or pooled_rate >= 1 then null
            else rate_difference / sqrt(
                pooled_rate * (1 - pooled_rate) * (1.0 / users + 1.0 / control_users))
        end as z_score,
        sqrt(conversion_rate * (1 - conversion_rate) / users
             + control_rate * (1 - control_rate) / control_users) as difference_se
    from compared

)

select
    cast(tested.experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(tested.variant as {{ dbt.type_string() }}) as variant,
    cast(users as {{ dbt.type_bigint() }}) as users,
    cast(conversions as {{ dbt.type_bigint() }}) as conversions,
    cast(conversion_rate as {{ insights_warehouse.type_double() }}) as conversion_rate,
    cast(case when is_control or control_rate = 0 then null
              else rate_difference / control_rate end
         as {{ insights_warehouse.type_double() }}) as lift,
    cast(case when z_score is null then null
              else 2.0 * (1.0 - {{ insights_warehouse.normal_cdf('abs(z_score)') }}) end
         as {{ insights_warehouse.type_double() }}) as p_value,
    cast(case when is_control then null else rate_difference - 1.959963984540054 * difference_se end
         as {{ insights_warehouse.type_double() }}) as ci_low,
    cast(case when is_control then null else rate_difference + 1.959963984540054 * difference_se end
         as {{ insights_warehouse.type_double() }}) as ci_high,
    cast(coalesce(z_score is not null
                  and 2.0 * (1.0 - {{ insights_warehouse.normal_cdf('abs(z_score)') }}) < 0.05,
                  false) as boolean) as significant,
    cast({{ insights_warehouse.chi_square_sf('chi_square', 'degrees_of_freedom') }}
         as {{ insights_warehouse.type_double() }}) as srm_p_value,
    cast(is_control as boolean) as is_control,
    cast(control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(case when is_control then null else rate_difference end
         as {{ insights_warehouse.type_double() }}) as rate_difference,
    cast(z_score as {{ insights_warehouse.type_double() }}) as z_score,
    cast({{ window_days }} as integer) as conversion_window_days,
    cast((select as_of_date from as_of) as date) as as_of_date
from tested
