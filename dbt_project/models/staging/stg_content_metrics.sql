-- One row per content × metrics date: the current copy over all daily increments.

with source as (

    select * from {{ source('raw', 'content_metrics') }}
    where is_current

),

renamed as (

    select
        content_id,
        as_of_date as metrics_date,
        creator_id,
        platform as content_platform,
        published_at,
        impressions,
        views,
        watch_time_s,
        likes,
        comments,
        shares,
        clicks,
        conversions,
        followers_gained,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
