{#
    Within each `partition_by` group, `column_name` never increases along `order_by`
    (e.g. funnel users per step). Fails with the rows larger than their predecessor.
#}
{% test non_increasing_by_step(model, column_name, partition_by, order_by) %}
    with ordered as (
        select
            {{ partition_by }} as partition_key,
            {{ order_by }} as order_key,
            {{ column_name }} as value,
            lag({{ column_name }}) over (
                partition by {{ partition_by }} order by {{ order_by }}
            ) as previous_value
        from {{ model }}
    )
    select *
    from ordered
    where previous_value is not null and value > previous_value
{% endtest %}
