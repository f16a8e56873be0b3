{#
    metrics.md "Active event": an event a person initiated. The one list of the
    project: every model that needs it calls `is_active_event()` (or reads
    `stg_events.is_active_event`), nothing repeats it.
    Bot and system events (bot_response, intent_classified, entity_extracted,
    workflow_*, api_call, error) are not active; metrics.md is silent on
    conversation_end and custom, which are therefore not active either.
#}
{% macro active_event_types() -%}
    {{ return([
        'conversation_start',
        'user_message',
        'user_feedback',
        'lesson_started',
        'lesson_completed',
        'exercise_attempted',
        'goal_created',
        'goal_completed',
    ]) }}
{%- endmacro %}


{# A boolean SQL expression: is the event type in `column` an active event type? #}
{% macro is_active_event(column) -%}
    ({{ column }} in (
        {%- for t in active_event_types() -%}
            '{{ t }}'{{ ", " if not loop.last }}
        {%- endfor -%}
    ))
{%- endmacro %}
