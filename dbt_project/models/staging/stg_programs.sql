-- One row per program of the latest snapshot.

with source as (

    select * from {{ source('raw', 'programs') }}
    where is_current

),

renamed as (

    select
        program_id,
        creator_id,
        title as program_title,
        topics,
        price,
        upper(currency) as currency,
        launched_at,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
