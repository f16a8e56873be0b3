-- Operational: one row per file per load of an export day, with its counts and outcome.

with source as (

    select * from {{ source('raw', 'load_audit') }}

),

renamed as (

    select
        load_id,
        run_id,
        entity,
        export_date,
        source_file,
        file_format,
        file_bytes,
        file_mtime,
        status as load_status,
        message,
        records_read,
        blank_lines,
        loaded as rows_loaded,
        rejected as rows_rejected,
        duplicates as rows_duplicate,
        started_at,
        finished_at

    from source

)

select * from renamed
