-- One row: the as-of date of this run, the last day the marts report.
-- var as_of_date when set (YYYY-MM-DD), else the last export date of loaded events
-- (metrics.md: "the last complete day in the data"; an export day is only loaded once
-- complete). Null when no var is set and no event is loaded.

{%- set as_of_var = insights_warehouse.as_of_date_var() %}

with loaded_events as (

    select max(export_date) as last_export_date
    from {{ ref('stg_events') }}

)

select
    {% if as_of_var is not none -%}
    cast('{{ as_of_var }}' as date) as as_of_date,
    cast('var' as {{ dbt.type_string() }}) as as_of_date_source,
    {%- else -%}
    cast(last_export_date as date) as as_of_date,
    cast('last_export_date' as {{ dbt.type_string() }}) as as_of_date_source,
    {%- endif %}
    cast(last_export_date as date) as last_export_date
from loaded_events
