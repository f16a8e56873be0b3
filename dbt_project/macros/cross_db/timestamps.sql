{# Seconds from TIMESTAMP `start_ts` to TIMESTAMP `end_ts` (end - start), fractions kept. #}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'insights_warehouse')(start_ts, end_ts)) }}
{%- endmacro %}

{# Portable: whole seconds (dbt's datediff counts second boundaries crossed). #}
{% macro default__seconds_between(start_ts, end_ts) -%}
    cast({{ dbt.datediff(start_ts, end_ts, 'second') }} as {{ insights_warehouse.type_double() }})
{%- endmacro %}

{# DuckDB: exact microseconds (epoch_us is a BIGINT; differences of DOUBLE epochs would
   lose precision at today's magnitudes), then seconds. #}
{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (cast(epoch_us({{ end_ts }}) - epoch_us({{ start_ts }}) as double) / 1000000.0)
{%- endmacro %}


{# TIMESTAMP `ts` plus `days` (an integer expression) whole days, as a TIMESTAMP. #}
{% macro add_days_to_timestamp(ts, days) -%}
    {{ return(adapter.dispatch('add_days_to_timestamp', 'insights_warehouse')(ts, days)) }}
{%- endmacro %}

{% macro default__add_days_to_timestamp(ts, days) -%}
    {{ dbt.dateadd('day', days, ts) }}
{%- endmacro %}

{# DuckDB: TIMESTAMP + INTERVAL stays a TIMESTAMP. #}
{% macro duckdb__add_days_to_timestamp(ts, days) -%}
    ({{ ts }} + to_days(cast({{ days }} as integer)))
{%- endmacro %}


{# TIMESTAMP `ts` plus `seconds` (an integer expression) seconds, as a TIMESTAMP
   (funnel windows of days, hours or minutes). #}
{% macro add_seconds_to_timestamp(ts, seconds) -%}
    {{ return(adapter.dispatch('add_seconds_to_timestamp', 'insights_warehouse')(ts, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds_to_timestamp(ts, seconds) -%}
    {{ dbt.dateadd('second', seconds, ts) }}
{%- endmacro %}

{% macro duckdb__add_seconds_to_timestamp(ts, seconds) -%}
    ({{ ts }} + to_seconds(cast({{ seconds }} as bigint)))
{%- endmacro %}

{% macro spark__add_seconds_to_timestamp(ts, seconds) -%}
    timestampadd(SECOND, {{ seconds }}, {{ ts }})
{%- endmacro %}


{# Spark / Databricks: exact microseconds too (timestampdiff is a BIGINT). #}
{% macro spark__seconds_between(start_ts, end_ts) -%}
    (cast(timestampdiff(MICROSECOND, {{ start_ts }}, {{ end_ts }}) as double) / 1000000.0)
{%- endmacro %}

{% macro spark__add_days_to_timestamp(ts, days) -%}
    timestampadd(DAY, {{ days }}, {{ ts }})
{%- endmacro %}
