{# A CTE body that later CTEs read more than once, computed once where the engine would
   otherwise copy it into every reader.

   DuckDB materialises a CTE read more than once. Spark inlines every deterministic CTE at
   each reference (optimizer rule InlineCTE), so a chain in which each CTE is read by the
   next one and by a final union (int_funnel_attempts' reached_k) is planned and computed
   once per path through it: quadratic in the chain's length. A CTE with a
   non-deterministic expression is not inlined (SPARK-36447): it is planned once and its
   result reused (a shuffle read by every reference). The column `_computed_once` is never
   read. Measurements: bench/results/spark_computed_once_session46.md. #}
{% macro computed_once(body) -%}
    {{ return(adapter.dispatch('computed_once', 'insights_warehouse')(body)) }}
{%- endmacro %}

{% macro default__computed_once(body) -%}
    {{ body }}
{%- endmacro %}

{% macro spark__computed_once(body) -%}
    select *, rand() as _computed_once from ({{ body }}) as computed_once
{%- endmacro %}
