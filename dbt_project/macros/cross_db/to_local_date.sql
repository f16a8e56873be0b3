{#
    The calendar date, in IANA time zone `tz` (a string), of `ts`: a TIMESTAMP
    without time zone holding UTC (how the raw layer stores every timestamp).
#}
{% macro to_local_date(ts, tz) -%}
    {{ return(adapter.dispatch('to_local_date', 'insights_warehouse')(ts, tz)) }}
{%- endmacro %}

{# SQL standard / PostgreSQL: UTC wall time -> instant -> wall time in tz. #}
{% macro default__to_local_date(ts, tz) -%}
    cast((({{ ts }}) at time zone 'UTC') at time zone '{{ tz }}' as date)
{%- endmacro %}

{# DuckDB (ICU): timezone('UTC', ts) is the instant, timezone(tz, instant) its local time. #}
{% macro duckdb__to_local_date(ts, tz) -%}
    cast(timezone('{{ tz }}', timezone('UTC', {{ ts }})) as date)
{%- endmacro %}

{# Spark / Databricks: from_utc_timestamp shifts the UTC wall time to tz's (the session
   time zone is UTC, so the cast to DATE takes that wall time's date). #}
{% macro spark__to_local_date(ts, tz) -%}
    cast(from_utc_timestamp({{ ts }}, '{{ tz }}') as date)
{%- endmacro %}
