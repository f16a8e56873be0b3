-- One row per event: the current copy of each event_id (re-sent copies removed), typed
-- and renamed, with its date in the reporting time zone and whether it is active.
-- Anonymous events (user_id null) are kept: they count in sessions and active_events.

with source as (

    select * from {{ source('raw', 'events') }}
    where is_current

),

renamed as (

    select
        -- ids
        event_id,
        session_id,
        user_id,
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

    from source

)

select * from renamed
