{#
    The value of `value` on the row of a group with the smallest (first_by) or largest
    (last_by) `order_by` (a list of expressions, compared in order: end with a unique one,
    such as event_id, so the row is one), among the rows where `where` holds (a SQL
    condition; none: every row). The value is taken as it is on that row, null included.
    One aggregate instead of a row_number() window and a join back: the same row, without
    sorting each group.
#}
{% macro first_by(value, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_by', 'insights_warehouse')(value, order_by, where, 'min')) }}
{%- endmacro %}

{% macro last_by(value, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_by', 'insights_warehouse')(value, order_by, where, 'max')) }}
{%- endmacro %}

{%- macro _first_by_filter(where) -%}
    {%- if where is not none %} filter (where {{ where }}){% endif -%}
{%- endmacro %}

{# Postgres-style engines: the first element of the ordered array. #}
{% macro default__first_by(value, order_by, where, which) -%}
    {%- set direction = 'asc' if which == 'min' else 'desc' -%}
    (array_agg({{ value }} order by {% for e in order_by %}{{ e }} {{ direction }}{{ ', ' if not loop.last }}{% endfor %}){{ insights_warehouse._first_by_filter(where) }})[1]
{%- endmacro %}

{# DuckDB: arg_min_null / arg_max_null keep a null value (arg_min would skip that row). #}
{% macro duckdb__first_by(value, order_by, where, which) -%}
    arg_{{ which }}_null({{ value }}, row({{ order_by | join(', ') }})){{ insights_warehouse._first_by_filter(where) }}
{%- endmacro %}

{# Spark / Databricks: min_by / max_by over a struct (compared field by field). #}
{% macro spark__first_by(value, order_by, where, which) -%}
    {{ which }}_by({{ value }}, struct({{ order_by | join(', ') }})){{ insights_warehouse._first_by_filter(where) }}
{%- endmacro %}
