-- One row per anonymous_id × resolved user: which users a device or browser id was
-- tied to (metrics.md "Version 2 additions", Identity), over the events carrying that
-- anonymous_id and resolved to that user (sent with the user_id, or resolved to it).

with device_events as (

    select anonymous_id, user_id, raw_user_id, event_ts
    from {{ ref('stg_events') }}
    where anonymous_id is not null
      and user_id is not null

)

select
    anonymous_id,
    user_id,
    min(event_ts) as first_seen,
    max(event_ts) as last_seen,
    count(*) as events,
    count(case when raw_user_id is not null then 1 end) as identified_events,
    count(case when raw_user_id is null then 1 end) as resolved_events
from device_events
group by anonymous_id, user_id
