{# The 8-byte floating point type (dbt.type_float() is a 4-byte FLOAT on DuckDB). #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'insights_warehouse')()) }}
{%- endmacro %}

{# DOUBLE: DuckDB, Spark / Databricks, Trino, Snowflake. #}
{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro postgres__type_double() -%}
    double precision
{%- endmacro %}
