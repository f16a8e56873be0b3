-- Effectiveness of each program: enrolled users, the share who completed it, the share of
-- their goals completed, 30-day retention, net revenue in the program's currency, and a
-- 0..100 score combining the three rates. Everything is cut at the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

programs as (

    select program_id, creator_id, currency
    from {{ ref('stg_programs') }}

),

{# One row per program × user: the first enrollment, completed if any enrollment is. #}
enrolled as (

    select
        program_id,
        user_id,
        min(enrolled_at) as enrolled_at,
        min({{ insights_warehouse.reporting_date('enrolled_at') }}) as enrolled_date,
        max(case when enrollment_status = 'completed' then 1 else 0 end) as has_completed
    from {{ ref('stg_enrollments') }}
    where user_id is not null
      and program_id is not null
      and enrolled_at is not null
      and {{ insights_warehouse.reporting_date('enrolled_at') }} <= (select as_of_date from as_of)
    group by program_id, user_id

),

enrollment_stats as (

    select
        program_id,
        count(*) as enrolled_users,
        sum(has_completed) as completed_users
    from enrolled
    group by program_id

),

goal_stats as (

    select
        enrolled.program_id,
        count(*) as goals,
        sum(case when goals.status = 'completed' then 1 else 0 end) as completed_goals
    from enrolled
    inner join {{ ref('goal_progress') }} as goals
        on enrolled.user_id = goals.user_id
        and goals.created_at >= enrolled.enrolled_at
    group by enrolled.program_id

),

retention_stats as (

    select
        enrolled.program_id,
        count(*) as eligible_users,
        sum(case when exists (
                select 1
                from {{ ref('int_user_activity_days') }} as activity
                where activity.user_id = enrolled.user_id
                  and activity.creator_id = '__all__'
                  and activity.activity_date >= {{ insights_warehouse.add_days('enrolled.enrolled_date', 30) }}
                  and activity.activity_date <= (select as_of_date from as_of)
            ) then 1 else 0 end) as retained_users
    from enrolled
    where {{ insights_warehouse.add_days('enrolled.enrolled_date', 30) }} <= (select as_of_date from as_of)
    group by enrolled.program_id

),

revenue as (

    select
        payments.program_id,
        sum(payments.signed_amount) as net_revenue
    from {{ ref('stg_payments') }} as payments
    inner join programs
        on payments.program_id = programs.program_id
        and payments.currency = programs.currency
    where payments.paid_date <= (select as_of_date from as_of)
    group by payments.program_id

),

rates as (

    select
        programs.program_id,
        programs.creator_id,
        programs.currency,
        coalesce(enrollment_stats.enrolled_users, 0) as enrolled_users,
        case when enrollment_stats.enrolled_users > 0
             then cast(enrollment_stats.completed_users as {{ insights_warehouse.type_double() }})
                  / enrollment_stats.enrolled_users
        end as completion_rate,
        case when goal_stats.goals > 0
             then cast(goal_stats.completed_goals as {{ insights_warehouse.type_double() }})
                  / goal_stats.goals
        end as goal_completion_rate,
        case when retention_stats.eligible_users > 0
             then cast(retention_stats.retained_users as {{ insights_warehouse.type_double() }})
                  / retention_stats.eligible_users
        end as retention_30d,
        coalesce(revenue.net_revenue, 0) as net_revenue
    from programs
    left join enrollment_stats
        on programs.program_id = enrollment_stats.program_id
    left join goal_stats
        on programs.program_id = goal_stats.program_id
    left join retention_stats
        on programs.program_id = retention_stats.program_id
    left join revenue
        on programs.program_id = revenue.program_id

),

{# Weights 0.5 / 0.25 / 0.25, renormalized over the rates that are defined. #}
scored as (

    select
        *,
        (case when completion_rate is null then 0 else 0.5 end
         + case when goal_completion_rate is null then 0 else 0.25 end
         + case when retention_30d is null then 0 else 0.25 end) as score_weight,
        (coalesce(0.5 * completion_rate, 0)
         + coalesce(0.25 * goal_completion_rate, 0)
         + coalesce(0.25 * retention_30d, 0)) as weighted_rates
    from rates

)

select
    cast(program_id as {{ dbt.type_string() }}) as program_id,
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(enrolled_users as {{ dbt.type_bigint() }}) as enrolled_users,
    cast(completion_rate as {{ insights_warehouse.type_double() }}) as completion_rate,
    cast(goal_completion_rate as {{ insights_warehouse.type_double() }}) as goal_completion_rate,
    cast(retention_30d as {{ insights_warehouse.type_double() }}) as retention_30d,
    cast(net_revenue as {{ insights_warehouse.type_double() }}) as net_revenue,
    cast(currency as {{ dbt.type_string() }}) as currency,
    cast(case when score_weight > 0 then 100.0 * weighted_rates / score_weight end
         as {{ insights_warehouse.type_double() }}) as effectiveness_score,
    cast((select as_of_date from as_of) as date) as as_of_date
from scored
