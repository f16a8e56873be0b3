{#
    Every non-null value of `column_name` contains a match of the regular expression
    `regex` (anchor it with ^...$ for a whole-value match). Nulls pass. Fails with the
    offending rows. Exported to the Great Expectations mart suites as
    expect_column_values_to_match_regex (data_quality/mart_suites.py). The regex
    function is the engine's own (DuckDB regexp_matches, Postgres ~, else regexp_like).
#}
{% test matches_regex(model, column_name, regex) %}
    {%- set pattern = "'" ~ (regex | replace("'", "''")) ~ "'" -%}
    select *
    from {{ model }}
    where {{ column_name }} is not null
      and not
      {%- if target.type == 'duckdb' %} regexp_matches({{ column_name }}, {{ pattern }})
      {%- elif target.type == 'postgres' %} ({{ column_name }} ~ {{ pattern }})
      {%- else %} regexp_like({{ column_name }}, {{ pattern }})
      {%- endif %}
{% endtest %}
