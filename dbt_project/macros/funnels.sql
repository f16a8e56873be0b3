{#
    Funnels come from configuration (var `funnels`, the `metrics.funnels` list of
    config/settings.yaml, typed in warehouse/settings.py `Funnel`), never from SQL.
    The var form of one funnel (Settings.dbt_vars; keys with their default left out):

        {name: f,
         steps: [{name: s, event_type: t, filters: {col: value}}      # version 1 shorthand
                 | {name: s, selector: <selector>}],                   # any selector
         order: ordered | strict | any,                                # default ordered
         window: {days|hours|minutes: n} | session,                    # default var conversion_window_days
         exclusions: [{selector: <selector>, between: [k, k+1]}],
         hold_constant: [field],
         breakdowns: [{field: f, attribution: first_touch|last_touch|step_k, step: k}],
         trend_grains: [day, week]}                                    # default both

    `funnel_definitions()` validates the var and returns it normalized: every step has
    a name, a selector ({any_of: ...}, selectors.sql), a display event_type and its
    filters as JSON; the window as `window_seconds` (none for session) and
    `window_label`; breakdowns with their attribution `label` (first_touch, last_touch,
    step_<k>). A bad definition fails compilation with a message naming the funnel.
    A field (hold_constant, breakdowns) is a stg_events column or `data.<key>`.
#}

{% macro funnel_definitions() -%}
    {%- set raw = var('funnels') -%}
    {%- if raw is none and not execute -%}{{ return([]) }}{%- endif -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable -%}
        {{ exceptions.raise_compiler_error("var funnels must be a list of funnels, got: " ~ raw) }}
    {%- endif -%}
    {%- set default_days = insights_warehouse.window_days('conversion_window_days') -%}
    {%- set identifier = '^[A-Za-z_][A-Za-z0-9_]*$' -%}
    {%- set funnels = [] -%}
    {%- set funnel_names = [] -%}
    {%- for funnel in raw -%}
        {%- if funnel is not mapping or not funnel.get('name') -%}
            {{ exceptions.raise_compiler_error("every funnel needs a name, got: " ~ funnel) }}
        {%- endif -%}
        {%- set funnel_name = funnel['name'] | string | trim -%}
        {%- set where = "funnel " ~ funnel_name -%}
        {%- if funnel_name in funnel_names -%}
            {{ exceptions.raise_compiler_error(where ~ " is defined twice") }}
        {%- endif -%}
        {%- do funnel_names.append(funnel_name) -%}
        {%- set raw_steps = funnel.get('steps') -%}
        {%- if raw_steps is none or raw_steps is string or raw_steps is mapping
              or raw_steps is not iterable or (raw_steps | length) == 0 -%}
            {{ exceptions.raise_compiler_error(where ~ " needs a non-empty list of steps") }}
        {%- endif -%}
        {%- set steps = [] -%}
        {%- for step in raw_steps -%}
            {%- set step_where = where ~ ", step " ~ loop.index -%}
            {%- if step is not mapping or (not step.get('event_type') and not step.get('selector')) -%}
                {{ exceptions.raise_compiler_error(step_where ~ ": needs an event_type or a selector, got: " ~ step) }}
            {%- endif -%}
            {%- if step.get('selector') -%}
                {%- set selector = insights_warehouse.normalize_selector(step['selector'], step_where) -%}
                {%- set types = [] -%}
                {%- for alt in selector['any_of'] -%}{%- do types.append(alt['event_type']) -%}{%- endfor -%}
                {%- set display_type = types | join(' | ') -%}
                {%- set filters_json = tojson(selector, sort_keys=true) -%}
            {%- else -%}
                {%- set filters = step.get('filters') or {} -%}
                {%- if filters is not mapping -%}
                    {{ exceptions.raise_compiler_error(step_where ~ ": filters must be a mapping column: value, got: " ~ filters) }}
                {%- endif -%}
                {%- set selector_filters = [] -%}
                {%- for column, value in filters.items() | sort -%}
                    {%- if not modules.re.match(identifier, column | string)
                          or column | lower in ('event_type', 'user_id', 'event_ts') -%}
                        {{ exceptions.raise_compiler_error(step_where ~ ": cannot filter on column " ~ column) }}
                    {%- endif -%}
                    {%- if value is mapping or (value is iterable and value is not string) -%}
                        {{ exceptions.raise_compiler_error(step_where ~ ": filter " ~ column
                            ~ " must be one value (equality), got: " ~ value) }}
                    {%- endif -%}
                    {%- if value is none -%}
                        {%- do selector_filters.append({'field': column | string, 'op': 'is_null', 'value': true}) -%}
                    {%- else -%}
                        {%- do selector_filters.append({'field': column | string, 'op': 'eq', 'value': value}) -%}
                    {%- endif -%}
                {%- endfor -%}
                {%- set selector = insights_warehouse.normalize_selector(
                        {'event_type': step['event_type'] | string | trim, 'filters': selector_filters}, step_where) -%}
                {%- set display_type = step['event_type'] | string | trim -%}
                {%- set filters_json = tojson(filters, sort_keys=true) -%}
            {%- endif -%}
            {%- do steps.append({
                'name': (step.get('name') or display_type) | string | trim,
                'event_type': display_type,
                'filters_json': filters_json,
                'selector': selector,
            }) -%}
        {%- endfor -%}
        {%- set n = steps | length -%}
        {%- set order = funnel.get('order') or 'ordered' -%}
        {%- if order not in ('ordered', 'strict', 'any') -%}
            {{ exceptions.raise_compiler_error(where ~ ": order must be ordered, strict or any, got: " ~ order) }}
        {%- endif -%}
        {%- set window = funnel.get('window') -%}
        {%- if window is none -%}
            {%- set window_seconds = default_days * 86400 -%}
            {%- set window_label = default_days ~ ' days' -%}
        {%- elif window == 'session' -%}
            {%- set window_seconds = none -%}
            {%- set window_label = 'session' -%}
        {%- elif window is mapping and (window | length) == 1
                 and (window.keys() | list)[0] in ('days', 'hours', 'minutes')
                 and (window.values() | list)[0] is number and (window.values() | list)[0] >= 1 -%}
            {%- set unit = (window.keys() | list)[0] -%}
            {%- set amount = (window.values() | list)[0] | int -%}
            {%- set window_seconds = amount * {'days': 86400, 'hours': 3600, 'minutes': 60}[unit] -%}
            {%- set window_label = amount ~ ' ' ~ unit -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error(where ~ ": window must be {days|hours|minutes: n} or session, got: " ~ window) }}
        {%- endif -%}
        {%- set exclusions = [] -%}
        {%- for x in (funnel.get('exclusions') or []) -%}
            {%- set between = x.get('between') if x is mapping else none -%}
            {%- if between is none or between is string or (between | length) != 2
                  or between[0] is not number or between[1] != between[0] + 1
                  or between[0] < 1 or between[1] > n -%}
                {{ exceptions.raise_compiler_error(where ~ ": an exclusion needs between: [k, k+1] within the steps, got: " ~ x) }}
            {%- endif -%}
            {%- if order == 'any' -%}
                {{ exceptions.raise_compiler_error(where ~ ": exclusions need step order, not order any") }}
            {%- endif -%}
            {%- do exclusions.append({'selector': insights_warehouse.normalize_selector(x.get('selector'), where ~ ' exclusion'),
                                      'between': [between[0] | int, between[1] | int]}) -%}
        {%- endfor -%}
        {%- set hold = [] -%}
        {%- for field in (funnel.get('hold_constant') or []) -%}
            {%- do insights_warehouse.funnel_field_sql(field, where) -%}
            {%- do hold.append(field | string) -%}
        {%- endfor -%}
        {%- set breakdowns = [] -%}
        {%- for b in (funnel.get('breakdowns') or []) -%}
            {%- if b is not mapping or not b.get('field') -%}
                {{ exceptions.raise_compiler_error(where ~ ": a breakdown needs a field, got: " ~ b) }}
            {%- endif -%}
            {%- do insights_warehouse.funnel_field_sql(b['field'], where) -%}
            {%- set attribution = b.get('attribution') or 'first_touch' -%}
            {%- if attribution == 'step_k' -%}
                {%- set k = b.get('step') -%}
                {%- if k is not number or k < 1 or k > n -%}
                    {{ exceptions.raise_compiler_error(where ~ ": breakdown step_k needs step: k within the steps, got: " ~ b) }}
                {%- endif -%}
                {%- set label = 'step_' ~ (k | int) -%}
            {%- elif attribution in ('first_touch', 'last_touch') -%}
                {%- set k = none -%}
                {%- set label = attribution -%}
            {%- else -%}
                {{ exceptions.raise_compiler_error(where ~ ": unknown breakdown attribution " ~ attribution) }}
            {%- endif -%}
            {%- do breakdowns.append({'field': b['field'] | string, 'attribution': attribution,
                                      'step': k, 'label': label}) -%}
        {%- endfor -%}
        {%- set grains = funnel.get('trend_grains') -%}
        {%- if grains is none -%}{%- set grains = ['day', 'week'] -%}{%- endif -%}
        {%- for g in grains -%}
            {%- if g not in ('day', 'week') -%}
                {{ exceptions.raise_compiler_error(where ~ ": trend grains are day and week, got: " ~ g) }}
            {%- endif -%}
        {%- endfor -%}
        {%- do funnels.append({'name': funnel_name, 'steps': steps, 'order': order,
                               'window_seconds': window_seconds, 'window_label': window_label,
                               'exclusions': exclusions, 'hold_constant': hold,
                               'breakdowns': breakdowns, 'trend_grains': grains}) -%}
    {%- endfor -%}
    {{ return(funnels) }}
{%- endmacro %}


