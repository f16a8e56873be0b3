-- One row per experiment × user of the latest snapshot.

with source as (

    select * from {{ source('raw', 'experiment_assignments') }}
    where is_current

),

renamed as (

    select
        experiment_id,
        user_id,
        variant,
        assigned_at,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
