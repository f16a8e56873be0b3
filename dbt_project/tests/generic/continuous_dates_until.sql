{#
    Per `partition_by`, the dates in `column_name` are distinct, have no gap, and the
    last one is the single value of `end_date_column` (e.g. every creator's series
    runs without holes up to the as-of date). Fails with one row per bad partition.
#}
{% test continuous_dates_until(model, column_name, partition_by, end_date_column) %}
    select
        {{ partition_by }},
        count(*) as n_rows,
        count(distinct {{ column_name }}) as n_dates,
        min({{ column_name }}) as first_date,
        max({{ column_name }}) as last_date,
        min({{ end_date_column }}) as min_end_date,
        max({{ end_date_column }}) as max_end_date
    from {{ model }}
    group by {{ partition_by }}
    having count(*) <> count(distinct {{ column_name }})
        or count(*) <> {{ insights_warehouse.days_between('min(' ~ column_name ~ ')',
                                                         'max(' ~ column_name ~ ')') }} + 1
        or max({{ column_name }}) <> max({{ end_date_column }})
        or min({{ end_date_column }}) <> max({{ end_date_column }})
{% endtest %}
