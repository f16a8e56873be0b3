{#
    For a table holding parts and a total row per `group_by` key (e.g. per date, each
    creator plus creator_id = '__all__'), the total's `column_name` is >= every
    part's. Holds for distinct counts (a union has at least as many members as any
    part) as for sums of non-negative counts. Fails with the offending parts.
#}
{% test total_row_at_least_each_part(model, column_name, group_by, part_column, total_value) %}
    with total_rows as (
        select {{ group_by }} as group_key, {{ column_name }} as total_value
        from {{ model }}
        where {{ part_column }} = '{{ total_value }}'
    )
    select parts.*, total_rows.total_value
    from {{ model }} as parts
    left join total_rows
        on parts.{{ group_by }} = total_rows.group_key
    where parts.{{ part_column }} <> '{{ total_value }}'
      and (total_rows.total_value is null
           or parts.{{ column_name }} > total_rows.total_value)
{% endtest %}
