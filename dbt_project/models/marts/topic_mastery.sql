-- Mastery of each user on each topic they attempted: the Bayesian Knowledge Tracing
-- probability after their last attempt (int_exercise_mastery, which runs the BKT
-- recursion through the dispatched macro bkt_mastery_path), its level, and which
-- parameters were used. Attempts after the as-of date are ignored.
-- Per creator (marts.md version 2): rows per user × topic × creator_id (the creator of the
-- attempt's event) with that creator's attempts and the mastery after the user's last
-- attempt with that creator, plus the creator_id = '__all__' rows over every attempt
-- (version 1's rows, unchanged).

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

mastery as (

    select event_id, user_id, topic, attempt_number, is_correct, mastery, params_source
    from {{ ref('int_exercise_mastery') }}
    where attempt_date <= (select as_of_date from as_of)

),

attempts as (

    select
        mastery.user_id, mastery.topic, events.creator_id,
        mastery.attempt_number, mastery.is_correct, mastery.mastery, mastery.params_source
    from mastery
    inner join {{ ref('stg_events') }} as events
        on events.event_id = mastery.event_id
    where events.creator_id is not null

    union all

    select
        user_id, topic, cast('__all__' as {{ dbt.type_string() }}),
        attempt_number, is_correct, mastery, params_source
    from mastery

),

per_user_topic as (

    select
        user_id,
        topic,
        creator_id,
        count(*) as attempts,
        sum(case when is_correct then 1 else 0 end) as correct_attempts,
        max(attempt_number) as last_attempt_number
    from attempts
    group by user_id, topic, creator_id

),

final as (

    select
        per_user_topic.user_id,
        per_user_topic.topic,
        per_user_topic.creator_id,
        per_user_topic.attempts,
        per_user_topic.correct_attempts,
        attempts.mastery,
        attempts.params_source
    from per_user_topic
    inner join attempts
        on per_user_topic.user_id = attempts.user_id
        and per_user_topic.topic = attempts.topic
        and per_user_topic.creator_id = attempts.creator_id
        and per_user_topic.last_attempt_number = attempts.attempt_number

)

select
    cast(final.user_id as {{ dbt.type_string() }}) as user_id,
    cast(final.topic as {{ dbt.type_string() }}) as topic,
    cast(final.creator_id as {{ dbt.type_string() }}) as creator_id,
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
