-- One row per payment: the current copy of each payment_id over all daily increments.

with source as (

    select * from {{ source('raw', 'payments') }}
    where is_current

),

renamed as (

    select
        payment_id,
        user_id,
        program_id,
        kind as payment_kind,
        amount,
        case when kind = 'refund' then -amount else amount end as signed_amount,
        upper(currency) as currency,
        paid_at,
        {{ insights_warehouse.reporting_date('paid_at') }} as paid_date,
        extra as extra_fields,
        export_date,
        load_id,
        loaded_at

    from source

)

select * from renamed
