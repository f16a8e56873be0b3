{#
    The JSON object `json_expr` with only its top-level keys listed in `keys` (literal
    identifiers); the other keys are dropped, values are kept as they are (nested values
    included). Null, or not an object: null. marts.events publishes `data` this way, so
    free text (a message, a comment) and keys nobody vetted never leave the raw layer.
#}
{% macro json_keep_keys(json_expr, keys) -%}
    {%- for key in keys -%}
        {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', key | string) -%}
            {{ exceptions.raise_compiler_error("not a JSON key name: " ~ key) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(adapter.dispatch('json_keep_keys', 'insights_warehouse')(json_expr, keys)) }}
{%- endmacro %}

{% macro json_key_list(keys) -%}
    {%- for key in keys -%}'{{ key }}'{{ ', ' if not loop.last }}{%- endfor -%}
    {%- if not keys -%}''{%- endif -%}
{%- endmacro %}

{# DuckDB: the object as a MAP(key, JSON), its entries filtered, back to JSON. #}
{% macro duckdb__json_keep_keys(json_expr, keys) -%}
    case
        when json_type({{ json_expr }}) = 'OBJECT' then to_json(map_from_entries(list_filter(
            map_entries(json_transform({{ json_expr }}, '"MAP(VARCHAR, JSON)"')),
            lambda entry: entry.key in ({{ insights_warehouse.json_key_list(keys) }}))))
    end
{%- endmacro %}

{# Spark 4 / Databricks: a map of the object's values as VARIANT (numbers, booleans and
   nested values keep their JSON type), filtered (map_filter), back to JSON. #}
{% macro spark__json_keep_keys(json_expr, keys) -%}
    to_json(map_filter(
        from_json({{ json_expr }}, 'map<string,variant>'),
        (k, v) -> k in ({{ insights_warehouse.json_key_list(keys) }})))
{%- endmacro %}

{# Postgres-style engines: jsonb minus every key not listed. #}
{% macro default__json_keep_keys(json_expr, keys) -%}
    (select jsonb_object_agg(entry.key, entry.value)
     from jsonb_each(cast({{ json_expr }} as jsonb)) as entry
     where entry.key in ({{ insights_warehouse.json_key_list(keys) }}))
{%- endmacro %}
