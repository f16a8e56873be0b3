{#
    Every non-null value of `column_name` is a fraction in [0, 1] (a rate, never a
    percentage). Nulls pass (a rate without a denominator is null). Fails with the
    offending rows. Exported to the Great Expectations mart suites as
    expect_column_values_to_be_between 0 and 1 (data_quality/mart_suites.py).
#}
{% test is_rate(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} is not null
      and ({{ column_name }} < 0 or {{ column_name }} > 1)
{% endtest %}
