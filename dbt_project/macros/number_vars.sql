{#
    Typed access to numeric metric settings (vars from the `metrics:` section of
    config/settings.yaml, no defaults in dbt_project.yml). `number_var(name, min_value,
    max_value)` returns the var as a float and fails compilation when it is missing, not a
    number, or outside [min_value, max_value] (either bound may be none). At parse time a
    missing var gives `min_value` (or 0), so a bare `dbt parse` still works.
#}
{% macro number_var(name, min_value=none, max_value=none) -%}
    {%- set raw = var(name) -%}
    {%- if raw is none and not execute -%}{{ return(min_value if min_value is not none else 0) }}{%- endif -%}
    {%- if raw is none or raw is sameas true or raw is sameas false
          or not modules.re.match('^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$', raw | string | trim) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a number, got: " ~ raw) }}
    {%- endif -%}
    {%- set value = raw | string | trim | float -%}
    {%- if (min_value is not none and value < min_value)
          or (max_value is not none and value > max_value) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be between " ~ min_value
            ~ " and " ~ max_value ~ ", got: " ~ raw) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}
