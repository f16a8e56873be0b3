-- One row per user of the latest snapshot. email and display_name are personal data
-- and are deliberately not selected: they never leave the raw layer. `extra` (fields
-- the contract does not list) is left out too, as it may hold personal data.

with source as (

    select * from {{ source('raw', 'users') }}
    where is_current

),

renamed as (

    select
        user_id,
        signup_at,
        {{ insights_warehouse.reporting_date('signup_at') }} as signup_date,
        country,
        timezone as user_timezone,
        acquisition_channel,
        plan,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
