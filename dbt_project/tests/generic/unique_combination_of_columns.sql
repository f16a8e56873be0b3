{#
    The combination of `combination_of_columns` is unique over the model (or over
    the rows kept by the test's `config: where:`). Fails with one row per duplicate.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
    select {{ columns }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
