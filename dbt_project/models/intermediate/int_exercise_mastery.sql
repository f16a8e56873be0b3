-- One row per exercise attempt with the user's Bayesian Knowledge Tracing mastery of the
-- topic after it (metrics.md "Mastery"), and the parameters used: the topic's fitted row
-- of int_bkt_params when there is one, else the defaults of the settings (vars bkt_*).
-- The BKT recursion itself is the dispatched macro bkt_mastery_path.

with attempts as (

    select event_id, user_id, topic, attempt_number, attempted_at, attempt_date, is_correct
    from {{ ref('int_exercise_attempts') }}

),

fitted_params as (

    select topic, p_init, p_transit, p_guess, p_slip
    from {{ ref('int_bkt_params') }}

),

attempts_with_params as (

    select
        attempts.user_id,
        attempts.topic,
        attempts.attempt_number,
        attempts.is_correct,
        cast(coalesce(fitted_params.p_init, {{ insights_warehouse.bkt_default_param('p_init') }})
            as {{ insights_warehouse.type_double() }}) as p_init,
        cast(coalesce(fitted_params.p_transit, {{ insights_warehouse.bkt_default_param('p_transit') }})
            as {{ insights_warehouse.type_double() }}) as p_transit,
        cast(coalesce(fitted_params.p_guess, {{ insights_warehouse.bkt_default_param('p_guess') }})
            as {{ insights_warehouse.type_double() }}) as p_guess,
        cast(coalesce(fitted_params.p_slip, {{ insights_warehouse.bkt_default_param('p_slip') }})
            as {{ insights_warehouse.type_double() }}) as p_slip,
        case when fitted_params.topic is null then 'default' else 'fitted' end as params_source
    from attempts
    left join fitted_params
        on attempts.topic = fitted_params.topic

),

mastery_path as (

    {{ insights_warehouse.bkt_mastery_path('attempts_with_params') }}

)

select
    attempts.event_id,
    attempts.user_id,
    attempts.topic,
    attempts.attempt_number,
    attempts.attempted_at,
    attempts.attempt_date,
    attempts.is_correct,
    cast(mastery_path.mastery as {{ insights_warehouse.type_double() }}) as mastery,
    attempts_with_params.p_init,
    attempts_with_params.p_transit,
    attempts_with_params.p_guess,
    attempts_with_params.p_slip,
    cast(attempts_with_params.params_source as {{ dbt.type_string() }}) as params_source
from attempts
inner join attempts_with_params
    on attempts.user_id = attempts_with_params.user_id
    and attempts.topic = attempts_with_params.topic
    and attempts.attempt_number = attempts_with_params.attempt_number
inner join mastery_path
    on attempts.user_id = mastery_path.user_id
    and attempts.topic = mastery_path.topic
    and attempts.attempt_number = mastery_path.attempt_number
