{#
    Typed access to the learning settings (config/settings.yaml `metrics:` section, passed
    as --vars; no defaults in dbt_project.yml). Like metric_vars.sql, the checks only
    apply when `execute` is true, so a bare `dbt parse` works without vars.
#}

{#
    A default Bayesian Knowledge Tracing parameter, var `bkt_<name>` (name: p_init,
    p_transit, p_guess, p_slip), as a float. p_init and p_transit must lie in [0, 1];
    p_guess and p_slip in (0, 1), which keeps both posterior denominators above zero.
#}
{% macro bkt_default_param(name) -%}
    {%- set allowed = ['p_init', 'p_transit', 'p_guess', 'p_slip'] -%}
    {%- if name not in allowed -%}
        {{ exceptions.raise_compiler_error("unknown BKT parameter: " ~ name) }}
    {%- endif -%}
    {%- set raw = var('bkt_' ~ name) -%}
    {%- if raw is none and not execute -%}{{ return(0.5) }}{%- endif -%}
    {%- set value = raw | float(-1.0) -%}
    {%- set open_interval = name in ['p_guess', 'p_slip'] -%}
    {%- if raw is none or (raw | string | trim) == ''
           or value < 0 or value > 1
           or (open_interval and (value <= 0 or value >= 1))
           or (value == -1.0) -%}
        {{ exceptions.raise_compiler_error(
            "var bkt_" ~ name ~ " must be a probability"
            ~ (" strictly between 0 and 1" if open_interval else " in [0, 1]")
            ~ ", got: " ~ raw) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}


{# var streak_grace_days: whole days (>= 0) a streak stays current after its last day. #}
{% macro streak_grace_days_var() -%}
    {%- set raw = var('streak_grace_days') -%}
    {%- if raw is none and not execute -%}{{ return(1) }}{%- endif -%}
    {%- set days = raw | int(-1) -%}
    {%- if days < 0 or (raw | string | trim) != (days | string) -%}
        {{ exceptions.raise_compiler_error(
            "var streak_grace_days must be a whole number of days >= 0, got: " ~ raw) }}
    {%- endif -%}
    {{- return(days) -}}
{%- endmacro %}
