{#
    Cost savings of marts.conversation_daily recomputed from stg_events (metrics.md
    "Conversations and language understanding"), not from int_sessions: a session is
    automated when it has a conversation_start event and no event flagged
    escalated_to_human; it counts on the reporting date of its first event, for the first
    creator_id it names in time order (ties by event_id) and for '__all__'. Cost savings =
    automated conversations x var cost_per_human_interaction. Fails with one row per date
    x creator where the mart disagrees; a date with automated conversations and no mart
    row fails too.
#}

with as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

events as (

    select session_id, event_id, event_ts, creator_id, event_type, is_escalated_to_human
    from {{ ref('stg_events') }}
    where session_id is not null

),

first_events as (

    select session_id, min(event_ts) as started_at
    from events
    group by session_id

),

first_creators as (

    select session_id, creator_id
    from (
        select
            session_id,
            creator_id,
            row_number() over (partition by session_id order by event_ts, event_id) as n
        from events
        where creator_id is not null
    ) as ranked
    where n = 1

),

automated as (

    select session_id
    from events
    group by session_id
    having max(case when event_type = 'conversation_start' then 1 else 0 end) = 1
       and max(case when is_escalated_to_human then 1 else 0 end) = 0

),

automated_sessions as (

    select
        automated.session_id,
        first_creators.creator_id,
        {{ insights_warehouse.reporting_date('first_events.started_at') }} as start_date
    from automated
    inner join first_events
        on first_events.session_id = automated.session_id
    left join first_creators
        on first_creators.session_id = automated.session_id

),

expected as (

    select start_date, creator_id, count(*) as automated_conversations
    from automated_sessions
    where creator_id is not null
      and start_date <= (select as_of_date from as_of)
    group by start_date, creator_id

    union all

    select start_date, '__all__', count(*)
    from automated_sessions
    where start_date <= (select as_of_date from as_of)
    group by start_date

),

compared as (

    select
        coalesce(mart.{{ adapter.quote('date') }}, expected.start_date) as activity_date,
        coalesce(mart.creator_id, expected.creator_id) as creator_id,
        mart.{{ adapter.quote('date') }} is null as missing_in_mart,
        mart.cost_savings,
        coalesce(expected.automated_conversations, 0)
            * {{ var('cost_per_human_interaction') }} as expected_cost_savings,
        mart.automated_conversations,
        coalesce(expected.automated_conversations, 0) as expected_automated_conversations
    from {{ ref('conversation_daily') }} as mart
    full outer join expected
        on expected.start_date = mart.{{ adapter.quote('date') }}
        and expected.creator_id = mart.creator_id

)

select *
from compared
where missing_in_mart
   or automated_conversations <> expected_automated_conversations
   or abs(cost_savings - expected_cost_savings) > 1e-6
