{#
    The last / first non-null value of a window frame: `last_value(x ignore nulls)`.
    IGNORE NULLS is SQL:2011 (DuckDB, Spark / Databricks, Snowflake, BigQuery, Trino);
    an engine without it adds its `<adapter>__` implementation here.
#}
{% macro last_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('last_value_ignore_nulls', 'insights_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__last_value_ignore_nulls(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}

{% macro first_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('first_value_ignore_nulls', 'insights_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__first_value_ignore_nulls(expression) -%}
    first_value({{ expression }} ignore nulls)
{%- endmacro %}

{# Spark / Databricks: IGNORE NULLS is the function's second argument. #}
{% macro spark__last_value_ignore_nulls(expression) -%}
    last_value({{ expression }}, true)
{%- endmacro %}

{% macro spark__first_value_ignore_nulls(expression) -%}
    first_value({{ expression }}, true)
{%- endmacro %}
