{#
    The per-row SQL `expression` (window functions allowed, e.g. a value minus the
    same value recomputed, or minus its first value in a partition) is within
    `tolerance` of 0 (default 0: equal to 0) on every row where it is not null. Turns an
    invariant that spans columns or rows into a per-row check: `stickiness - dau /
    nullif(mau, 0)`, `cohort_size - first_value(cohort_size) over (...)`. The Great
    Expectations mart suites compute the same expression as the column `computed_column`
    of their frame and expect it between -tolerance and tolerance
    (data_quality/mart_suites.py). Fails with the offending rows. A `where` config
    would filter rows before the windows are computed: the GX suites refuse one.
#}
{% test expression_near_zero(model, expression, computed_column, tolerance=0) %}
    with computed as (
        select *, {{ expression }} as {{ computed_column }}
        from {{ model }}
    )
    select *
    from computed
    where {{ computed_column }} is not null
      and abs({{ computed_column }}) > {{ tolerance }}
{% endtest %}
