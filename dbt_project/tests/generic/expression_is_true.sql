{#
    Every row satisfies the boolean SQL `expression` (rows where it is null fail too,
    unless the expression handles nulls). Fails with the offending rows. Usable on a
    model or a column (the column is only where the test is listed; `expression` says
    what is checked).
#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
