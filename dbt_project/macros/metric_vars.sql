{#
    Typed access to the metric settings. The values come only from --vars (the
    orchestration flattens the `metrics:` section of config/settings.yaml into them);
    there are deliberately no defaults in dbt_project.yml, so a missing var fails when
    a model is compiled or run. At parse time dbt hands out none for a missing var; the
    checks below only apply when `execute` is true, so a bare `dbt parse` still works.
#}

{% macro window_days(name) -%}
    {%- set raw = var(name) -%}
    {%- if raw is none and not execute -%}{{ return(1) }}{%- endif -%}
    {%- set days = raw | int(-1) -%}
    {%- if days < 1 or (raw | string | trim) != (days | string) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number of days >= 1, got: " ~ raw) }}
    {%- endif -%}
    {{- return(days) -}}
{%- endmacro %}


{% macro reporting_timezone() -%}
    {%- set raw = var('reporting_timezone') -%}
    {%- if raw is none and not execute -%}{{ return('UTC') }}{%- endif -%}
    {%- set tz = raw | string | trim -%}
    {%- if not modules.re.match('^[A-Za-z0-9_+/-]+$', tz) -%}
        {{ exceptions.raise_compiler_error(
            "var reporting_timezone must be an IANA time zone name, got: " ~ tz) }}
    {%- endif -%}
    {{- return(tz) -}}
{%- endmacro %}


{# The as-of date var as a YYYY-MM-DD string, or none when unset (null / empty). #}
{% macro as_of_date_var() -%}
    {%- set raw = var('as_of_date') -%}
    {%- if raw is none or (raw | string | trim) in ('', 'null', 'None') -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set value = raw | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "var as_of_date must be YYYY-MM-DD or null, got: " ~ raw) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}


{# The date of a UTC timestamp column in the reporting time zone. #}
{% macro reporting_date(ts_column) -%}
    {{ insights_warehouse.to_local_date(ts_column, insights_warehouse.reporting_timezone()) }}
{%- endmacro %}
