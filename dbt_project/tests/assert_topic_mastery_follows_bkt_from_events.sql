{#
    marts.topic_mastery recomputed from stg_events (metrics.md "Mastery"), not from the
    mart's SQL or the macro bkt_mastery_path:
    * attempts: exercise_attempted events of a user on a topic with a known outcome up to
      the as-of date, numbered per user x topic in time order (ties by event_id); per
      user x topic x creator of the event (and '__all__'), attempts and correct attempts;
    * mastery: Bayesian Knowledge Tracing written out here: before the first attempt the
      topic's p_init, after each attempt the posterior of the outcome (guess, slip) moved
      on by p_transit; the parameters are the topic's fitted row (int_bkt_params) or the
      settings' defaults. The recursion is checked one step at a time against the mastery
      int_exercise_mastery holds after the previous attempt, so by induction every
      attempt's mastery is checked; the mart's mastery is the one after the user's last
      attempt with the creator;
    * level: the band the mastery falls in (metrics.md: familiar from 0.5, proficient from
      0.75, mastered from 0.95), read from a table of bands rather than a CASE.
    Fails with one row per disagreement.
#}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

attempts as (

    select
        event_id,
        user_id,
        topic,
        creator_id,
        event_date,
        is_correct,
        row_number() over (partition by user_id, topic order by event_ts, event_id)
            as attempt_number
    from {{ ref('stg_events') }}
    where event_type = 'exercise_attempted'
      and user_id is not null
      and topic is not null
      and is_correct is not null

),

params as (

    select
        attempts.user_id,
        attempts.topic,
        coalesce(fitted.p_init, {{ var('bkt_p_init') }}) as p_init,
        coalesce(fitted.p_transit, {{ var('bkt_p_transit') }}) as p_transit,
        coalesce(fitted.p_guess, {{ var('bkt_p_guess') }}) as p_guess,
        coalesce(fitted.p_slip, {{ var('bkt_p_slip') }}) as p_slip
    from (select distinct user_id, topic from attempts) as attempts
    left join {{ ref('int_bkt_params') }} as fitted
        on fitted.topic = attempts.topic

),

path as (

    select
        attempts.event_id,
        attempts.user_id,
        attempts.topic,
        attempts.attempt_number,
        attempts.is_correct,
        case when attempts.attempt_number = 1 then params.p_init else previous.mastery end
            as prior,
        params.p_transit, params.p_guess, params.p_slip,
        current_attempt.mastery
    from attempts
    inner join params
        on params.user_id = attempts.user_id
        and params.topic = attempts.topic
    left join {{ ref('int_exercise_mastery') }} as current_attempt
        on current_attempt.event_id = attempts.event_id
    left join {{ ref('int_exercise_mastery') }} as previous
        on previous.user_id = attempts.user_id
        and previous.topic = attempts.topic
        and previous.attempt_number = attempts.attempt_number - 1

),

stepped as (

    select
        *,
        case
            when is_correct then prior * (1 - p_slip) / (prior * (1 - p_slip) + (1 - prior) * p_guess)
            else prior * p_slip / (prior * p_slip + (1 - prior) * (1 - p_guess))
        end as posterior
    from path

),

step_errors as (

    select
        'mastery_step' as problem,
        user_id,
        topic,
        cast(null as {{ dbt.type_string() }}) as creator_id,
        attempt_number,
        mastery,
        posterior + (1 - posterior) * p_transit as expected
    from stepped
    where mastery is null
       or prior is null
       or abs(mastery - (posterior + (1 - posterior) * p_transit)) > 1e-9

),

attributed as (

    select user_id, topic, creator_id, attempt_number, is_correct, event_date
    from attempts
    where creator_id is not null

    union all

    select user_id, topic, '__all__', attempt_number, is_correct, event_date
    from attempts

),

expected_rows as (

    select
        attributed.user_id,
        attributed.topic,
        attributed.creator_id,
        count(*) as attempts,
        sum(case when attributed.is_correct then 1 else 0 end) as correct_attempts,
        max(attributed.attempt_number) as last_attempt_number
    from attributed
    where attributed.event_date <= (select as_of_date from as_of)
    group by attributed.user_id, attributed.topic, attributed.creator_id

),

expected as (

    select expected_rows.*, last_attempt.mastery
    from expected_rows
    left join {{ ref('int_exercise_mastery') }} as last_attempt
        on last_attempt.user_id = expected_rows.user_id
        and last_attempt.topic = expected_rows.topic
        and last_attempt.attempt_number = expected_rows.last_attempt_number

),

bands as (

    select 'attempted' as level, 0.0 as low, 0.5 as high
    union all select 'familiar', 0.5, 0.75
    union all select 'proficient', 0.75, 0.95
    union all select 'mastered', 0.95, 2.0

),

row_errors as (

    select
        'mart_row' as problem,
        coalesce(mart.user_id, expected.user_id) as user_id,
        coalesce(mart.topic, expected.topic) as topic,
        coalesce(mart.creator_id, expected.creator_id) as creator_id,
        expected.last_attempt_number as attempt_number,
        mart.mastery,
        expected.mastery as expected
    from {{ ref('topic_mastery') }} as mart
    full outer join expected
        on expected.user_id = mart.user_id
        and expected.topic = mart.topic
        and expected.creator_id = mart.creator_id
    left join bands
        on bands.level = mart.level
    where mart.user_id is null
       or expected.user_id is null
       or mart.attempts <> expected.attempts
       or mart.correct_attempts <> expected.correct_attempts
       or expected.mastery is null
       or abs(mart.mastery - expected.mastery) > 1e-9
       or bands.level is null
       or mart.mastery < bands.low
       or mart.mastery >= bands.high

)

select * from step_errors
union all
select * from row_errors
