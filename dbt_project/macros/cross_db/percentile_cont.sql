{#
    The continuous (interpolated) percentile `fraction` (a literal in [0, 1], e.g. 0.5
    for the median) of the numeric `column` over the rows of the group, as an aggregate
    expression. Nulls are ignored; null when the group has no non-null value.
#}
{% macro percentile_cont(column, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'insights_warehouse')(column, fraction)) }}
{%- endmacro %}

{# SQL standard ordered-set aggregate (PostgreSQL, Snowflake, Trino-compatible engines). #}
{% macro default__percentile_cont(column, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}

{# DuckDB: quantile_cont interpolates like percentile_cont. #}
{% macro duckdb__percentile_cont(column, fraction) -%}
    quantile_cont({{ column }}, {{ fraction }})
{%- endmacro %}

{# Spark / Databricks: percentile (exact, interpolated). #}
{% macro spark__percentile_cont(column, fraction) -%}
    percentile({{ column }}, {{ fraction }})
{%- endmacro %}
