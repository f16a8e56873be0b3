{#
    The calendar date, in IANA time zone `tz` (a string), of `ts`: a TIMESTAMP
    without time zone holding UTC (how the raw layer stores every timestamp).
#}
{% macro to_local_date(ts, tz) -%}
    {%- if insights_warehouse.is_utc_zone(tz) -%}
        {{ return('cast(' ~ ts ~ ' as date)') }}
    {%- endif -%}
    {{ return(adapter.dispatch('to_local_date', 'insights_warehouse')(ts, tz)) }}
{%- endmacro %}


{#
    Whether IANA zone `tz` is UTC under another name (offset 0, never daylight time): the
    local date and hour of a UTC timestamp are then its own, without a time-zone
    conversion. The conversion (ICU in DuckDB) costs about 0.4 s of CPU per million rows
    and runs wherever a model reads the event date; UTC is the default reporting zone.
    tests/test_dbt_engagement.py checks each name against the zone database.
#}
{% macro utc_zone_names() -%}
    {{ return(['UTC', 'Etc/UTC', 'UCT', 'Etc/UCT', 'Universal', 'Etc/Universal', 'Zulu',
               'Etc/Zulu', 'GMT', 'Etc/GMT', 'GMT0', 'Etc/GMT0', 'GMT+0', 'GMT-0',
               'Etc/GMT+0', 'Etc/GMT-0', 'Greenwich', 'Etc/Greenwich']) }}
{%- endmacro %}

{% macro is_utc_zone(tz) -%}
    {{ return((tz | string) in insights_warehouse.utc_zone_names()) }}
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
