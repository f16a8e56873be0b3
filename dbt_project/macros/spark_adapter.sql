{#
    dbt-spark's incremental materialization accepts only its own strategies (append,
    merge, insert_overwrite, microbatch). These two overrides of its (non-dispatched)
    macros let it also run the project's custom strategy `replace_date_range`
    (macros/incremental_window.sql, spark__get_incremental_replace_date_range_sql) and
    hand everything else back to dbt-spark. Used only on the spark target.
#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy == 'replace_date_range' -%}
        {%- do return(raw_strategy) -%}
    {%- endif -%}
    {%- do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) -%}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy == 'replace_date_range' -%}
        {%- if not config.get('partition_by') -%}
            {{ exceptions.raise_compiler_error(
                "replace_date_range on Spark needs partition_by = insights_warehouse.date_partition('<date column>')") }}
        {%- endif -%}
        {%- do run_query("set spark.sql.sources.partitionOverwriteMode = DYNAMIC") -%}
        {{ insights_warehouse.get_incremental_replace_date_range_sql({
            'unique_key': unique_key, 'target_relation': target, 'temp_relation': source,
            'dest_columns': adapter.get_columns_in_relation(target)}) }}
    {%- else -%}
        {{ dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- endif -%}
{%- endmacro %}


{#
    Column comments (persist_docs): a Hive metastore keeps at most 256 characters of a
    column's comment (COLUMNS_V2.COMMENT); longer descriptions are cut there instead of
    failing the CREATE TABLE. Overrides dbt-spark's non-dispatched macro.
#}
{% macro get_column_comment_sql(column_name, column_dict) -%}
  {%- set column_comment_clause = '' -%}
  {%- if column_name in column_dict and column_dict[column_name]["description"] -%}
    {%- set text = column_dict[column_name]["description"] | replace("\n", " ") -%}
    {%- set text = text[:250] if text | length > 250 else text -%}
    {%- set column_comment_clause = "comment '" ~ (text | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'" -%}
  {%- endif -%}
  {{ adapter.quote(column_name) }} {{ column_comment_clause }}
{%- endmacro %}


{#
    Contract types on Spark: a `json` column (marts.events.data, JSON on DuckDB) is JSON
    text in a STRING there. dbt checks contracts by casting null to every declared type
    (get_empty_schema_sql -> dbt.cast), so `json` is mapped to string for Spark.
#}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ 'string' if (type | string | trim | lower) == 'json' else type }})
{%- endmacro %}
