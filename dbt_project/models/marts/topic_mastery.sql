-- Mastery of each user on each topic they attempted: the Bayesian Knowledge Tracing
-- probability after their last attempt (int_exercise_mastery, which runs the BKT
-- recursion through the dispatched macro bkt_mastery_path), its level, and which
-- parameters were used. Attempts after the as-of date are ignored.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

attempts as (

    select user_id, topic, attempt_number, is_correct, mastery, params_source
    from {{ ref('int_exercise_mastery') }}
    where attempt_date <= (select as_of_date from as_of)

),

per_user_topic as (

    select
        user_id,
        topic,
        count(*) as attempts,
        sum(case when is_correct then 1 else 0 end) as correct_attempts,
        max(attempt_number) as last_attempt_number
    from attempts
    group by user_id, topic

),

final as (

    select
        per_user_topic.user_id,
        per_user_topic.topic,
        per_user_topic.attempts,
        per_user_topic.correct_attempts,
        attempts.mastery,
        attempts.params_source
    from per_user_topic
    inner join attempts
        on per_user_topic.user_id = attempts.user_id
        and per_user_topic.topic = attempts.topic
        and per_user_topic.last_attempt_number = attempts.attempt_number

)

select
    cast(final.user_id as {{ dbt.type_string() }}) as user_id,
    cast(final.topic as {{ dbt.type_string() }}) as topic,
    cast(final.attempts as {{ dbt.type_bigint() }}) as attempts,
    cast(final.correct_attempts as {{ dbt.type_bigint() }}) as correct_attempts,
    cast(final.mastery as {{ insights_warehouse.type_double() }}) as mastery,
    cast(
        case
            when final.mastery >= 0.95 then 'mastered'
            when final.mastery >= 0.75 then 'proficient'
            when final.mastery >= 0.5 then 'familiar'
            else 'attempted'
        end
        as {{ dbt.type_string() }}
    ) as level,
    cast(final.params_source as {{ dbt.type_string() }}) as params_source,
    cast(as_of.as_of_date as date) as as_of_date
from final
cross join as_of
