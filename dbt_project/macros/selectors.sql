{#
    Event selectors (metrics.md v2 "Event selectors"), typed in warehouse/settings.py
    (`Selector`): any of a list of alternatives, each one event type and filters that
    must all hold. The var form (Settings.dbt_vars) is

        {any_of: [{event_type: t, filters: [{field: f, op: o, value: v}, ...]}, ...]}

    and the shorthands `t`, `{event_type: t, filters: [...]}` and `[alternative, ...]`
    are accepted too. `field` is a stg_events column (event_id, session_id, creator_id,
    channel, intent, topic, ...) or `data.<key>`, a key of the event's `data` JSON
    (stg_events.event_data): compared as text, or as a number (cast to double) when the
    filter's value is a number. Ops: eq, in, not_in, gt, gte, lt, lte, is_null (value
    true: is null; false: is not null). SQL semantics: a comparison with a null field is
    not true, so `not_in` and `eq` never pick an event whose field is null. Custom
    events: event_type custom with a filter on data.name.

    `selector_predicate(selector)` is the boolean SQL condition over stg_events columns
    that an event meets when the selector picks it. Funnel steps, exclusions, retention
    start and return events and path anchors all go through it.
#}

{% macro normalize_selector(selector, where='selector') -%}
    {%- set ident = '^[A-Za-z_][A-Za-z0-9_]*$' -%}
    {%- if selector is string -%}
        {%- set raw_alternatives = [{'event_type': selector}] -%}
    {%- elif selector is mapping and 'any_of' in selector -%}
        {%- set raw_alternatives = selector['any_of'] -%}
    {%- elif selector is mapping and 'event_type' in selector -%}
        {%- set raw_alternatives = [selector] -%}
    {%- elif selector is not none and selector is not mapping and selector is iterable -%}
        {%- set raw_alternatives = selector -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(where ~ ": not a selector: " ~ selector) }}
    {%- endif -%}
    {%- if raw_alternatives is string or raw_alternatives is mapping
          or raw_alternatives is not iterable or (raw_alternatives | length) == 0 -%}
        {{ exceptions.raise_compiler_error(where ~ ": a selector needs at least one alternative, got: " ~ selector) }}
    {%- endif -%}
    {%- set alternatives = [] -%}
    {%- for alt in raw_alternatives -%}
        {%- if alt is string -%}{%- set alt = {'event_type': alt} -%}{%- endif -%}
        {%- if alt is not mapping or not alt.get('event_type') -%}
            {{ exceptions.raise_compiler_error(where ~ ": every alternative needs an event_type, got: " ~ alt) }}
        {%- endif -%}
        {%- set filters = [] -%}
        {%- for f in (alt.get('filters') or []) -%}
            {%- if f is not mapping or not f.get('field') -%}
                {{ exceptions.raise_compiler_error(where ~ ": a filter needs a field, got: " ~ f) }}
            {%- endif -%}
            {%- set field = f['field'] | string -%}
            {%- set op = f.get('op') or 'eq' -%}
            {%- set value = f.get('value') -%}
            {%- if field.startswith('data.') -%}
                {%- if not modules.re.match(ident, field[5:]) -%}
                    {{ exceptions.raise_compiler_error(where ~ ": bad data key in " ~ field) }}
                {%- endif -%}
            {%- elif not modules.re.match(ident, field) or field | lower in ('user_id', 'event_ts') -%}
                {{ exceptions.raise_compiler_error(where ~ ": cannot filter on field " ~ field) }}
            {%- endif -%}
            {%- if op not in ('eq', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'is_null') -%}
                {{ exceptions.raise_compiler_error(where ~ ": unknown filter op " ~ op) }}
            {%- endif -%}
            {%- set is_list = value is not none and value is not string and value is not mapping and value is iterable -%}
            {%- if op in ('in', 'not_in') and (not is_list or (value | length) == 0) -%}
                {{ exceptions.raise_compiler_error(where ~ ": " ~ op ~ " on " ~ field ~ " needs a non-empty list") }}
            {%- endif -%}
            {%- if op not in ('in', 'not_in') and (is_list or value is mapping) -%}
                {{ exceptions.raise_compiler_error(where ~ ": " ~ op ~ " on " ~ field ~ " takes one value") }}
            {%- endif -%}
            {%- if op == 'is_null' and value is not sameas true and value is not sameas false -%}
                {{ exceptions.raise_compiler_error(where ~ ": is_null on " ~ field ~ " takes true or false") }}
            {%- endif -%}
            {%- if op in ('eq', 'gt', 'gte', 'lt', 'lte') and value is none -%}
                {{ exceptions.raise_compiler_error(where ~ ": " ~ op ~ " on " ~ field ~ " needs a value (use is_null)") }}
            {%- endif -%}
            {%- do filters.append({'field': field, 'op': op, 'value': value}) -%}
        {%- endfor -%}
        {%- do alternatives.append({'event_type': alt['event_type'] | string | trim, 'filters': filters}) -%}
    {%- endfor -%}
    {{ return({'any_of': alternatives}) }}
{%- endmacro %}


{# A SQL literal: strings quoted (quotes doubled), booleans, numbers. #}
{% macro selector_literal(value) -%}
    {%- if value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{# The SQL operand of a filter field; data.<key> as text, or as a double when the
   filter compares with numbers (a non-numeric text is then null: no match). #}
{% macro selector_operand(field, numeric) -%}
    {%- if field.startswith('data.') -%}
        {%- set text = insights_warehouse.json_field_text('event_data', field[5:]) -%}
        {%- if numeric -%}{{ dbt.safe_cast(text, insights_warehouse.type_double()) }}{%- else -%}{{ text }}{%- endif -%}
    {%- else -%}
        {{ field }}
    {%- endif -%}
{%- endmacro %}


{% macro selector_filter_sql(f) -%}
    {%- set op = f['op'] -%}
    {%- set value = f['value'] -%}
    {%- set values = value if op in ('in', 'not_in') else [value] -%}
    {%- set numeric = f['field'].startswith('data.') and values | select('number') | list | length == values | length
                      and values | select('sameas', true) | list | length == 0
                      and values | select('sameas', false) | list | length == 0 -%}
    {%- set operand = insights_warehouse.selector_operand(f['field'], numeric and op != 'is_null') -%}
    {%- if op == 'is_null' -%}
        {{ operand }} {{ 'is null' if value else 'is not null' }}
    {%- elif op in ('in', 'not_in') -%}
        {{ operand }} {{ 'not in' if op == 'not_in' else 'in' }} (
            {%- for v in value -%}{{ insights_warehouse.selector_literal(v if numeric or not f['field'].startswith('data.') else (v | string | lower if v is sameas true or v is sameas false else v)) }}{{ ", " if not loop.last }}{%- endfor -%})
    {%- else -%}
        {%- set sql_op = {'eq': '=', 'gt': '>', 'gte': '>=', 'lt': '<', 'lte': '<='}[op] -%}
        {{ operand }} {{ sql_op }} {{ insights_warehouse.selector_literal(value if numeric or not f['field'].startswith('data.') else (value | string | lower if value is sameas true or value is sameas false else value)) }}
    {%- endif -%}
{%- endmacro %}


{% macro selector_predicate(selector) -%}
    {%- set s = insights_warehouse.normalize_selector(selector) -%}
    ({% for alt in s['any_of'] -%}
        {{ ' or ' if not loop.first }}(event_type = {{ insights_warehouse.selector_literal(alt['event_type']) }}
        {%- for f in alt['filters'] %} and {{ insights_warehouse.selector_filter_sql(f) }}{%- endfor -%})
    {%- endfor %})
{%- endmacro %}
