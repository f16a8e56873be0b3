{#
    The 97.5 % quantile of Student's t with `df` degrees of freedom (two-sided 95 %):
    tabulated for df 1..30, 1.96 + 2.5 / df above (within 0.002 of the exact value at
    df 40, 60, 120). Plain CASE: portable to every engine.
#}
{% macro t_critical_975(df) -%}
    {%- set table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                     2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                     2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042] -%}
    case
        {%- for value in table %}
        when ({{ df }}) = {{ loop.index }} then {{ value }}
        {%- endfor %}
        when ({{ df }}) > 30 then 1.96 + 2.5 / ({{ df }})
    end
{%- endmacro %}
