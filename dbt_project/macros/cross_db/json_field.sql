{#
    The text of the top-level key `key` (a literal identifier) of the JSON column
    `json_expr`, or null when absent (selectors' `data.<key>` filters). Numbers and
    booleans come back as their JSON text ('3', 'true').
#}
{% macro json_field_text(json_expr, key) -%}
    {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', key | string) -%}
        {{ exceptions.raise_compiler_error("not a JSON key name: " ~ key) }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_field_text', 'insights_warehouse')(json_expr, key)) }}
{%- endmacro %}

{# DuckDB (json extension), MySQL-style engines: json_extract_string; the portable
   default is JSON_VALUE (SQL:2016: Trino, Snowflake via override, BigQuery, Spark 4). #}
{% macro default__json_field_text(json_expr, key) -%}
    json_value({{ json_expr }}, '$.{{ key }}')
{%- endmacro %}

{% macro duckdb__json_field_text(json_expr, key) -%}
    json_extract_string({{ json_expr }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_field_text(json_expr, key) -%}
    (cast({{ json_expr }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{% macro spark__json_field_text(json_expr, key) -%}
    get_json_object({{ json_expr }}, '$.{{ key }}')
{%- endmacro %}