{#
    The key of each funnel's definition as int_funnel_attempts builds it (its column
    definition_key): a hash of the definition, the active event types (strict order) and
    the reporting time zone (entry_date). A funnel whose key changed needs its history
    rebuilt, not only the incremental window.
#}
{% macro funnel_definition_keys(funnels) -%}
    {%- set keys = {} -%}
    {%- set shared = tojson(insights_warehouse.active_event_types()) ~ '|'
                     ~ insights_warehouse.reporting_timezone() -%}
    {%- for f in funnels -%}
        {%- do keys.update({f.name: local_md5(tojson(f, sort_keys=true) ~ '|' ~ shared)}) -%}
    {%- endfor -%}
    {{ return(keys) }}
{%- endmacro %}


{#
    Whether int_funnel_attempts builds a funnel on its fast path: order ordered, no
    exclusions, first-touch breakdowns only (a scan on event times, no sequence number).
    Every other funnel numbers its events (seq) per creator scope × user.
#}
{% macro funnel_is_fast(funnel) -%}
    {%- set ns = namespace(ok=(funnel.order == 'ordered' and not funnel.exclusions)) -%}
    {%- for b in funnel.breakdowns -%}
        {%- if b.attribution != 'first_touch' -%}{%- set ns.ok = false -%}{%- endif -%}
    {%- endfor -%}
    {{ return(ns.ok) }}
{%- endmacro %}


{#
    The events a sequence-numbered funnel numbers, as a stg_events predicate: its steps',
    its exclusions' and, order strict, every active event.
#}
{% macro funnel_sequence_predicate(funnel) -%}
    {%- set parts = [] -%}
    {%- for step in funnel.steps -%}{%- do parts.append(insights_warehouse.funnel_step_predicate(step)) -%}{%- endfor -%}
    {%- for x in funnel.exclusions -%}{%- do parts.append(insights_warehouse.selector_predicate(x.selector)) -%}{%- endfor -%}
    {%- if funnel.order == 'strict' -%}{%- do parts.append('is_active_event') -%}{%- endif -%}
    {{ return('(' ~ (parts | join(' or ')) ~ ')') }}
{%- endmacro %}


{# The configured funnels that number their events (not on the fast path), in order. #}
{% macro sequenced_funnels(funnels) -%}
    {%- set out = [] -%}
    {%- for f in funnels -%}
        {%- if not insights_warehouse.funnel_is_fast(f) -%}{%- do out.append(f) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#
    The key of int_funnel_event_days as built (its column definition_key): a hash of the
    sequence-numbered funnels' definition keys. Any change (a funnel added, removed or
    redefined) rebuilds the table whole.
#}
{% macro funnel_sequence_key(funnels) -%}
    {%- set keys = insights_warehouse.funnel_definition_keys(funnels) -%}
    {%- set pairs = [] -%}
    {%- for f in insights_warehouse.sequenced_funnels(funnels) -%}
        {%- do pairs.append(f.name ~ '=' ~ keys[f.name]) -%}
    {%- endfor -%}
    {{ return(local_md5(pairs | join('|'))) }}
{%- endmacro %}


{#
    The window of int_funnel_event_days (config incremental_window_widen =
    'funnel_definitions'): `start`, or none (every day again) when the table holds a row
    of another definition key or none at all (first build, or a build without any event
    of the funnels, which is as cheap as its scan). int_funnel_attempts reads the table
    only when every row has the current key (funnel_attempts_window_starts).
#}
{% macro funnel_event_days_window_start(start) -%}
    {%- if start is none -%}{{ return(none) }}{%- endif -%}
    {%- set key = insights_warehouse.funnel_sequence_key(insights_warehouse.funnel_definitions()) -%}
    {%- set found = run_query(
        "select count(*), count(case when definition_key <> '" ~ key ~ "' then 1 end) from "
        ~ this).rows[0] -%}
    {%- if found[0] == 0 or found[1] > 0 -%}{{ return(none) }}{%- endif -%}
    {{- return(start) -}}
{%- endmacro %}

{#
    The incremental windows of int_funnel_attempts, one per funnel, from the model's
    window start `start` (YYYY-MM-DD; macros/incremental_window.sql
    incremental_window_start): events dated on or after it may have changed. They also
    change from the day after the as-of date (events after it are left out) and from the
    day after the latest attempt built (an earlier as-of date). An attempt is filed under
    its start's date (entry_date) and reads events up to one window after its start, so a
    funnel's attempts are rebuilt from that change day minus its own duration window in
    whole days, minus one more day (a day of 23 or 25 hours); a funnel whose window is the
    session, from the change day minus one day and from the first day of every session
    with an event on or after the change day. Attempts are independent of each other (each
    finds its own steps), so a funnel with a short window (an hour, a session) rebuilds a
    few days where a 14-day funnel rebuilds three weeks.
    Returns {funnel name: YYYY-MM-DD}, or none (every attempt again) when `start` is none,
    when the target holds a funnel that is not configured or has another definition now
    (definition_key; a table built before that column had none), when it has no attempts,
    when int_funnel_event_days (the counts of the events before the windows) is not built
    or holds other definitions, or when a configured funnel without attempts has events
    before its window start.
#}
{% macro funnel_attempts_window_starts(start) -%}
    {%- if start is none -%}{{ return(none) }}{%- endif -%}
    {%- set string = dbt.type_string() -%}
    {%- set funnels = insights_warehouse.funnel_definitions() -%}
    {%- set wanted = [] -%}
    {%- for name, key in insights_warehouse.funnel_definition_keys(funnels).items() -%}
        {%- do wanted.append(name ~ '=' ~ key) -%}
    {%- endfor -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name')
                      | map('lower') | list -%}
    {%- if 'definition_key' not in columns -%}{{ return(none) }}{%- endif -%}
    {%- set built = [] -%}
    {%- set built_names = [] -%}
    {%- for row in run_query("select distinct funnel, definition_key from " ~ this).rows -%}
        {%- do built.append(row[0] ~ '=' ~ row[1]) -%}
        {%- do built_names.append(row[0]) -%}
    {%- endfor -%}
    {#- every built funnel is configured with the same definition; a configured funnel
        without attempts is checked below -#}
    {%- for pair in built -%}
        {%- if pair not in wanted -%}{{ return(none) }}{%- endif -%}
    {%- endfor -%}
    {%- if not built -%}{{ return(none) }}{%- endif -%}
    {#- the events before a sequence-numbered funnel's window are counted in
        int_funnel_event_days (built before this model: depends_on): only when all of its
        rows are of the current definitions -#}
    {%- if insights_warehouse.sequenced_funnels(funnels) -%}
        {%- set event_days = insights_warehouse.built_relation('int_funnel_event_days') -%}
        {%- if event_days is none -%}{{ return(none) }}{%- endif -%}
        {%- set other = run_query(
            "select count(*) from " ~ event_days ~ " where definition_key <> '"
            ~ insights_warehouse.funnel_sequence_key(funnels) ~ "'").columns[0].values()[0] -%}
        {%- if other > 0 -%}{{ return(none) }}{%- endif -%}
    {%- endif -%}
    {%- set as_of = insights_warehouse.built_relation('int_as_of_date') -%}
    {%- set latest = run_query(
        "select cast(max(entry_date) as " ~ string ~ "), "
        ~ ("(select cast(max(as_of_date) as " ~ string ~ ") from " ~ as_of ~ ")"
           if as_of is not none else "cast(null as " ~ string ~ ")")
        ~ " from " ~ this).rows[0] -%}
    {%- if latest[0] is none -%}{{ return(none) }}{%- endif -%}
    {%- set day = modules.datetime.timedelta(days=1) -%}
    {%- set changed = [insights_warehouse.date_from_text(start),
                       insights_warehouse.date_from_text(latest[0]) + day] -%}
    {%- if latest[1] is not none -%}
        {%- do changed.append(insights_warehouse.date_from_text(latest[1]) + day) -%}
    {%- endif -%}
    {%- set changed = changed | min -%}
    {%- set session_begin = changed - day -%}
    {%- set ns = namespace(session=none) -%}
    {%- set starts = {} -%}
    {%- for f in funnels -%}
        {%- if f.window_seconds is not none -%}
            {%- set days = ((f.window_seconds + 86399) // 86400) | int -%}
            {%- do starts.update({f.name: (changed - modules.datetime.timedelta(days=days + 1)).isoformat()}) -%}
        {%- else -%}
            {%- if ns.session is none -%}
                {%- set ns.session = session_begin -%}
                {#- the first day of the sessions with an event before the begin day and one
                    on or after the change day, from int_sessions (built before this model:
                    depends_on); a session's event dates run from its start_date to the
                    date of its ended_at (dates in the reporting time zone follow time) #}
                {%- set sessions = insights_warehouse.built_relation('int_sessions') -%}
                {%- if sessions is not none -%}
                    {%- set first = run_query(
                        "select cast(min(start_date) as " ~ string ~ ") from " ~ sessions
                        ~ " where session_id is not null and start_date < "
                        ~ insights_warehouse.date_literal(session_begin.isoformat())
                        ~ " and " ~ insights_warehouse.reporting_date('ended_at') ~ " >= "
                        ~ insights_warehouse.date_literal(changed.isoformat())).columns[0].values()[0] -%}
                    {%- if first is not none -%}
                        {%- set ns.session = [session_begin, insights_warehouse.date_from_text(first)] | min -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endif -%}
            {%- do starts.update({f.name: ns.session.isoformat()}) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- a configured funnel without attempts (no events of its first step, or of any step
        in any order, e.g. lesson funnels on a platform without lessons; or a funnel
        added since the last build): its empty history equals a full build's when no
        such event of an identified user lies before its window start, and the batch
        builds it from there on. Otherwise every attempt again. -#}
    {%- set absent = [] -%}
    {%- for f in funnels -%}
        {%- if f.name not in built_names -%}
            {%- set steps = f.steps if f.order == 'any' else [f.steps[0]] -%}
            {%- set parts = [] -%}
            {%- for step in steps -%}{%- do parts.append(insights_warehouse.funnel_step_predicate(step)) -%}{%- endfor -%}
            {%- do absent.append('(not ' ~ insights_warehouse.date_on_or_after('event_date', starts[f.name])
                                 ~ ' and (' ~ (parts | join(' or ')) ~ '))') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if absent -%}
        {%- set earlier = run_query(
            "select count(*) from (select 1 from " ~ ref('stg_events')
            ~ " where user_id is not null and (" ~ (absent | join(' or ')) ~ ") limit 1) as found") -%}
        {%- if earlier.columns[0].values()[0] > 0 -%}{{ return(none) }}{%- endif -%}
    {%- endif -%}
    {{- return(starts) -}}
{%- endmacro %}


{#
    The window of int_funnel_attempts as a whole (config incremental_window_widen =
    'funnel_attempts', macros/incremental_window.sql replace_window_start): the earliest
    of the funnels' windows (funnel_attempts_window_starts). The replace_date_range
    strategy replaces the rows from it on; the model's batch holds every funnel's rows
    from it on (rebuilt from its own window, copied before it). None: every attempt again.
#}
{% macro funnel_attempts_window_start(start) -%}
    {%- set starts = insights_warehouse.funnel_attempts_window_starts(start) -%}
    {%- if not starts -%}{{ return(none) }}{%- endif -%}
    {{- return(starts.values() | min) -}}
{%- endmacro %}


{# The most steps / breakdowns of any funnel: the widths of int_funnel_attempts. #}
{% macro funnel_max_steps(funnels) -%}
    {%- set m = [1] -%}
    {%- for f in funnels -%}{%- do m.append(f.steps | length) -%}{%- endfor -%}
    {{ return(m | max) }}
{%- endmacro %}

{% macro funnel_max_breakdowns(funnels) -%}
    {%- set m = [0] -%}
    {%- for f in funnels -%}{%- do m.append(f.breakdowns | length) -%}{%- endfor -%}
    {{ return(m | max) }}
{%- endmacro %}


{# The SQL of an event field (a stg_events column, or data.<key> as text). #}
{% macro funnel_field_sql(field, where='funnel') -%}
    {%- set field = field | string -%}
    {%- if field.startswith('data.') and modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', field[5:]) -%}
        {{- insights_warehouse.json_field_text('event_data', field[5:]) -}}
    {%- elif modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', field) and field | lower not in ('user_id', 'event_ts') -%}
        {{- field -}}
    {%- else -%}
        {{ exceptions.raise_compiler_error(where ~ ": not an event column or data.<key>: " ~ field) }}
    {%- endif -%}
{%- endmacro %}


{# A SQL literal for a config value: strings quoted (quotes doubled), booleans, numbers. #}
{% macro funnel_literal(value) -%}
    {%- if value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{# The SQL condition an event row (stg_events columns) meets to be an occurrence of the step. #}
{% macro funnel_step_predicate(step) -%}
    {{ insights_warehouse.selector_predicate(step['selector']) }}
{%- endmacro %}


{#
    The steps of the funnels as rows (funnel, funnel_order, step, step_name): those of
    the funnels that set `require` (e.g. 'breakdowns', 'trend_grains'; none: every
    funnel), from step `from_step` on; an empty, typed relation when there is none.
#}
{% macro funnel_step_rows(funnels, require=none, from_step=1) -%}
    {%- set string = dbt.type_string() %}
    {%- set rows = [] %}
    {%- for funnel in funnels %}
    {%- set funnel_loop = loop %}
    {%- if require is none or funnel[require] %}
    {%- for step in funnel.steps %}
    {%- if loop.index >= from_step %}
    {%- if rows %}
    union all
    {%- endif %}
    {%- do rows.append(1) %}
    select
        cast({{ insights_warehouse.funnel_literal(funnel.name) }} as {{ string }}) as funnel,
        {{ funnel_loop.index }} as funnel_order,
        {{ loop.index }} as step,
        cast({{ insights_warehouse.funnel_literal(step.name) }} as {{ string }}) as step_name
    {%- endif %}
    {%- endfor %}
    {%- endif %}
    {%- endfor %}
    {%- if not rows %}
    select
        cast(null as {{ string }}) as funnel,
        cast(null as integer) as funnel_order,
        cast(null as integer) as step,
        cast(null as {{ string }}) as step_name
    where 1 = 0
    {%- endif %}
{%- endmacro %}
