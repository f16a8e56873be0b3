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

{# DuckDB: a merge patch that deletes the keys not listed (each named by its own JSON
   text, so any key is escaped right): json_merge_patch keeps the other keys in their
   order, values as they are, and drops every copy of a repeated key. About 40 % cheaper
   than rebuilding the object as a filtered MAP (the events mart's main cost), and a
   repeated key no longer nulls the whole object (a MAP refuses duplicate keys). #}
{% macro duckdb__json_keep_keys(json_expr, keys) -%}
    case
        when json_type({{ json_expr }}) = 'OBJECT' then json_merge_patch({{ json_expr }},
            '{' || array_to_string(list_transform(
                list_filter(json_keys({{ json_expr }}),
                            lambda k: not list_contains([{{ insights_warehouse.json_key_list(keys) }}], k)),
                lambda k: to_json(k) || ':null'), ',') || '}')
    end
{%- endmacro %}

{# Spark 4 / Databricks: the object parsed twice, as a map of VARIANT (for each value's
   JSON type) and as a map of STRING (Jackson's text of a number or a nested value), and
   written back key by key. Numbers and nested values take the STRING map's text, which
   prints floats as DuckDB does (1.0 stays 1.0: VARIANT would turn it into the decimal 1);
   strings, booleans and null take to_json of the VARIANT (quoted and escaped). Keys need
   no escaping (json_keep_keys admits identifiers only). Differs from DuckDB's text only
   for floats Java prints in E notation (below 1e-3 or from 1e7 on: 1.0E7 vs 10000000.0). #}
{% macro spark__json_keep_keys(json_expr, keys) -%}
    {%- set as_variant = "from_json(" ~ json_expr ~ ", 'map<string,variant>')" -%}
    {%- set as_text = "from_json(" ~ json_expr ~ ", 'map<string,string>')" -%}
    case when {{ as_variant }} is not null then concat('{', array_join(transform(
        filter(map_keys({{ as_variant }}), k -> k in ({{ insights_warehouse.json_key_list(keys) }})),
        k -> concat('"', k, '":', case
            when schema_of_variant({{ as_variant }}[k]) in ('STRING', 'BOOLEAN', 'VOID')
                then to_json({{ as_variant }}[k])
            else {{ as_text }}[k]
        end)), ','), '}') end
{%- endmacro %}

{# Postgres-style engines: jsonb minus every key not listed. #}
{% macro default__json_keep_keys(json_expr, keys) -%}
    (select jsonb_object_agg(entry.key, entry.value)
     from jsonb_each(cast({{ json_expr }} as jsonb)) as entry
     where entry.key in ({{ insights_warehouse.json_key_list(keys) }}))
{%- endmacro %}
