{#
    metrics.md "Active event": an event a person initiated. The list is a setting
    (metrics.md v2 "Active events"): var `active_events`, the `metrics.active_events`
    list of config/settings.yaml (default: version 1's list, below). Every model that
    needs it calls `is_active_event()` (or reads `stg_events.is_active_event`), nothing
    repeats it. Version 1's list: bot and system events (bot_response,
    intent_classified, entity_extracted, workflow_*, api_call, error) are not active;
    metrics.md is silent on conversation_end and custom, which are therefore not active
    either. Like every var, a missing one fails the compilation (no default here: the
    settings are the one source); a bare `dbt parse` gets version 1's list.
#}
{% macro active_event_types() -%}
    {%- set raw = var('active_events', none) -%}
    {%- if raw is none and not execute -%}
        {{ return(['conversation_start', 'user_message', 'user_feedback', 'lesson_started',
                   'lesson_completed', 'exercise_attempted', 'goal_created', 'goal_completed']) }}
    {%- endif -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable
          or (raw | length) == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var active_events must be a non-empty list of event types, got: " ~ raw) }}
    {%- endif -%}
    {%- set types = [] -%}
    {%- for t in raw -%}
        {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', t | string) -%}
            {{ exceptions.raise_compiler_error("var active_events: not an event type: " ~ t) }}
        {%- endif -%}
        {%- do types.append(t | string) -%}
    {%- endfor -%}
    {{ return(types) }}
{%- endmacro %}


{# A boolean SQL expression: is the event type in `column` an active event type? #}
{% macro is_active_event(column) -%}
    ({{ column }} in (
        {%- for t in active_event_types() -%}
            '{{ t }}'{{ ", " if not loop.last }}
        {%- endfor -%}
    ))
{%- endmacro %}
