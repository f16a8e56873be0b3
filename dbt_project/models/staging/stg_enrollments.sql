-- One row per enrollment of the latest snapshot.

with source as (

    select * from {{ source('raw', 'enrollments') }}
    where is_current

),

renamed as (

    select
        enrollment_id,
        user_id,
        program_id,
        enrolled_at,
        status as enrollment_status,
        completed_at,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
