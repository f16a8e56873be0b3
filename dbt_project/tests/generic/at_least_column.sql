{#
    On every row where both are set, `column_name` >= `other_column` (e.g. wau >= dau,
    attempts >= correct_attempts). Nulls pass: a column that must be set has its own
    not_null test. Fails with the offending rows. Exported to the Great Expectations
    mart suites as expect_column_pair_values_a_to_be_greater_than_b, or_equal
    (data_quality/mart_suites.py).
#}
{% test at_least_column(model, column_name, other_column) %}
    select *
    from {{ model }}
    where {{ column_name }} is not null
      and {{ other_column }} is not null
      and {{ column_name }} < {{ other_column }}
{% endtest %}
