{#
    Every non-null value of `column_name` is >= `min_value` and <= `max_value` (either
    bound may be left out). Nulls pass: a column that must be set has its own not_null
    test. Fails with the offending rows. Exported to the Great Expectations mart suites
    as expect_column_values_to_be_between (data_quality/mart_suites.py).
#}
{% test in_range(model, column_name, min_value=none, max_value=none) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("in_range on " ~ column_name ~ ": give min_value, max_value or both") }}
    {%- endif %}
    select *
    from {{ model }}
    where {{ column_name }} is not null
      and (
        {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif -%}
        {%- if min_value is not none and max_value is not none %} or{% endif -%}
        {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
      )
{% endtest %}
