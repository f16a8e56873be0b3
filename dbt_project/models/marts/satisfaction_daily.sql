-- Satisfaction per day (product documents 001 and 002): the ratings of user_feedback
-- events (data.rating, 1..5) and the sentiment field of any event (positive, neutral,
-- negative), per date × creator_id × agent_id.
--
-- CSAT = the share of ratings that are 4 or 5; mean rating; the count of each rating;
-- the share of events with a sentiment that are negative (and positive). Rows:
-- creator_id and agent_id are the event's; '__all__' in either is every event (those
-- without a creator or agent included), so (__all__, __all__) is the whole platform.
-- '__all__' rows are computed over the events, never averaged from other rows. Only
-- dates with a rating or a sentiment, up to the as-of date; anonymous events count.
-- Incremental: a run replaces the dates from the window start on
-- (macros/incremental_window.sql); a date's rows depend only on that date's events.

{{ config(
    materialized='incremental',
    incremental_strategy='replace_date_range',
    unique_key='date',
    incremental_as_of_cut=true,
    partition_by=insights_warehouse.date_partition('date'),
    on_schema_change='fail'
) }}

{%- set window_start = insights_warehouse.replace_window_start('date') %}

{%- set dims = [('creator_id', 'agent_id'), ('creator_id', None), (None, 'agent_id'), (None, None)] %}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select
        event_date,
        creator_id,
        agent_id,
        case when event_type = 'user_feedback' then rating end as rating,
        sentiment
    from {{ ref('stg_events') }}
    where event_date <= (select as_of_date from as_of)
      and ((event_type = 'user_feedback' and rating is not null) or sentiment is not null)
      and {{ insights_warehouse.events_on_or_after(window_start) }}

),

{# Each event under its creator and agent and under '__all__' for either. #}
attributed as (
    {%- for creator, agent in dims %}
    {{ 'union all' if not loop.first }}

    select
        event_date,
        {{ creator if creator else "cast('__all__' as " ~ dbt.type_string() ~ ")" }} as creator_id,
        {{ agent if agent else "cast('__all__' as " ~ dbt.type_string() ~ ")" }} as agent_id,
        rating,
        sentiment
    from events
    {%- if creator or agent %}
    where {{ creator ~ ' is not null' if creator else '' }}{{ ' and ' if creator and agent else '' }}{{ agent ~ ' is not null' if agent else '' }}
    {%- endif %}
    {%- endfor %}

),

daily as (

    select
        event_date,
        creator_id,
        agent_id,
        {{ insights_warehouse.rating_sums() }},
        {%- for r in range(1, 6) %}
        sum(case when rating = {{ r }} then 1 else 0 end) as rating_{{ r }},
        {%- endfor %}
        count(sentiment) as sentiment_events,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative_events,
        sum(case when sentiment = 'positive' then 1 else 0 end) as positive_events
    from attributed
    group by event_date, creator_id, agent_id

)

select
    cast(event_date as date) as {{ adapter.quote('date') }},
    cast(creator_id as {{ dbt.type_string() }}) as creator_id,
    cast(agent_id as {{ dbt.type_string() }}) as agent_id,
    cast(ratings as {{ dbt.type_bigint() }}) as ratings,
    cast(mean_rating as {{ insights_warehouse.type_double() }}) as mean_rating,
    {{ insights_warehouse.share('satisfied_ratings', 'ratings') }} as csat,
    {%- for r in range(1, 6) %}
    cast(rating_{{ r }} as {{ dbt.type_bigint() }}) as rating_{{ r }},
    {%- endfor %}
    cast(sentiment_events as {{ dbt.type_bigint() }}) as sentiment_events,
    {{ insights_warehouse.share('negative_events', 'sentiment_events') }} as negative_sentiment_rate,
    cast(
        case when sentiment_events > 0
             then cast(positive_events as {{ insights_warehouse.type_double() }}) / sentiment_events end
        as {{ insights_warehouse.type_double() }}
    ) as positive_sentiment_rate
from daily
