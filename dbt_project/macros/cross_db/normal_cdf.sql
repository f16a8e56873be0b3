{#
    The standard normal cumulative distribution function Phi(z) of a SQL expression, as
    a DOUBLE. Engines with an erf function may add `<adapter>__normal_cdf`; the default
    (DuckDB included: it has no erf) is the Abramowitz & Stegun 7.1.26 approximation of
    erf (absolute error < 1.5e-7), from exp, abs and sqrt only.
#}
{% macro normal_cdf(z) -%}
    {{ return(adapter.dispatch('normal_cdf', 'insights_warehouse')(z)) }}
{%- endmacro %}

{% macro default__normal_cdf(z) -%}
    {%- set x = '(abs(cast(' ~ z ~ ' as ' ~ insights_warehouse.type_double() ~ ')) / sqrt(2.0))' -%}
    {%- set t = '(1.0 / (1.0 + 0.3275911 * ' ~ x ~ '))' -%}
    {%- set erf_abs -%}
        (1.0 - (((((1.061405429 * {{ t }} - 1.453152027) * {{ t }}) + 1.421413741) * {{ t }}
                 - 0.284496736) * {{ t }} + 0.254829592) * {{ t }} * exp(-{{ x }} * {{ x }}))
    {%- endset -%}
    (case
        when ({{ z }}) is null then null
        when ({{ z }}) >= 0 then 0.5 * (1.0 + {{ erf_abs }})
        else 0.5 * (1.0 - {{ erf_abs }})
    end)
{%- endmacro %}


{#
    Upper tail P(X >= x) of a chi-square distribution with `df` degrees of freedom (both
    SQL expressions). Exact for df = 1 (2 (1 - Phi(sqrt x))) and df = 2 (exp(-x/2));
    Wilson-Hilferty approximation through normal_cdf for df >= 3. Null for df < 1.
#}
{% macro chi_square_sf(x, df) -%}
    (case
        when ({{ x }}) is null or ({{ df }}) is null or ({{ df }}) < 1 then null
        when ({{ x }}) <= 0 then 1.0
        when ({{ df }}) = 1 then
            2.0 * (1.0 - {{ insights_warehouse.normal_cdf('sqrt(' ~ x ~ ')') }})
        when ({{ df }}) = 2 then exp(-({{ x }}) / 2.0)
        else 1.0 - {{ insights_warehouse.normal_cdf(
            '(power((' ~ x ~ ') / (' ~ df ~ '), 1.0 / 3.0) - (1.0 - 2.0 / (9.0 * (' ~ df ~ '))))'
            ~ ' / sqrt(2.0 / (9.0 * (' ~ df ~ ')))') }}
    end)
{%- endmacro %}
