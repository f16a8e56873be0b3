-- Satisfaction per intent per day (product documents 001 and 002: satisfaction per
-- intent). A rating (user_feedback with data.rating) belongs to the last
-- intent_classified event of its session at or before it (event_ts, ties by event_id):
-- what the user last asked about. A sentiment of a user_message belongs to the first
-- intent_classified of its session at or after it (the classification of that message).
-- Ratings and messages with no such classification are under intent '(none)'.
--
-- Per date (of the rating or message) × intent: ratings, mean_rating, csat (share of
-- ratings 4..5), sentiment_messages and negative_sentiment_rate. Up to the as-of date.
-- The attribution, one row per rating or message, is int_intent_feedback's
-- (incremental: a daily run reads the new days' ratings and their sessions only).

with attributed as (

    select event_date, intent, rating, sentiment
    from {{ ref('int_intent_feedback') }}

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
