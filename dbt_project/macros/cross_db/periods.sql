{#
    Calendar periods of the lifecycle and retention marts: `grain` is a literal,
    'day', 'week' (ISO: weeks start on Monday) or 'month'. Dates are DATE values in the
    reporting time zone already (e.g. stg_events.event_date), so no zone handling here.
#}

{% macro check_period_grain(grain) -%}
    {%- if grain not in ('day', 'week', 'month') -%}
        {{ exceptions.raise_compiler_error(
            "period grain must be day, week or month, got: " ~ grain) }}
    {%- endif -%}
{%- endmacro %}


{# The first day (DATE) of the `grain` period holding `date_expr`; weeks start on Monday. #}
{% macro period_start(date_expr, grain) -%}
    {{- insights_warehouse.check_period_grain(grain) -}}
    {{ return(adapter.dispatch('period_start', 'insights_warehouse')(date_expr, grain)) }}
{%- endmacro %}

{# date_trunc('week') is ISO (Monday) on DuckDB, PostgreSQL, Spark/Databricks, Trino and
   Snowflake (WEEK_START 0). #}
{% macro default__period_start(date_expr, grain) -%}
    {%- if grain == 'day' -%}
    cast({{ date_expr }} as date)
    {%- else -%}
    cast({{ dbt.date_trunc(grain, 'cast(' ~ date_expr ~ ' as date)') }} as date)
    {%- endif -%}
{%- endmacro %}

{# BigQuery: `week` starts on Sunday there; `isoweek` on Monday. #}
{% macro bigquery__period_start(date_expr, grain) -%}
    {%- if grain == 'day' -%}
    cast({{ date_expr }} as date)
    {%- else -%}
    date_trunc(cast({{ date_expr }} as date), {{ 'isoweek' if grain == 'week' else 'month' }})
    {%- endif -%}
{%- endmacro %}


{# The period start `n` (integer expression, may be negative) periods after the period
   start `start_expr`, as a DATE. Exact only on period starts (months vary in length). #}
{% macro add_periods(start_expr, grain, n) -%}
    {{- insights_warehouse.check_period_grain(grain) -}}
    {{ return(adapter.dispatch('add_periods', 'insights_warehouse')(start_expr, grain, n)) }}
{%- endmacro %}

{% macro default__add_periods(start_expr, grain, n) -%}
    {%- if grain == 'day' -%}
    {{ insights_warehouse.add_days(start_expr, n) }}
    {%- elif grain == 'week' -%}
    {{ insights_warehouse.add_days(start_expr, '7 * (' ~ n ~ ')') }}
    {%- else -%}
    cast({{ dbt.dateadd('month', n, start_expr) }} as date)
    {%- endif -%}
{%- endmacro %}


{# Whole periods from period start `start_expr` to period start `end_expr` (end - start),
   an integer; both must be starts of `grain` periods. #}
{% macro periods_between(start_expr, end_expr, grain) -%}
    {{- insights_warehouse.check_period_grain(grain) -}}
    {{ return(adapter.dispatch('periods_between', 'insights_warehouse')(start_expr, end_expr, grain)) }}
{%- endmacro %}

{% macro default__periods_between(start_expr, end_expr, grain) -%}
    {%- if grain == 'day' -%}
    cast({{ insights_warehouse.days_between(start_expr, end_expr) }} as integer)
    {%- elif grain == 'week' -%}
    cast(floor({{ insights_warehouse.days_between(start_expr, end_expr) }} / 7.0) as integer)
    {%- else -%}
    cast((extract(year from {{ end_expr }}) - extract(year from {{ start_expr }})) * 12
         + extract(month from {{ end_expr }}) - extract(month from {{ start_expr }}) as integer)
    {%- endif -%}
{%- endmacro %}


{# Spark / Databricks: date_add for days and weeks, add_months for months (dbt's
   dateadd goes through timestamps and gave nulls on DATE arguments). #}
{% macro spark__add_periods(start_expr, grain, n) -%}
    {%- if grain == 'month' -%}
    add_months(cast({{ start_expr }} as date), cast({{ n }} as int))
    {%- else -%}
    {{ insights_warehouse.default__add_periods(start_expr, grain, n) }}
    {%- endif -%}
{%- endmacro %}
