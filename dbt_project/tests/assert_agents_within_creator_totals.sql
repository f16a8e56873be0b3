{#
    marts.agent_daily against the creator totals of conversation_daily and nlu_daily:
    every session and classification counted for an agent is one of its creator's, so
    per date and creator the agents' sessions, conversations and classifications sum to
    at most the creator's (exactly, when every session and event has an agent). Fails
    with one row per date and creator where the agents count more.
#}
with agents as (

    select {{ adapter.quote('date') }} as day, creator_id,
           sum(sessions) as sessions, sum(conversations) as conversations,
           sum(classifications) as classifications
    from {{ ref('agent_daily') }}
    where creator_id <> '(none)'
    group by {{ adapter.quote('date') }}, creator_id

)

select agents.*
from agents
left join {{ ref('conversation_daily') }} as conv
    on conv.{{ adapter.quote('date') }} = agents.day and conv.creator_id = agents.creator_id
left join {{ ref('nlu_daily') }} as nlu
    on nlu.{{ adapter.quote('date') }} = agents.day and nlu.creator_id = agents.creator_id
where agents.sessions > coalesce(conv.sessions, 0)
   or agents.conversations > coalesce(conv.conversations, 0)
   or agents.classifications > coalesce(nlu.classifications, 0)
