-- Satisfaction per intent per day (product documents 001 and 002: satisfaction per
-- intent). A rating (user_feedback with data.rating) belongs to the last
-- intent_classified event of its session at or before it (event_ts, ties by event_id):
-- what the user last asked about. A sentiment of a user_message belongs to the first
-- intent_classified of its session at or after it (the classification of that message).
-- Ratings and messages with no such classification are under intent '(none)'.
--
-- Per date (of the rating or message) × intent: ratings, mean_rating, csat (share of
-- ratings 4..5), sentiment_messages and negative_sentiment_rate. Up to the as-of date.

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

session_events as (

    select event_id, session_id, event_ts, event_date, event_type, intent, rating, sentiment
    from {{ ref('stg_events') }}
    where event_type in ('intent_classified', 'user_feedback', 'user_message')

),

classified as (

    select event_id, session_id, event_ts, coalesce(intent, '(none)') as intent
    from session_events
    where event_type = 'intent_classified'

),

feedback as (

    select event_id, session_id, event_ts, event_date, rating
    from session_events
    where event_type = 'user_feedback' and rating is not null
      and event_date <= (select as_of_date from as_of)

),

messages as (

    select event_id, session_id, event_ts, event_date, sentiment
    from session_events
    where event_type = 'user_message' and sentiment is not null
      and event_date <= (select as_of_date from as_of)

),

rated as (

    -- each rating with the session's latest intent at or before it (event time, then
    -- event_id; null when none): one aggregate per rating (macros/cross_db/first_by.sql)
    select
        feedback.event_date,
        feedback.rating,
        {{ insights_warehouse.last_by('classified.intent', ['classified.event_ts', 'classified.event_id']) }}
            as intent
    from feedback
    left join classified
        on classified.session_id = feedback.session_id
        and classified.event_ts <= feedback.event_ts
    group by feedback.event_id, feedback.event_date, feedback.rating

),

felt as (

    -- each message's sentiment with the session's next intent at or after it
    select
        messages.event_date,
        messages.sentiment,
        {{ insights_warehouse.first_by('classified.intent', ['classified.event_ts', 'classified.event_id']) }}
            as intent
    from messages
    left join classified
        on classified.session_id = messages.session_id
        and classified.event_ts >= messages.event_ts
    group by messages.event_id, messages.event_date, messages.sentiment

),

attributed as (

    select event_date, coalesce(intent, '(none)') as intent, rating,
           cast(null as {{ dbt.type_string() }}) as sentiment
    from rated
    union all
    select event_date, coalesce(intent, '(none)') as intent, cast(null as {{ dbt.type_int() }}) as rating,
           sentiment
    from felt

),

daily as (

    select
        event_date,
        intent,
        {{ insights_warehouse.rating_sums() }},
        count(sentiment) as sentiment_messages,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative_messages
    from attributed
    group by event_date, intent

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(intent as {{ dbt.type_string() }}) as intent,
    cast(ratings as {{ dbt.type_bigint() }}) as ratings,
    cast(mean_rating as {{ insights_warehouse.type_double() }}) as mean_rating,
    {{ insights_warehouse.share('satisfied_ratings', 'ratings') }} as csat,
    cast(sentiment_messages as {{ dbt.type_bigint() }}) as sentiment_messages,
    {{ insights_warehouse.share('negative_messages', 'sentiment_messages') }} as negative_sentiment_rate
from daily
