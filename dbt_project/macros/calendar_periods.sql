{#
    Every calendar period (one row per grain and period: its start and last day) that
    holds a day of the CTE `day_cte` (column date_day, e.g. a date_spine), for each grain
    of `grains` (day; ISO week starting Monday; month; reporting time zone dates).
    The grain column is named `grain_column`.
#}
{% macro calendar_periods(grains, day_cte='calendar_days', grain_column='period_grain') -%}
    {%- for grain in grains %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select distinct
        cast('{{ grain }}' as {{ dbt.type_string() }}) as {{ grain_column }},
        {{ insights_warehouse.period_start('date_day', grain) }} as period_start,
        {{ insights_warehouse.add_days(
            insights_warehouse.add_periods(insights_warehouse.period_start('date_day', grain), grain, 1),
            -1) }} as period_end
    from {{ day_cte }}
    {%- endfor %}
{%- endmacro %}
