{#
    Parts of a UTC timestamp's local time in IANA time zone `tz`, and a date's ISO
    weekday: `to_local_hour(ts, tz)` is 0..23, `iso_weekday(date)` 1 (Monday) .. 7
    (Sunday). `ts` is a TIMESTAMP without time zone holding UTC, as in the raw layer.
#}
{% macro to_local_hour(ts, tz) -%}
    {%- if insights_warehouse.is_utc_zone(tz) -%}
        {{ return('cast(extract(hour from ' ~ ts ~ ') as integer)') }}
    {%- endif -%}
    {{ return(adapter.dispatch('to_local_hour', 'insights_warehouse')(ts, tz)) }}
{%- endmacro %}

{% macro default__to_local_hour(ts, tz) -%}
    cast(extract(hour from (({{ ts }}) at time zone 'UTC') at time zone '{{ tz }}') as integer)
{%- endmacro %}

{% macro duckdb__to_local_hour(ts, tz) -%}
    cast(hour(timezone('{{ tz }}', timezone('UTC', {{ ts }}))) as integer)
{%- endmacro %}

{% macro spark__to_local_hour(ts, tz) -%}
    cast(hour(from_utc_timestamp({{ ts }}, '{{ tz }}')) as int)
{%- endmacro %}


{% macro iso_weekday(date_expr) -%}
    {{ return(adapter.dispatch('iso_weekday', 'insights_warehouse')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_weekday(date_expr) -%}
    cast(extract(isodow from {{ date_expr }}) as integer)
{%- endmacro %}

{% macro duckdb__iso_weekday(date_expr) -%}
    cast(isodow({{ date_expr }}) as integer)
{%- endmacro %}

{# Spark's dayofweek is 1 (Sunday) .. 7 (Saturday). #}
{% macro spark__iso_weekday(date_expr) -%}
    cast(((dayofweek({{ date_expr }}) + 5) % 7) + 1 as int)
{%- endmacro %}
