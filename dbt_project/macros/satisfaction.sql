{#-
  Satisfaction, defined once (docs/metrics.md): csat is the share of ratings of 4 or 5,
  mean_rating the mean of the 1..5 ratings. The marts of satisfaction per creator and
  agent, per agent version and per intent aggregate with rating_sums() and divide with
  share().
-#}

{% macro rating_sums(rating='rating') -%}
count({{ rating }}) as ratings,
        avg(cast({{ rating }} as {{ insights_warehouse.type_double() }})) as mean_rating,
        sum(case when {{ rating }} >= 4 then 1 else 0 end) as satisfied_ratings
{%- endmacro %}

{#- numerator / denominator as a double; null when the denominator is 0 -#}
{% macro share(numerator, denominator) -%}
cast(
        case when {{ denominator }} > 0
             then cast({{ numerator }} as {{ insights_warehouse.type_double() }}) / {{ denominator }} end
        as {{ insights_warehouse.type_double() }}
    )
{%- endmacro %}
