-- Operational: rows the ingest refused. The raw text of rejected `users` records may
-- hold email and display_name, so it is withheld here (it stays in raw.rejects).

with source as (

    select * from {{ source('raw', 'rejects') }}

),

renamed as (

    select
        entity,
        export_date,
        source_file,
        line_number,
        reason_code,
        reason,
        case when entity = 'users' then null else raw_text end as raw_text,
        entity = 'users' and raw_text is not null as is_raw_text_withheld,
        load_id,
        rejected_at

    from source

)

select * from renamed
