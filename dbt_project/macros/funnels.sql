{#
    Funnels come from configuration (var `funnels`, the `metrics.funnels` list of
    config/settings.yaml), never from SQL. Each funnel:

        {name: conversation, steps: [{name: ..., event_type: ..., filters: {col: value}}]}

    `funnel_definitions()` validates the var and returns it as a list of
    {name, steps: [{name, event_type, filters}]}; a bad definition fails compilation
    with a message naming the funnel. `funnel_step_predicate(step)` is the SQL condition
    an event row (stg_events columns) must meet to be an occurrence of the step:
    its event_type, and every filter as an equality on a column (null: `is null`).
#}

{% macro funnel_definitions() -%}
    {%- set raw = var('funnels') -%}
    {%- if raw is none and not execute -%}{{ return([]) }}{%- endif -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable -%}
        {{ exceptions.raise_compiler_error("var funnels must be a list of funnels, got: " ~ raw) }}
    {%- endif -%}
    {%- set identifier = '^[A-Za-z_][A-Za-z0-9_]*$' -%}
    {%- set funnels = [] -%}
    {%- set funnel_names = [] -%}
    {%- for funnel in raw -%}
        {%- if funnel is not mapping or not funnel.get('name') -%}
            {{ exceptions.raise_compiler_error("every funnel needs a name, got: " ~ funnel) }}
        {%- endif -%}
        {%- set funnel_name = funnel['name'] | string | trim -%}
        {%- if funnel_name in funnel_names -%}
            {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ " is defined twice") }}
        {%- endif -%}
        {%- do funnel_names.append(funnel_name) -%}
        {%- set raw_steps = funnel.get('steps') -%}
        {%- if raw_steps is none or raw_steps is string or raw_steps is mapping
              or raw_steps is not iterable or (raw_steps | length) == 0 -%}
            {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ " needs a non-empty list of steps") }}
        {%- endif -%}
        {%- set steps = [] -%}
        {%- for step in raw_steps -%}
            {%- if step is not mapping or not step.get('event_type') -%}
                {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ ", step " ~ loop.index
                    ~ ": needs an event_type, got: " ~ step) }}
            {%- endif -%}
            {%- set filters = step.get('filters') or {} -%}
            {%- if filters is not mapping -%}
                {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ ", step " ~ loop.index
                    ~ ": filters must be a mapping column: value, got: " ~ filters) }}
            {%- endif -%}
            {%- for column, value in filters.items() -%}
                {%- if not modules.re.match(identifier, column | string)
                      or column | lower in ('event_type', 'user_id', 'event_ts') -%}
                    {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ ", step " ~ loop.index
                        ~ ": cannot filter on column " ~ column) }}
                {%- endif -%}
                {%- if value is mapping or (value is iterable and value is not string) -%}
                    {{ exceptions.raise_compiler_error("funnel " ~ funnel_name ~ ", step " ~ loop.index
                        ~ ": filter " ~ column ~ " must be one value (equality), got: " ~ value) }}
                {%- endif -%}
            {%- endfor -%}
            {%- do steps.append({
                'name': (step.get('name') or step['event_type']) | string | trim,
                'event_type': step['event_type'] | string | trim,
                'filters': filters,
            }) -%}
        {%- endfor -%}
        {%- do funnels.append({'name': funnel_name, 'steps': steps}) -%}
    {%- endfor -%}
    {{ return(funnels) }}
{%- endmacro %}


{# A SQL literal for a config value: strings quoted (quotes doubled), booleans, numbers. #}
{% macro funnel_literal(value) -%}
    {%- if value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{% macro funnel_step_predicate(step) -%}
    event_type = {{ insights_warehouse.funnel_literal(step['event_type']) }}
    {%- for column, value in step['filters'].items() | sort %}
    and {{ column }} {% if value is none %}is null{% else %}= {{ insights_warehouse.funnel_literal(value) }}{% endif %}
    {%- endfor %}
{%- endmacro %}
