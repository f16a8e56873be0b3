"""The event types of the raw-exports contract (shared/spec/raw_exports.md), at the ground
floor so that the settings can check the event types they name (selectors, active events)
and the loader can check the events it reads against the same list."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "conversation_start",
    "conversation_end",
    "user_message",
    "bot_response",
    "intent_classified",
    "entity_extracted",
    "workflow_started",
    "workflow_completed",
    "workflow_failed",
    "api_call",
    "error",
    "user_feedback",
    "lesson_started",
    "lesson_completed",
    "exercise_attempted",
    "goal_created",
    "goal_completed",
    "custom",
)
