{#
    Models land in exactly the schema they configure (`staging`, `intermediate`,
    `marts`), without dbt's default `<target schema>_` prefix; models without a custom
    schema use the target schema (`main`).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
