-- One row per event: the current copy of each event_id (re-sent copies removed), typed
-- and renamed, with its date in the reporting time zone and whether it is active.
-- Anonymous events (user_id null) are kept: they count in sessions and active_events.
-- Identity (metrics.md "Version 2 additions"): user_id is the RESOLVED user (an event's
-- own user_id, else the one int_identity_resolution finds through its anonymous_id or
-- its session), so every user metric counts resolved users; the user_id as sent is
-- raw_user_id. Retroactive: the resolution is rebuilt on every run.

with source as (

    select * from {{ source('raw', 'events') }}
    where is_current

),

identities as (

    select event_id, resolved_user_id, resolution
    from {{ ref('int_identity_resolution') }}

),

resolved as (

    select
        source.*,
        coalesce(source.user_id, identities.resolved_user_id) as resolved_user_id,
        case
            when source.user_id is not null then 'user_id'
            else identities.resolution
        end as identity_resolution
    from source
    left join identities on identities.event_id = source.event_id

),

renamed as (

    select
        -- ids
        event_id,
        session_id,
        resolved_user_id as user_id,
        user_id as raw_user_id,
        anonymous_id,
        identity_resolution,
        creator_id,
        agent_id,
        program_id,

        -- type and time
        event_type,
        is_known_event_type,
        {{ insights_warehouse.is_active_event('event_type') }} as is_active_event,
        event_ts,
        {{ insights_warehouse.reporting_date('event_ts') }} as event_date,

        -- context
        channel,
        platform,
        location,
        sentiment,

        -- measures
        duration_ms,
        response_time_ms,
        confidence,

        -- typed fields of `data`
        text_length,
        intent,
        entity,
        entity_value,
        workflow,
        endpoint,
        status_code,
        latency_ms,
        error_code,
        error_message,
        rating,
        feedback_comment,
        topic,
        lesson_id,
        skill,
        correct as is_correct,
        quality,
        goal_id,
        goal_type,
        target_value,
        coalesce(escalated_to_human, false) as is_escalated_to_human,
        data as event_data,
        extra as extra_fields,

        -- lineage
        export_date,
        source_file,
        source_line,
        load_id,
        loaded_at

    from resolved

)

select * from renamed
