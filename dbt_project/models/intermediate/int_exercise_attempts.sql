-- One row per exercise_attempted event of a known user on a topic with a known outcome,
-- numbered per user × topic in time order (ties broken by event_id). Attempts without
-- user_id, topic or `correct` cannot update a user's mastery and are left out.

with attempts as (

    select
        event_id,
        user_id,
        topic,
        event_ts,
        event_date,
        is_correct
    from {{ ref('stg_events') }}
    where event_type = 'exercise_attempted'
      and user_id is not null
      and topic is not null
      and is_correct is not null

)

select
    event_id,
    user_id,
    topic,
    cast(row_number() over (
        partition by user_id, topic order by event_ts, event_id
    ) as {{ dbt.type_bigint() }}) as attempt_number,
    event_ts as attempted_at,
    event_date as attempt_date,
    is_correct
from attempts
