{#
    Incremental models over event days: each run replaces a whole range of dates,
    [window start, last day], so rows that disappear (a dropped event, a superseded copy
    that moved a user's activity to another day, a day left without any activity) are
    removed, and an incremental run equals a full refresh.

    Model config:  materialized='incremental', incremental_strategy='replace_date_range',
                   unique_key='<the date column>'
    Model SQL:     set window_start = insights_warehouse.replace_window_start('<date column>')
                   and filter every input on its own date column with
                   insights_warehouse.date_on_or_after('<input date column>', window_start).

    The window start (a YYYY-MM-DD string, or none = rebuild everything):
    - var `incremental_start_date`, or else the environment variable
      INSIGHTS_INCREMENTAL_START_DATE (YYYY-MM-DD), when the orchestration passes one:
      min(export dates loaded in this run) - incremental_lookback_days, the first
      (UTC) day a loaded export day can have changed. The Dagster runs use the
      environment variable: it is read only when the models execute, so a new value
      does not make dbt parse the whole project again (a changed var does);
    - else the latest date already in the target - var `incremental_lookback_days`
      (settings.yaml), which only covers new export days after the loaded ones, not a
      reload of an older export day (pass the var for those);
    and one day earlier in both cases: the reporting time zone's date of an event can be
    the day before its UTC date. Not incremental (first run, --full-refresh): none.
#}

{% macro incremental_window_start(date_column) -%}
    {#- unit tests have no relation (this is none): they test the full build -#}
    {%- if not execute or this is none or not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- set raw = var('incremental_start_date', none) -%}
    {%- if raw is none or (raw | string | trim) in ('', 'null', 'None') -%}
        {%- set raw = env_var('INSIGHTS_INCREMENTAL_START_DATE', '') -%}
    {%- endif -%}
    {%- if raw is not none and (raw | string | trim) not in ('', 'null', 'None') -%}
        {%- set value = raw | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error(
                "incremental_start_date must be YYYY-MM-DD or null, got: " ~ raw) }}
        {%- endif -%}
        {%- set anchor = modules.datetime.date.fromisoformat(value) -%}
        {%- set back = 0 -%}
        {#- the given start is the earliest export day loaded since the last build minus
            the lookback: that export day is where identity changes can come from -#}
        {%- set changed_export = anchor + modules.datetime.timedelta(
            days=insights_warehouse.window_days('incremental_lookback_days')) -%}
    {%- else -%}
        {%- set result = run_query(
            "select cast(max(" ~ date_column ~ ") as " ~ dbt.type_string() ~ ") from " ~ this) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {%- if latest is none -%}{{ return(none) }}{%- endif -%}
        {%- set anchor = insights_warehouse.date_from_text(latest) -%}
        {%- set back = insights_warehouse.window_days('incremental_lookback_days') -%}
        {#- which export days are new is not known here: every one from the start on -#}
        {%- set changed_export = none -%}
    {%- endif -%}
    {#- the reporting-time-zone margin: one more day -#}
    {%- set start = anchor - modules.datetime.timedelta(days=back + 1) -%}
    {{- return(insights_warehouse.identity_window_start(
        start.isoformat(), (changed_export or start).isoformat())) -}}
{%- endmacro %}


{# A date read back from a query as text (YYYY-MM-DD, perhaps with a time after it). #}
{% macro date_from_text(value) -%}
    {{- return(modules.datetime.date.fromisoformat((value | string)[:10])) -}}
{%- endmacro %}


{#
    The window start of a replace_date_range model as both its SQL and the strategy use
    it: incremental_window_start(date column), moved back for a model whose rows depend
    on events from before the date they are filed under, named by its config
    `incremental_window_widen`: 'funnel_attempts' (a funnel attempt reads the events of
    its whole conversion window; macros/funnels.sql funnel_attempts_window_start),
    'sessions' (a session is filed under its first event's date: sessions_window_start),
    'funnel_definitions' (every day again when the funnels' definitions changed:
    macros/funnels.sql funnel_event_days_window_start).
    A model whose rows depend on settings (config `incremental_built_with`: {column:
    value}, the model writing each value into its column) rebuilds every row when a built
    row holds another value: a changed threshold applies to every day, as a full
    refresh would apply it.
    A model whose rows stop at the as-of date (config `incremental_as_of_cut`: true)
    starts its window no later than the day after the as-of date (as_of_window_start),
    before any widening (a session crossing the as-of date loses its later events).
    A widening returns a YYYY-MM-DD string, or none to rebuild every row.
#}
{% macro replace_window_start(date_column) -%}
    {%- set start = insights_warehouse.incremental_window_start(date_column) -%}
    {#- the as-of cut first: a widening then also reaches the rows whose sessions cross
        the as-of date -#}
    {%- if start is not none and config.get('incremental_as_of_cut') -%}
        {%- set start = insights_warehouse.as_of_window_start(start) -%}
    {%- endif -%}
    {%- set widen = config.get('incremental_window_widen') -%}
    {%- if start is not none and widen -%}
        {%- if widen == 'funnel_attempts' -%}
            {%- set start = insights_warehouse.funnel_attempts_window_start(start) -%}
        {%- elif widen == 'sessions' -%}
            {%- set start = insights_warehouse.sessions_window_start(start, date_column) -%}
        {%- elif widen == 'funnel_definitions' -%}
            {%- set start = insights_warehouse.funnel_event_days_window_start(start) -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error("incremental_window_widen: unknown widening " ~ widen) }}
        {%- endif -%}
    {%- endif -%}
    {%- set built_with = config.get('incremental_built_with') -%}
    {%- if start is not none and built_with -%}
        {%- set other = [] -%}
        {%- for column, value in built_with.items() -%}
            {%- do other.append('coalesce(' ~ column ~ ' <> ' ~ value ~ ', true)') -%}
        {%- endfor -%}
        {%- if run_query("select count(*) from " ~ this ~ " where " ~ (other | join(' or ')))
                  .columns[0].values()[0] > 0 -%}
            {%- set start = none -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(start) -}}
{%- endmacro %}


{#
    The window of a model whose rows end at the as-of date (int_as_of_date): when the
    as-of date is earlier than the window (var as_of_date set back), the window starts
    the day after it, so the rows a build with a later as-of date left after it are
    removed, as a full refresh would not have them. None (rebuild every row) when no
    as-of date is known (no event loaded: a full build has no row).
#}
{% macro as_of_window_start(start) -%}
    {%- set relation = insights_warehouse.built_relation('int_as_of_date') -%}
    {%- if relation is none -%}{{ return(start) }}{%- endif -%}
    {%- set values = run_query(
        "select cast(as_of_date as " ~ dbt.type_string() ~ ") from " ~ relation
    ).columns[0].values() -%}
    {%- if not values or values[0] is none -%}{{ return(none) }}{%- endif -%}
    {%- set after = insights_warehouse.date_from_text(values[0])
                    + modules.datetime.timedelta(days=1) -%}
    {{- return([start, after.isoformat()] | min) -}}
{%- endmacro %}


{#
    The window of int_sessions (config incremental_window_widen = 'sessions'): a session
    is filed under the date of its first event (start_date) and summarises all of its
    events, so a changed event on or after `start` changes a session that may have begun
    before it. The window moves back to the earliest start_date of the sessions built
    before that have an event on or after `start`, now (stg_events) or at the last build
    (the reporting date of ended_at: a reload can take events away). A built session
    that starts before the returned day has neither: it is unchanged, and the model
    leaves its events out of the batch (they are only part of it). None when `start` is.
    Any model whose rows each carry a session_id and that session's ended_at (as of the
    model's build) and depend on that session's events alone widens the same way, by its
    own date column (`date_column`: the model's unique_key): every built row of a session
    with such an event is rebuilt. `relation`: another table of such rows than the
    model's own (int_sessions, for the first day of the sessions a window touches).
#}
{% macro sessions_window_start(start, date_column='start_date', relation=none) -%}
    {%- if start is none -%}{{ return(none) }}{%- endif -%}
    {%- set events = insights_warehouse.built_relation('stg_events') -%}
    {%- set first = run_query(
        "select cast(min(" ~ date_column ~ ") as " ~ dbt.type_string() ~ ") from "
        ~ (relation or this)
        ~ " where " ~ date_column ~ " < " ~ insights_warehouse.date_literal(start)
        ~ " and ((" ~ insights_warehouse.events_on_or_after(
                          start, insights_warehouse.reporting_date('ended_at'), 'ended_at')
        ~ ") or session_id in (select session_id from " ~ events ~ " where "
        ~ insights_warehouse.events_on_or_after(start) ~ "))").columns[0].values()[0] -%}
    {%- if first is none -%}{{ return(start) }}{%- endif -%}
    {{- return((first | string)[:10]) -}}
{%- endmacro %}


{#
    The relation of a model of this project, looked up by name in the graph (a ref() in
    a macro would be a dependency of its own); none when it is not built yet.
#}
{% macro built_relation(name) -%}
    {%- set nodes = graph.nodes.values() | selectattr('name', 'equalto', name) | list -%}
    {%- if not nodes -%}{{ return(none) }}{%- endif -%}
    {{- return(adapter.get_relation(
        database=nodes[0].database, schema=nodes[0].schema, identifier=nodes[0].alias)) -}}
{%- endmacro %}


{#
    Identity is retroactive (metrics.md, Identity): an export day loaded now can change
    the resolved user of an older anonymous event (its device signs in later). The window
    start moves back to the earliest event_date of the anonymous events whose resolution
    depends on an export day on or after `changed_export` (int_identity_resolution's
    depends_on_export_date): the earliest export day loaded since the last build when the
    orchestration passes the window (its start + the lookback), else the window start.
    Export days before it were built by an earlier run, which reached back for them; late
    anonymous events of those days (dated up to the lookback before their export day)
    would otherwise move every window back by the lookback once more.
    Not covered: a reload that takes away the event that decided an older anonymous
    event's user (its new decider is an export day built before); `--full-refresh`
    rebuilds it (docs/operations.md). Looked up by name in the graph (a ref() here would
    be a dependency of its own).
#}
{% macro identity_window_start(start, changed_export) -%}
    {%- set relation = insights_warehouse.built_relation('int_identity_resolution') -%}
    {%- if relation is none -%}{{ return(start) }}{%- endif -%}
    {%- set result = run_query(
        "select cast(min(event_date) as " ~ dbt.type_string() ~ ") from " ~ relation
        ~ " where depends_on_export_date >= "
        ~ insights_warehouse.date_literal(changed_export)) -%}
    {%- set earliest = result.columns[0].values()[0] -%}
    {%- if earliest is none or (earliest | string)[:10] >= start -%}{{ return(start) }}{%- endif -%}
    {{- return((earliest | string)[:10]) -}}
{%- endmacro %}


{# `<column> >= start` as SQL (start: a window start or none), `1 = 1` when start is none. #}
{% macro date_on_or_after(column, start) -%}
    {%- if start is none -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ insights_warehouse.date_literal(start) }}
    {%- endif -%}
{%- endmacro %}


{#
    `<date column> >= start` for an event input whose date is the reporting-zone date of
    a UTC timestamp beside it, with the bound on the timestamp that it implies: a local
    date on or after `start` is never more than 14 hours (the largest zone offset) before
    midnight UTC of `start`, so `ts >= start - 1 day` keeps every such event. The bound
    is on a stored column, so DuckDB skips the row groups of older events (their min/max)
    before the time-zone conversion and the identity join of stg_events reach them.
    `1 = 1` when start is none. Not for negation: `not` of it is not "before start".
#}
{% macro events_on_or_after(start, date_column='event_date', ts_column='event_ts') -%}
    {%- if start is none -%}
        1 = 1
    {%- else -%}
        {%- set day_before = modules.datetime.date.fromisoformat(start)
                             - modules.datetime.timedelta(days=1) -%}
        {{ ts_column }} >= cast('{{ day_before.isoformat() }} 00:00:00' as {{ dbt.type_timestamp() }})
        and {{ insights_warehouse.date_on_or_after(date_column, start) }}
    {%- endif -%}
{%- endmacro %}


{# A DATE literal from a YYYY-MM-DD string. #}
{% macro date_literal(value) -%}
    {{ return(adapter.dispatch('date_literal', 'insights_warehouse')(value)) }}
{%- endmacro %}

{% macro default__date_literal(value) -%}
    cast('{{ value }}' as date)
{%- endmacro %}


{#
    Custom incremental strategy `replace_date_range` (dbt looks up
    get_incremental_<strategy>_sql): delete every target row from the window start on
    (unique_key = the date column), then insert the new batch, which holds exactly
    those dates. Unlike delete+insert, which deletes only the dates present in the new
    batch, a date left with no rows at all is emptied too. Dispatched: an engine without
    DELETE (e.g. Spark) implements it as an insert overwrite of the date partitions.
#}
{% macro get_incremental_replace_date_range_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_replace_date_range_sql', 'insights_warehouse')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_replace_date_range_sql(arg_dict) -%}
    {%- set date_column = arg_dict['unique_key'] -%}
    {%- if not date_column or date_column is not string -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_date_range' needs unique_key = the date column (one name)") }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ insights_warehouse.date_on_or_after(
        date_column, insights_warehouse.replace_window_start(date_column)) }};

    insert into {{ target }} ({{ cols }})
    select {{ cols }}
    from {{ source }}
{%- endmacro %}


{#
    Spark / Databricks (Parquet, no DELETE): the model is partitioned by its date column
    (config partition_by, insights_warehouse.date_partition), the batch overwrites the
    date partitions it holds (dynamic partition overwrite), and the partitions from the
    window start on that the batch no longer has (a day left without rows) are dropped
    first, so an incremental run still equals a full refresh.
    The batch is written once into a table of its own (`<model>__dbt_batch`, Parquet)
    which both steps read: dbt-spark's batch is a temporary view, which Spark analyses
    and computes again at each reference (docs/scale_out.md). The overwrite runs here;
    the statement returned, the one dbt runs last, drops the batch table.
#}
{% macro spark__get_incremental_replace_date_range_sql(arg_dict) -%}
    {%- set date_column = arg_dict['unique_key'] -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set batch = target.incorporate(path={'identifier': target.identifier ~ '__dbt_batch'}) -%}
    {%- set start = insights_warehouse.replace_window_start(date_column) -%}
    {%- do run_query('drop table if exists ' ~ batch) -%}
    {%- do run_query('create table ' ~ batch ~ ' using parquet as select * from ' ~ source) -%}
    {%- set stale = run_query(
        "select distinct cast(" ~ date_column ~ " as string) from " ~ target
        ~ " where " ~ insights_warehouse.date_on_or_after(date_column, start)
        ~ " and " ~ date_column ~ " not in (select " ~ date_column ~ " from " ~ batch
        ~ " where " ~ date_column ~ " is not null)") -%}
    {%- for day in stale.columns[0].values() -%}
        {%- if day is not none -%}
        {%- do run_query("alter table " ~ target ~ " drop if exists partition ("
                         ~ date_column ~ " = '" ~ (day | string)[:10] ~ "')") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set cols = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- do run_query('insert overwrite table ' ~ target ~ ' partition (' ~ date_column ~ ') select '
                     ~ cols ~ ' from ' ~ batch) -%}
    drop table if exists {{ batch }}
{%- endmacro %}


{#
    The partitioning of a date-range incremental model: the date column on Spark (the
    replace_date_range strategy overwrites date partitions there), none elsewhere.
    Model config: partition_by=insights_warehouse.date_partition('<date column>').
#}
{% macro date_partition(date_column) -%}
    {{ return(adapter.dispatch('date_partition', 'insights_warehouse')(date_column)) }}
{%- endmacro %}

{% macro default__date_partition(date_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__date_partition(date_column) -%}
    {{ return([date_column]) }}
{%- endmacro %}
