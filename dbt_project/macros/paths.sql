{#
    Path definitions come from configuration (var `paths`, the `metrics.paths` list of
    config/settings.yaml, typed by warehouse/settings.PathDefinition), never from SQL.
    `path_definitions()` validates the var and returns a list of
    {name, anchor: selector (normalized, macros/selectors.sql), direction: after | before,
     steps: N >= 1, label: 'event_type' | 'data.<key>'}
    and fails compilation with a message naming a bad definition.
#}
{% macro path_definitions() -%}
    {%- set raw = var('paths') -%}
    {%- if raw is none and not execute -%}{{ return([]) }}{%- endif -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable -%}
        {{ exceptions.raise_compiler_error("var paths must be a list of path definitions, got: " ~ raw) }}
    {%- endif -%}
    {%- set ident = '^[A-Za-z_][A-Za-z0-9_]*$' -%}
    {%- set out = [] -%}
    {%- set names = [] -%}
    {%- for d in raw -%}
        {%- if d is not mapping or not modules.re.match(ident, (d.get('name') or '') | string) -%}
            {{ exceptions.raise_compiler_error("every path definition needs a name (letters, digits, _), got: " ~ d) }}
        {%- endif -%}
        {%- set name = d['name'] | string -%}
        {%- if name in names -%}
            {{ exceptions.raise_compiler_error("path " ~ name ~ " is defined twice") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- set where = "path " ~ name -%}
        {%- set anchor = insights_warehouse.normalize_selector(d.get('anchor'), where ~ ", anchor") -%}
        {%- set direction = d.get('direction', 'after') -%}
        {%- if direction not in ('after', 'before') -%}
            {{ exceptions.raise_compiler_error(where ~ ": direction must be after or before, got: " ~ direction) }}
        {%- endif -%}
        {%- set steps = d.get('steps', 5) -%}
        {%- if steps is not number or steps != (steps | int) or steps < 1 -%}
            {{ exceptions.raise_compiler_error(where ~ ": steps must be a whole number >= 1, got: " ~ steps) }}
        {%- endif -%}
        {%- set label = (d.get('label') or 'event_type') | string -%}
        {%- if label != 'event_type' and not (label.startswith('data.') and modules.re.match(ident, label[5:])) -%}
            {{ exceptions.raise_compiler_error(where ~ ": label must be event_type or data.<key>, got: " ~ label) }}
        {%- endif -%}
        {%- do out.append({'name': name, 'anchor': anchor, 'direction': direction,
                           'steps': steps | int, 'label': label}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{# The path label of an event (columns event_type, event_data): its event type, or for
   label data.<key> the text `<key>:<value>` when the event has that data field. #}
{% macro path_label(label) -%}
    {%- if label == 'event_type' -%}
        event_type
    {%- else -%}
        {%- set key = label[5:] -%}
        {%- set value = insights_warehouse.json_field_text('event_data', key) -%}
        case
            when {{ value }} is not null then {{ dbt.concat(["'" ~ key ~ ":'", value]) }}
            else event_type
        end
    {%- endif -%}
{%- endmacro %}


{#
    A key of the path definitions and of what their labels and dates depend on (the
    reporting time zone): int_path_user_edges stores it in every row (definition_key),
    and a build whose key differs rebuilds every row (config incremental_built_with).
#}
{% macro path_definitions_key() -%}
    {{- return(local_md5(tojson(insights_warehouse.path_definitions(), sort_keys=true)
                         ~ '|' ~ insights_warehouse.reporting_timezone())) -}}
{%- endmacro %}


{#
    The first day of events int_path_user_edges reads in an incremental run whose window
    starts at `window_start` (its anchors lie on or after it): that day for `after`
    paths (their events follow the anchor); for a `before` path, whose events precede
    the anchor in its session, the first start_date of the sessions (`sessions`:
    int_sessions) with an event on or after the window start (sessions_window_start).
    None when window_start is.
#}
{% macro path_events_read_start(window_start, paths, sessions) -%}
    {%- if window_start is none
          or not (paths | selectattr('direction', 'equalto', 'before') | list) -%}
        {{- return(window_start) -}}
    {%- endif -%}
    {{- return(insights_warehouse.sessions_window_start(window_start, 'start_date', sessions)) -}}
{%- endmacro %}
