-- One row per creator of the latest snapshot.

with source as (

    select * from {{ source('raw', 'creators') }}
    where is_current

),

renamed as (

    select
        creator_id,
        name as creator_name,
        category as creator_category,
        joined_at,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
