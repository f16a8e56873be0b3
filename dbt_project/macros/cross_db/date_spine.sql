{#
    A query returning one row per calendar day, column `date_day` (DATE), from
    `start_date` to `end_date` inclusive. Both arguments are scalar SQL expressions
    (literals or scalar subqueries); a null bound or end < start gives no rows.
#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'insights_warehouse')(start_date, end_date)) }}
{%- endmacro %}

{# Portable: 0..99,999 from cross-joined digits (273 years), cut to the range. #}
{% macro default__date_spine(start_date, end_date) -%}
    with digits as (
        select 0 as d union all select 1 union all select 2 union all select 3
        union all select 4 union all select 5 union all select 6 union all select 7
        union all select 8 union all select 9
    ),
    bounds as (
        select cast({{ start_date }} as date) as start_day,
               cast({{ end_date }} as date) as end_day
    ),
    offsets as (
        select d1.d + 10 * d2.d + 100 * d3.d + 1000 * d4.d + 10000 * d5.d as n
        from digits d1 cross join digits d2 cross join digits d3
        cross join digits d4 cross join digits d5
    )
    select {{ insights_warehouse.add_days('bounds.start_day', 'offsets.n') }} as date_day
    from bounds cross join offsets
    where offsets.n <= {{ insights_warehouse.days_between('bounds.start_day', 'bounds.end_day') }}
{%- endmacro %}

{# DuckDB: generate_series yields the list of days, unnest makes it rows. #}
{% macro duckdb__date_spine(start_date, end_date) -%}
    select cast(unnest(generate_series(
        cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day
    )) as date) as date_day
{%- endmacro %}

{# Spark / Databricks: sequence() of the days, exploded. sequence refuses end < start
   with a positive step, so the end is raised to the start and the rows cut back. #}
{% macro spark__date_spine(start_date, end_date) -%}
    select date_day
    from (
        select explode(sequence(bounds.start_day, greatest(bounds.start_day, bounds.end_day),
                                interval 1 day)) as date_day,
               bounds.end_day
        from (
            select cast({{ start_date }} as date) as start_day,
                   cast({{ end_date }} as date) as end_day
        ) as bounds
    ) as days
    where date_day <= end_day
{%- endmacro %}
