{#
    Models built in batches of users (DuckDB). A model whose rows each come from one
    user's events alone (window scans partitioned by user) can be computed for a share
    of the users at a time: its window scans then hold one batch's events, not the
    table's. One statement over every user holds all of them, and DuckDB's sorts grow
    faster than the data: int_funnel_attempts at 10M events took 67 s and 12.8 GB in
    one statement, 45 s and 3.0 GB in four batches; at 50M it spilled 37 GB
    (bench/README.md, "Building in batches of users").

    The model asks for its batch count (user_batch_count: its input's rows over var
    `duckdb_batch_events`) and filters its users with user_batch_filter. With more than
    one batch the filter names the count in a comment, and the table build
    (duckdb__create_table_as below) runs the model's SQL once per batch, selected by the
    DuckDB variable insights_user_batch. Run alone (dbt show, the compiled SQL in a
    client) the variable is unset and the SQL returns every user's rows.

    The model reads its input through user_batch_source: with many batches the build
    first copies the input's rows (where the model's row filter holds) into a
    table ordered by batch, and each batch reads its own slice of it (the table's zone
    maps skip the others' row groups). Without it every batch scans the whole input, a
    view with a join, before its user filter applies: at 50M events 19 scans of 47M
    events (session 52 put them at about half of the model's 776 s). The copy's batch
    column is hash(user_id) % batches, user_batch_filter's expression on the user id.
#}

{#
    The number of batches for a model whose input is `relation` where `where` holds:
    ceil(rows / var duckdb_batch_events); 1 when that var is null, at parse time, in unit
    tests (no relation), or on Spark, which spills its shuffles on its own.
#}
{% macro user_batch_count(relation, where) -%}
    {{ return(adapter.dispatch('user_batch_count', 'insights_warehouse')(relation, where)) }}
{%- endmacro %}

{% macro default__user_batch_count(relation, where) -%}
    {%- set per_batch = var('duckdb_batch_events', none) -%}
    {%- if not execute or this is none or per_batch is none -%}{{ return(1) }}{%- endif -%}
    {%- set rows = run_query("select count(*) from " ~ relation ~ " where " ~ where).columns[0].values()[0] -%}
    {{ return([1, ((rows + (per_batch | int) - 1) // (per_batch | int)) | int] | max) }}
{%- endmacro %}

{% macro spark__user_batch_count(relation, where) -%}
    {{ return(1) }}
{%- endmacro %}


{#
    The predicate that keeps one batch's users (`column`: the user id). Every CTE of the
    model that reads a user's rows applies it, so a batch's rows are exactly its users'.
#}
{% macro user_batch_filter(column, batches) -%}
    {{ return(adapter.dispatch('user_batch_filter', 'insights_warehouse')(column, batches)) }}
{%- endmacro %}

{% macro default__user_batch_filter(column, batches) -%}
    {%- if batches <= 1 -%}
        1 = 1
    {%- else -%}
        /* insights_user_batches={{ batches }} */ (getvariable('insights_user_batch') is null
        or hash({{ column }}) % {{ batches }} = getvariable('insights_user_batch'))
    {%- endif -%}
{%- endmacro %}

{% macro spark__user_batch_filter(column, batches) -%}
    1 = 1
{%- endmacro %}


{#
    The relation a batched model reads its users' rows from (`relation` where `where`
    holds; the model applies both itself as well, so run alone it reads `relation`). On
    DuckDB with at least `copy_from` batches: the relation named by the DuckDB variable
    insights_user_batch_input (the current batch's slice, set by the table build below)
    or, unset, `relation`; the comment tells the build what to copy. With fewer batches
    each batch reads `relation`: the copy costs about one read and a sort, and saves a
    read per batch after the first, which at 10M events paid from about six batches
    (int_funnel_attempts' full build: 4 batches 33-37 s read each time, 39 s copied; 20
    batches 50-63 s against 35-41 s; bench/results/issue23_session53.md).
#}
{% macro user_batch_source(relation, where, batches, copy_from=6) -%}
    {{ return(adapter.dispatch('user_batch_source', 'insights_warehouse')(relation, where, batches, copy_from)) }}
{%- endmacro %}

{% macro default__user_batch_source(relation, where, batches, copy_from) -%}
    {%- if batches < [copy_from, 2] | max -%}
        {{ relation }}
    {%- else -%}
        {%- if '*/' in (relation | string) ~ where %}
            {{ exceptions.raise_compiler_error('user_batch_source: "*/" in ' ~ relation ~ ' where ' ~ where) }}
        {%- endif -%}
        query_table(coalesce(getvariable('insights_user_batch_input'),
                             '{{ relation | string | replace("'", "''") }}'))
        /* insights_user_batch_input={{ relation }} where {{ where }} */
    {%- endif -%}
{%- endmacro %}

{% macro spark__user_batch_source(relation, where, batches, copy_from) -%}
    {{ relation }}
{%- endmacro %}


{#
    dbt-duckdb's create_table_as (the root project's macro comes first in dbt's
    dispatch), once per batch for a model whose SQL names its batch count: the table is
    created from batch 0 and every other batch is inserted, in one statement string.
    For an incremental run the table is the run's batch (a temporary table), complete
    before the strategy deletes a row, so every batch reads the target as it was.
    A model that reads through user_batch_source: its input (the columns its SQL names)
    is first copied into a table beside the model, ordered by batch
    (`<model>__user_batch_input`), a temporary view of it keeps the current batch's
    rows, and the variable insights_user_batch_input names that view while the batches
    run; both are dropped at the end.
    Any other model: dbt-duckdb's statement unchanged.
#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set create = dbt.duckdb__create_table_as(
            temporary, relation, compiled_code, language, partitioned_by, sorted_by) -%}
    {%- set found = modules.re.search('/\\* insights_user_batches=([0-9]+) \\*/', compiled_code)
                    if language == 'sql' else none -%}
    {%- if found is none -%}{{ return(create) }}{%- endif -%}
    {%- set target = relation.include(database=(not temporary), schema=(not temporary)) -%}
    {%- set batches = found.group(1) | int -%}
    {%- set source = modules.re.search('/\\* insights_user_batch_input=(.*?) where (.*?) \\*/',
                                       compiled_code, modules.re.S) -%}
    {%- if source is not none -%}
    {#- a table of the model's schema, not a temporary one: written compressed to the
        database file as it is inserted, so at 50M events it does not sit in memory #}
    {%- set input = this.incorporate(path={'identifier': this.identifier ~ '__user_batch_input'}) -%}
    {%- set slice = adapter.quote(relation.identifier ~ '__user_batch_slice') -%}
    {#- only the input's columns the model's SQL names (a word of it): the copy is the
        build's largest write #}
    {%- set named = [] -%}
    {%- for column in run_query('describe select * from ' ~ source.group(1)).columns[0].values() -%}
    {%- if modules.re.search('\\b' ~ modules.re.escape(column) ~ '\\b', compiled_code, modules.re.I) -%}
    {%- do named.append(adapter.quote(column)) -%}
    {%- endif -%}
    {%- endfor -%}
    create or replace table {{ input }} as
    select {{ named | join(', ') }}, hash(user_id) % {{ batches }} as insights_user_batch
    from {{ source.group(1) }}
    where {{ source.group(2) }}
    order by insights_user_batch;
    create or replace temporary view {{ slice }} as
    select * exclude (insights_user_batch)
    from {{ input }}
    where insights_user_batch = getvariable('insights_user_batch');
    set variable insights_user_batch_input = '{{ slice | replace("'", "''") }}';
    {% endif -%}
    set variable insights_user_batch = 0;
    {{ create | trim }}
    {%- if not (create | trim).endswith(';') %};{% endif %}
    {%- for batch in range(1, batches) %}
    set variable insights_user_batch = {{ batch }};
    insert into {{ target }} by name
    select * from (
        {{ compiled_code }}
    ) as user_batch;
    {%- endfor %}
    {%- if source is not none %}
    reset variable insights_user_batch_input;
    drop view {{ slice }};
    drop table {{ input }};
    {%- endif %}
    reset variable insights_user_batch
{%- endmacro %}
