{#
    Raw tables keep every valid copy of a key; `flag_column` marks the one that
    counts. Every key must have exactly one flagged copy: none would silently drop
    the key from staging, two would double count it. Fails with the bad keys.
#}
{% test exactly_one_current_copy(model, key_columns, flag_column='is_current') %}
    {%- set keys = key_columns | join(', ') -%}
    select {{ keys }},
           count(*) as copies,
           sum(case when {{ flag_column }} then 1 else 0 end) as current_copies
    from {{ model }}
    group by {{ keys }}
    having sum(case when {{ flag_column }} then 1 else 0 end) <> 1
{% endtest %}
