{#
    `dbt run-operation register_raw_tables --args '{path: <folder>, tables: {raw.events: true, ...}}'`:
    registers the Parquet export of `insights export-raw` (serving/raw_export.py) as the
    tables of the dbt sources, on engines that read files in place (Spark, Databricks).
    `path` is the export folder as the engine sees it (a local path, hdfs://, s3a://...);
    `tables` maps `schema.table` to whether it is partitioned by export_date (default:
    every source, partitioned, except schema ml). Each table is external: it is dropped
    and created again over its folder (the schema follows the files) and its partitions
    are discovered, so a later export's new or removed days show at once.
#}
{% macro register_raw_tables(path, tables=none) -%}
    {{ return(adapter.dispatch('register_raw_tables', 'insights_warehouse')(path, tables)) }}
{%- endmacro %}

{% macro default__register_raw_tables(path, tables=none) -%}
    {{ exceptions.raise_compiler_error(
        "register_raw_tables: no implementation for " ~ target.type
        ~ " (DuckDB reads the raw tables from the warehouse itself)") }}
{%- endmacro %}

{% macro spark__register_raw_tables(path, tables=none) -%}
    {%- set base = path | string | trim -%}
    {%- if base.endswith('/') -%}{%- set base = base[:-1] -%}{%- endif -%}
    {%- set registered = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set key = source.schema ~ '.' ~ source.name -%}
        {%- if tables is none -%}
            {%- set partitioned = source.schema != 'ml' -%}
        {%- elif key in tables -%}
            {%- set partitioned = tables[key] -%}
        {%- else -%}
            {%- continue -%}
        {%- endif -%}
        {%- set location = base ~ '/' ~ source.schema ~ '/' ~ source.name -%}
        {%- do run_query("create schema if not exists " ~ source.schema) -%}
        {%- do run_query("drop table if exists " ~ key) -%}
        {#- the schema and the partitioning (export_date=... folders) are inferred -#}
        {%- do run_query("create table " ~ key ~ " using parquet location '" ~ location ~ "'") -%}
        {%- if partitioned -%}
            {%- do run_query("alter table " ~ key ~ " recover partitions") -%}
        {%- endif -%}
        {%- do registered.append(key) -%}
    {%- endfor -%}
    {%- do log("registered " ~ registered | length ~ " tables: " ~ registered | join(', '), info=true) -%}
{%- endmacro %}
