"""The one settings layer: ``config/settings.yaml`` and every ``INSIGHTS_*`` variable.

Every section of the settings file is a typed, frozen model here, with its defaults
written once; :func:`load_settings` reads the file and the environment, validates
everything, and fails fast with one :class:`SettingsError` line naming the key (an
unknown key gets the closest known one). Nothing else reads the file or these
environment variables: the orchestration loads the settings and passes sections down;
dbt gets its vars from :meth:`Settings.dbt_vars`.

Environment variables (paths default to ``data/`` under the current directory):

| variable | default | what |
|---|---|---|
| INSIGHTS_SETTINGS | <repo>/config/settings.yaml | the settings file |
| INSIGHTS_WAREHOUSE | data/warehouse.duckdb | the DuckDB warehouse (one writer at a time) |
| INSIGHTS_LANDING_DIR | data/landing | the landing folder of raw exports |
| DAGSTER_HOME | data/dagster_home | where Dagster records runs (the UI reads it) |
| INSIGHTS_REPORTS_DIR | data/reports | reports and the data-quality summary (HTML) |
| INSIGHTS_SERVING_DB | data/serving.duckdb | the read-only copy BI tools connect to |
| INSIGHTS_ANALYSES_DIR | <repo>/analyses | analysts' custom analyses (YAML) |
| INSIGHTS_ANALYSES_MAX_ROWS | 10000 | row cap of an analysis without ``max_rows`` |
| INSIGHTS_DBT_THREADS | 2 | dbt threads (read by dbt's profiles.yml) |
| INSIGHTS_DUCKDB_* | from ``duckdb:`` | set for dbt's profiles.yml by :func:`export_duckdb_env` |
| INSIGHTS_FAILPOINT | unset | reliability tests only (warehouse.failpoints) |
| INSIGHTS_INCREMENTAL_START_DATE | unset | set around dbt by the dbt asset |
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from warehouse.contract import EVENT_TYPES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "config" / "settings.yaml"

ENV_SETTINGS = "INSIGHTS_SETTINGS"
ENV_WAREHOUSE = "INSIGHTS_WAREHOUSE"
ENV_LANDING = "INSIGHTS_LANDING_DIR"
ENV_DAGSTER_HOME = "DAGSTER_HOME"
ENV_REPORTS = "INSIGHTS_REPORTS_DIR"
ENV_SERVING = "INSIGHTS_SERVING_DB"
ENV_ANALYSES_DIR = "INSIGHTS_ANALYSES_DIR"
ENV_ANALYSES_MAX_ROWS = "INSIGHTS_ANALYSES_MAX_ROWS"
ENV_FAILPOINT = "INSIGHTS_FAILPOINT"
ENV_INCREMENTAL_START = "INSIGHTS_INCREMENTAL_START_DATE"
DUCKDB_ENV = {
    "threads": "INSIGHTS_DUCKDB_THREADS",
    "memory_limit": "INSIGHTS_DUCKDB_MEMORY_LIMIT",
    "temp_directory": "INSIGHTS_DUCKDB_TEMP_DIR",
}

PATH_DEFAULTS = {
    ENV_WAREHOUSE: Path("data") / "warehouse.duckdb",
    ENV_LANDING: Path("data") / "landing",
    ENV_DAGSTER_HOME: Path("data") / "dagster_home",
    ENV_REPORTS: Path("data") / "reports",
    ENV_SERVING: Path("data") / "serving.duckdb",
}
DEFAULT_ANALYSES_MAX_ROWS = 10_000
HARD_ANALYSES_MAX_ROWS = 100_000


class SettingsError(ValueError):
    """A settings problem, as one line that names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveDays = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(gt=0, lt=1)]
Share = Annotated[float, Field(ge=0, le=1)]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_TZ = re.compile(r"^[A-Za-z0-9_+/-]+$")


# --- metrics: the numbers behind the marts (dbt vars) -------------------------------

FilterValue = str | int | float | bool | None


# --- selectors and retention definitions (metrics.md v2 "Event selectors",
# "Retention, version 2", "Active events") -----------------------------------------

DEFAULT_ACTIVE_EVENTS: tuple[str, ...] = (
    "conversation_start", "user_message", "user_feedback", "lesson_started",
    "lesson_completed", "exercise_attempted", "goal_created", "goal_completed")
_DATA_KEY = re.compile(r"^data\.[A-Za-z_][A-Za-z0-9_]*$")
SelectorOp = Literal["eq", "in", "not_in", "gt", "gte", "lt", "lte", "is_null"]


class SelectorFilter(_Section):
    """One condition on an event: ``field`` is a stg_events column or ``data.<key>``
    (a key of the event's ``data`` JSON, compared as text unless the value is a number);
    ``in``/``not_in`` take a list, ``is_null`` true (null) or false (not null)."""

    field: str
    op: SelectorOp = "eq"
    value: FilterValue | list[FilterValue] = None

    @model_validator(mode="after")
    def _consistent(self) -> SelectorFilter:
        if not (_DATA_KEY.match(self.field) or (
                _IDENT.match(self.field) and self.field.lower() not in ("user_id", "event_ts"))):
            raise ValueError(f"cannot filter on field {self.field!r} (a column or data.<key>)")
        listed = isinstance(self.value, list)
        if self.op in ("in", "not_in"):
            if not listed or not self.value:
                raise ValueError(f"{self.op} needs a non-empty list of values")
        elif listed:
            raise ValueError(f"{self.op} takes one value, not a list")
        elif self.op == "is_null":
            if not isinstance(self.value, bool):
                raise ValueError("is_null takes true (is null) or false (is not null)")
        elif self.value is None:
            raise ValueError(f"{self.op} needs a value (use is_null for nulls)")
        return self


class SelectorAlternative(_Section):
    """One event type with filters (all must hold). ``custom`` events are told apart by
    a filter on ``data.name``."""

    event_type: str = Field(min_length=1)
    filters: list[SelectorFilter] = Field(default_factory=list)

    @field_validator("event_type")
    @classmethod
    def _known(cls, value: str) -> str:
        return known_event_type(value)


class Selector(_Section):
    """Picks events: any of the alternatives. Shorthands accepted on input: an event type
    (``lesson_started``), one alternative (``{event_type: ..., filters: [...]}``) or a
    list of alternatives; dumped as ``{any_of: [...]}``."""

    any_of: list[SelectorAlternative] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _selector_shorthand(value)


def known_event_type(value: str) -> str:
    """``value`` when it is an event type of the contract; else a one-line error with
    the closest type (a typo would select nothing, silently)."""
    if value in EVENT_TYPES:
        return value
    close = difflib.get_close_matches(value, EVENT_TYPES, n=1, cutoff=0.6)
    hint = f" — did you mean {close[0]!r}?" if close else (
        " (custom events: event_type custom with a filter on data.name)")
    raise ValueError(f"{value!r} is not an event type of the contract{hint}")


def _selector_shorthand(value: Any) -> Any:
    """A selector's shorthand input (an event type, one alternative, a list of
    alternatives) as its full form ``{any_of: [...]}``; anything else unchanged."""
    if isinstance(value, str):
        return {"any_of": [{"event_type": value}]}
    if isinstance(value, list):
        return {"any_of": [_alternative_shorthand(v) for v in value]}
    if isinstance(value, Mapping) and "event_type" in value:
        return {"any_of": [value]}
    if isinstance(value, Mapping) and isinstance(value.get("any_of"), list):
        return {**value, "any_of": [_alternative_shorthand(v) for v in value["any_of"]]}
    return value


def _alternative_shorthand(value: Any) -> Any:
    """An alternative given as a bare event type, as ``{event_type: ...}``."""
    return {"event_type": value} if isinstance(value, str) else value


# --- funnels (metrics.md "Funnels", v2 "Funnels, version 2") ---------------------

class FunnelStep(_Section):
    """A funnel step (metrics.md v2 "Funnels, version 2"): a selector with a name.
    Version 1's shorthand stays: ``event_type`` with equality ``filters`` on columns
    (``{channel: web}``, null: is null); or ``selector`` (any selector form)."""

    name: str | None = None
    event_type: str | None = Field(default=None, min_length=1)
    filters: dict[str, FilterValue] = Field(default_factory=dict)
    selector: Selector | None = None

    @field_validator("event_type")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else known_event_type(value)

    @field_validator("filters")
    @classmethod
    def _columns(cls, value: dict[str, FilterValue]) -> dict[str, FilterValue]:
        for column in value:
            if not _IDENT.match(column) or column.lower() in ("event_type", "user_id",
                                                               "event_ts"):
                raise ValueError(f"cannot filter on column {column!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> FunnelStep:
        if (self.event_type is None) == (self.selector is None):
            raise ValueError("a funnel step needs either event_type (with filters) or selector")
        if self.selector is not None and self.filters:
            raise ValueError("filters go with event_type; a selector carries its own")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.event_type:
            return self.event_type
        return " | ".join(a.event_type for a in self.selector.any_of)  # type: ignore[union-attr]

    def as_var(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name} if self.name is not None else {}
        if self.selector is not None:
            return out | {"selector": self.selector.model_dump(mode="json",
                                                               exclude_defaults=True)}
        out["event_type"] = self.event_type
        return out | ({"filters": dict(self.filters)} if self.filters else {})


_FIELD_EXCLUDED = ("user_id", "event_ts")
# values of these fields would reach the published marts as breakdown values
_NOT_A_BREAKDOWN = frozenset({"event_id", "raw_user_id", "anonymous_id", "session_id",
                              "feedback_comment", "error_message", "entity_value"})


def _event_field(value: str) -> str:
    """A stg_events column or ``data.<key>`` usable to hold constant or break down by."""
    if not (_DATA_KEY.match(value) or (_IDENT.match(value)
                                       and value.lower() not in _FIELD_EXCLUDED)):
        raise ValueError(f"{value!r} is not an event column or data.<key>")
    return value


EventField = Annotated[str, Field(min_length=1)]


class FunnelWindow(_Section):
    """A conversion window as a duration: exactly one of days, hours, minutes."""

    days: Annotated[int, Field(ge=1)] | None = None
    hours: Annotated[int, Field(ge=1)] | None = None
    minutes: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> FunnelWindow:
        if sum(v is not None for v in (self.days, self.hours, self.minutes)) != 1:
            raise ValueError("a window is one of {days: n}, {hours: n}, {minutes: n}")
        return self

    @property
    def seconds(self) -> int:
        return (self.days or 0) * 86400 + (self.hours or 0) * 3600 + (self.minutes or 0) * 60


class FunnelExclusion(_Section):
    """Attempts with an event of ``selector`` between steps k and k+1 do not count."""

    selector: Selector
    between: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=2)]]

    @model_validator(mode="after")
    def _adjacent(self) -> FunnelExclusion:
        if self.between[1] != self.between[0] + 1:
            raise ValueError("an exclusion lies between two adjacent steps: [k, k+1]")
        return self


class FunnelBreakdown(_Section):
    """Break a funnel down by an event field, attributed from step 1 (first_touch), the
    last step reached (last_touch) or step k (step_k with ``step: k``)."""

    field: EventField
    attribution: Literal["first_touch", "last_touch", "step_k"] = "first_touch"
    step: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FunnelBreakdown:
        _event_field(self.field)
        if self.field.lower() in _NOT_A_BREAKDOWN:
            raise ValueError(f"{self.field} is free text or an identifier: not a breakdown "
                             "(its values would be published)")
        if (self.attribution == "step_k") != (self.step is not None):
            raise ValueError("attribution step_k needs step: k (and only step_k takes one)")
        return self

    @property
    def label(self) -> str:
        return f"step_{self.step}" if self.attribution == "step_k" else self.attribution


class Funnel(_Section):
    name: str
    steps: list[FunnelStep] = Field(min_length=1)
    order: Literal["ordered", "strict", "any"] = "ordered"
    # a duration from step 1, or `session`; None: metrics.conversion_window_days
    window: FunnelWindow | Literal["session"] | None = None
    exclusions: list[FunnelExclusion] = Field(default_factory=list)
    hold_constant: list[EventField] = Field(default_factory=list)
    breakdowns: list[FunnelBreakdown] = Field(default_factory=list)
    trend_grains: list[Literal["day", "week"]] = Field(
        default_factory=lambda: ["day", "week"])

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("a funnel name is letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Funnel:
        n = len(self.steps)
        for field in self.hold_constant:
            _event_field(field)
        for exclusion in self.exclusions:
            if exclusion.between[1] > n:
                raise ValueError(f"exclusion between {list(exclusion.between)}: "
                                 f"the funnel has {n} steps")
        if self.exclusions and self.order == "any":
            raise ValueError("exclusions need step order: not with order any")
        for b in self.breakdowns:
            if b.step is not None and b.step > n:
                raise ValueError(f"breakdown {b.field} at step {b.step}: the funnel has {n} steps")
        keys = [(b.field, b.label) for b in self.breakdowns]
        if len(set(keys)) != len(keys):
            raise ValueError("a breakdown (field and attribution) is listed twice")
        if len(set(self.trend_grains)) != len(self.trend_grains):
            raise ValueError("a trend grain is listed twice")
        return self

    def as_var(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name,
                               "steps": [step.as_var() for step in self.steps]}
        rest = self.model_dump(mode="json", exclude={"name", "steps"}, exclude_defaults=True,
                               exclude_none=True)
        return out | rest


DEFAULT_FUNNELS: tuple[dict[str, Any], ...] = (
    {"name": "conversation", "steps": [{"name": s, "event_type": s} for s in (
        "conversation_start", "user_message", "intent_classified", "workflow_started",
        "workflow_completed")]},
    {"name": "learning", "steps": [{"name": s, "event_type": s} for s in (
        "lesson_started", "exercise_attempted", "lesson_completed", "goal_created",
        "goal_completed")]},
    # version 2 examples: strict order with breakdowns by channel and platform
    {"name": "conversation_strict", "steps": [{"name": s, "event_type": s} for s in (
        "conversation_start", "user_message", "intent_classified", "workflow_completed")],
     "order": "strict", "window": {"hours": 1},
     "breakdowns": [{"field": "channel"},
                    {"field": "platform", "attribution": "last_touch"}]},
    # any order within a week, broken down by the topic of the first lesson event
    {"name": "learning_any_order", "steps": [{"name": s, "event_type": s} for s in (
        "lesson_started", "exercise_attempted", "lesson_completed")],
     "order": "any", "window": {"days": 7}, "breakdowns": [{"field": "topic"}]},
    # a session funnel with alternatives, an exclusion and a held field
    {"name": "session_booking", "steps": [
        {"name": "conversation_start", "event_type": "conversation_start"},
        {"name": "booking_intent", "selector": {"any_of": [
            {"event_type": "intent_classified", "filters": [
                {"field": "intent", "op": "in",
                 "value": ["book_session", "reschedule_session"]}]}]}},
        {"name": "workflow_completed", "event_type": "workflow_completed"}],
     "window": "session",
     "exclusions": [{"selector": {"any_of": [{"event_type": "workflow_failed"},
                                              {"event_type": "error"}]},
                     "between": [2, 3]}],
     "hold_constant": ["channel"],
     "breakdowns": [{"field": "channel"}, {"field": "intent", "attribution": "step_k",
                                           "step": 2}],
     "trend_grains": ["day"]},
)


class RetentionDefinition(_Section):
    """One row family of marts.retention (metrics.md v2 "Retention, version 2")."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    start: Literal["signup"] | Selector = "signup"
    return_: Literal["any_active"] | Selector = Field(default="any_active", alias="return")
    grain: Literal["day", "week", "month"] = "week"
    mode: Literal["on", "on_or_after", "brackets"] = "on"
    brackets: list[tuple[NonNegativeInt, NonNegativeInt]] | None = None
    cohort: Literal["first_time", "recurring"] = "first_time"

    @model_validator(mode="after")
    def _consistent(self) -> RetentionDefinition:
        if not _IDENT.match(self.name):
            raise ValueError("a retention definition name is letters, digits and underscores")
        if self.mode == "brackets":
            if not self.brackets:
                raise ValueError("mode brackets needs brackets: [[first_day, last_day], ...]")
            if any(a > b for a, b in self.brackets):
                raise ValueError("a bracket [a, b] needs a <= b")
        elif self.brackets is not None:
            raise ValueError(f"brackets are only for mode brackets, not {self.mode}")
        if self.start == "signup" and self.cohort == "recurring":
            raise ValueError("a signup start happens once: cohort must be first_time")
        return self

    def as_var(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


DEFAULT_RETENTION: tuple[dict[str, Any], ...] = (
    {"name": "signup_any_weekly", "start": "signup", "return": "any_active",
     "grain": "week", "mode": "on", "cohort": "first_time"},
    {"name": "signup_any_weekly_unbounded", "start": "signup", "return": "any_active",
     "grain": "week", "mode": "on_or_after", "cohort": "first_time"},
    {"name": "lesson_started_completed_weekly",
     "start": {"any_of": [{"event_type": "lesson_started", "filters": []}]},
     "return": {"any_of": [{"event_type": "lesson_completed", "filters": []}]},
     "grain": "week", "mode": "on", "cohort": "first_time"},
    {"name": "conversation_brackets",
     "start": {"any_of": [{"event_type": "conversation_start", "filters": []}]},
     "return": {"any_of": [{"event_type": "conversation_start", "filters": []}]},
     "grain": "week", "mode": "brackets", "brackets": [[1, 1], [2, 7], [8, 30]],
     "cohort": "first_time"},
)


# --- paths and published event data (metrics.md v2 "Paths"; marts.events) ----------

# The keys of an event's `data` object that may leave the raw layer (marts.events.data,
# path labels): the contract's fields that are codes, names of things, numbers or flags.
# Left out on purpose: error `message`, feedback `comment`, an extracted entity's `value`
# (free text a person typed, which may hold names or emails), and every key the contract
# does not list (custom events carry "anything").
DEFAULT_PUBLISHED_DATA_KEYS: tuple[str, ...] = (
    "text_length", "intent", "entity", "workflow", "endpoint", "status_code", "latency_ms",
    "error_code", "rating", "topic", "lesson_id", "quality", "skill", "correct", "goal_id",
    "goal_type", "target_value", "escalated_to_human", "name")
FREE_TEXT_DATA_KEYS: frozenset[str] = frozenset({"message", "comment", "value"})


class PathDefinition(_Section):
    """One path family of marts.path_edges (metrics.md v2 "Paths"): from the user's first
    ``anchor`` event, the next (``after``) or previous (``before``) ``steps`` path steps
    in its session, each event labelled by its event type, or with ``label: data.<key>``
    by that data field where the event has it (``<key>:<value>``), else its event type."""

    name: str
    anchor: Selector
    direction: Literal["after", "before"] = "after"
    steps: Annotated[int, Field(ge=1, le=20)] = 5
    label: str = "event_type"

    @model_validator(mode="after")
    def _consistent(self) -> PathDefinition:
        if not _IDENT.match(self.name):
            raise ValueError("a path name is letters, digits and underscores")
        if self.label != "event_type":
            if not _DATA_KEY.match(self.label):
                raise ValueError(f"label must be event_type or data.<key>, got {self.label!r}")
            if self.label[5:] in FREE_TEXT_DATA_KEYS:
                raise ValueError(f"{self.label} is free text: it cannot label a published path")
        return self

    def as_var(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


DEFAULT_PATHS: tuple[dict[str, Any], ...] = (
    {"name": "after_conversation_start", "anchor": "conversation_start",
     "direction": "after", "steps": 5, "label": "data.intent"},
    {"name": "after_lesson_started", "anchor": "lesson_started", "direction": "after",
     "steps": 5, "label": "event_type"},
)


class MetricsSettings(_Section):
    reporting_timezone: str = "UTC"
    wau_window_days: PositiveDays = 7
    mau_window_days: PositiveDays = 30
    as_of_date: date | None = None
    incremental_lookback_days: NonNegativeInt = 7
    conversion_window_days: PositiveDays = 14
    experiment_conversion_window_days: PositiveDays = 14
    low_confidence_threshold: Share = 0.7
    cost_per_human_interaction: Annotated[float, Field(ge=0)] = 5.0
    # the ISO 4217 code cost savings are shown in (the unit of cost_per_human_interaction)
    cost_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    streak_grace_days: NonNegativeInt = 1
    bkt_p_init: Probability = 0.2
    bkt_p_transit: Probability = 0.15
    bkt_p_guess: Probability = 0.2
    bkt_p_slip: Probability = 0.1
    funnels: list[Funnel] = Field(
        default_factory=lambda: [Funnel.model_validate(f) for f in DEFAULT_FUNNELS])
    active_events: list[Annotated[str, AfterValidator(known_event_type)]] = Field(
        default_factory=lambda: list(DEFAULT_ACTIVE_EVENTS), min_length=1)
    retention: list[RetentionDefinition] = Field(
        default_factory=lambda: [RetentionDefinition.model_validate(d)
                                 for d in DEFAULT_RETENTION])
    paths: list[PathDefinition] = Field(
        default_factory=lambda: [PathDefinition.model_validate(d) for d in DEFAULT_PATHS])
    published_data_keys: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = (
        Field(default_factory=lambda: list(DEFAULT_PUBLISHED_DATA_KEYS)))

    @field_validator("reporting_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            if not _TZ.match(value):
                raise ZoneInfoNotFoundError(value)
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone name (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("funnels", "retention", "paths")
    @classmethod
    def _unique_names(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        names = [d.name for d in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            what = {"funnels": "funnel", "retention": "retention definition",
                    "paths": "path"}[info.field_name]
            raise ValueError(f"{what} {twice[0]!r} is defined twice")
        return value

    @field_validator("published_data_keys")
    @classmethod
    def _no_free_text(cls, value: list[str]) -> list[str]:
        bad = sorted(FREE_TEXT_DATA_KEYS.intersection(value))
        if bad:
            raise ValueError(f"data.{bad[0]} is free text: it cannot be published")
        return value

    @model_validator(mode="after")
    def _labels_published(self) -> MetricsSettings:
        for d in self.paths:
            if d.label != "event_type" and d.label[5:] not in self.published_data_keys:
                raise ValueError(f"path {d.name!r}: label {d.label} is not one of "
                                 "metrics.published_data_keys")
        return self

    def bkt_defaults(self) -> dict[str, float]:
        return {"p_init": self.bkt_p_init, "p_transit": self.bkt_p_transit,
                "p_guess": self.bkt_p_guess, "p_slip": self.bkt_p_slip}


# --- ingest, DuckDB, data quality ---------------------------------------------------


class IngestSettings(_Section):
    first_export_date: date = date(2025, 1, 1)
    future_tolerance_days: NonNegativeInt = 1
    # bounds of what one file may cost: its decompressed size and its longest line
    max_file_bytes: Annotated[int, Field(ge=1024)] = 4 * 2**30
    max_line_bytes: Annotated[int, Field(ge=1024)] = 16 * 2**20


class DuckDBSettings(_Section):
    """Resources of DuckDB connections; None leaves DuckDB's own default."""

    threads: Annotated[int, Field(ge=1)] | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None
    # the heaviest window models (int_funnel_attempts) are built in batches of users of
    # about this many input events each (dbt var duckdb_batch_events); None: one batch
    batch_events: Annotated[int, Field(ge=10_000)] | None = 2_500_000


class DataQualitySettings(_Section):
    """Thresholds of the data-quality suites (data_quality/); see config/settings.yaml."""

    max_reject_rate: Share = 0.05
    reject_rate_min_lines: NonNegativeInt = 100
    volume_band_low: Annotated[float, Field(gt=0, le=1)] = 0.5
    volume_band_high: Annotated[float, Field(ge=1)] = 2.0
    volume_history_weeks: Annotated[int, Field(ge=1)] = 4
    volume_min_history: Annotated[int, Field(ge=1)] = 2
    volume_blocking: bool = False
    max_days_late: NonNegativeInt = 7
    max_unknown_event_type_share: Share = 0.01
    max_rows_per_batch: Annotated[int, Field(ge=1000)] = 1_000_000
    freshness_max_lag_days: NonNegativeInt = 1
    # what "late" is judged against: the clock (scheduled runs) or the newest export day
    # loaded (backfills and demos of old data; `insights run --backfill` sets it)
    freshness_reference: Literal["clock", "data"] = "clock"


# --- ml ---------------------------------------------------------------------------


#: ml settings that change how the work runs, never its results (left out of model versions)
_ML_EXECUTION_ONLY = frozenset({"forecast_workers", "model_workers"})


class MLSettings(_Section):
    """The ``ml:`` section (predictors and analyses, models_ml/); documented inline in
    config/settings.yaml. :meth:`as_params` is part of every model version's hash."""

    seed: int = 42
    threads: Annotated[int, Field(ge=1)] = 1
    churn_horizon_days: PositiveDays = 14
    churn_population_days: PositiveDays = 28
    snapshot_every_days: PositiveDays = 7
    min_history_days: NonNegativeInt = 14
    test_snapshots: Annotated[int, Field(ge=1)] = 1
    goal_success_window_days: PositiveDays = 21
    risk_band_medium: Share = 0.3
    risk_band_high: Share = 0.6
    n_estimators: Annotated[int, Field(ge=1)] = 150
    learning_rate: Annotated[float, Field(gt=0)] = 0.05
    max_depth: Annotated[int, Field(ge=1)] = 3
    calibration_folds: Annotated[int, Field(ge=2)] = 3
    top_features: NonNegativeInt = 3
    min_auc_margin: float = 0.0
    bootstrap_resamples: Annotated[int, Field(ge=100)] = 1000
    bootstrap_confidence: Probability = 0.95
    forecast_horizon_days: PositiveDays = 30
    forecast_backtest_days: PositiveDays = 14
    forecast_min_history_days: PositiveDays = 28
    forecast_backtest_origins: Annotated[int, Field(ge=1)] = 6
    #: processes that fit the forecast series side by side (1: in this process); how the
    #: work runs, not what it computes, so not part of a model version
    forecast_workers: Annotated[int, Field(ge=1)] = 2
    #: processes that fit the classifiers' calibration folds and predict the churn and
    #: goal explanations and the drivers' permutation importance side by side (1: in this
    #: process); how the work runs, not what it computes, so not part of a model version
    model_workers: Annotated[int, Field(ge=1)] = 2
    ltv_horizon_days: PositiveDays = 90
    anomaly_threshold: Annotated[float, Field(gt=0)] = 3.5
    anomaly_lookback_days: PositiveDays = 90
    anomaly_min_volume: Annotated[float, Field(ge=0)] = 30.0
    user_anomaly_min_active_days: Annotated[int, Field(ge=1)] = 5
    user_anomaly_contamination: Annotated[float, Field(gt=0, le=0.5)] = 0.05
    segments_k_min: Annotated[int, Field(ge=2)] = 2
    segments_k_max: Annotated[int, Field(ge=2)] = 6
    experiment_alpha: Probability = 0.05
    experiment_power: Probability = 0.8
    experiment_windows_days: tuple[PositiveDays, ...] = (7, 14)
    experiment_mde: Annotated[float, Field(gt=0)] = 0.10
    bkt_min_attempts: Annotated[int, Field(ge=1)] = 200
    bkt_em_iterations: Annotated[int, Field(ge=1)] = 60
    retention_days: PositiveDays = 30
    drivers_repeats: Annotated[int, Field(ge=1)] = 5
    drivers_max_rows: Annotated[int, Field(ge=1000)] = 50_000
    retrain_every_days: NonNegativeInt = 7
    insights_min_significance: Share = 0.9
    insights_max_per_creator: NonNegativeInt = 10
    insights_max_per_kind: Annotated[int, Field(ge=1)] = 3
    insights_recent_days: PositiveDays = 7
    insights_pattern_weeks: PositiveDays = 8
    # business scenarios (models_ml/business.py): relative changes of conversion and
    # retention, and the trailing days whose revenue mix (new vs returning) they scale
    business_scenario_changes: tuple[Annotated[float, Field(gt=-1, le=10)], ...] = (-0.1, 0.1)
    business_mix_days: PositiveDays = 90
    # model monitoring (models_ml/monitoring.py): population stability index bins and the
    # PSI above which a feature or prediction has moved (warning) or shifted (alert)
    drift_bins: Annotated[int, Field(ge=2, le=50)] = 10
    drift_psi_warn: Annotated[float, Field(gt=0)] = 0.1
    drift_psi_alert: Annotated[float, Field(gt=0)] = 0.25

    @model_validator(mode="after")
    def _ranges(self) -> MLSettings:
        if self.segments_k_min > self.segments_k_max:
            raise ValueError("segments_k_min must not exceed segments_k_max")
        if self.risk_band_medium > self.risk_band_high:
            raise ValueError("risk_band_medium must not exceed risk_band_high")
        if self.drift_psi_warn > self.drift_psi_alert:
            raise ValueError("drift_psi_warn must not exceed drift_psi_alert")
        return self

    def as_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields
                if name not in _ML_EXECUTION_ONLY}


# --- reports ------------------------------------------------------------------------


class ReportsSettings(_Section):
    per_creator: bool = True            # a report per creator besides the overall one
    max_creators: NonNegativeInt = 20   # at most this many creators (most active first)
    top_insights: NonNegativeInt = 5    # insights shown per report
    engagement_days: NonNegativeInt = 60  # days of DAU/WAU/MAU in the engagement chart
    retention_cohorts: NonNegativeInt = 8  # most recent cohorts in the retention table
    # the marts.retention definition shown (mode on or on_or_after); None: signup to any
    # activity in mode on, weekly if defined
    retention_definition: str | None = None
    top_intents: NonNegativeInt = 10    # intents listed in the intent section
    anomaly_days: NonNegativeInt = 14   # anomalies of this many days before the as-of date
    max_anomalies: NonNegativeInt = 20
    forecast_days: NonNegativeInt = 30  # forecast horizon shown
    max_failures: NonNegativeInt = 20   # failed data-quality checks listed
    pdf: bool = False                   # also print each report to PDF (headless Chromium)
    pdf_browser: str | None = None      # the Chromium to print with; None: found on PATH
    # processes converting a render's charts to SVG beside it (vl-convert does one chart
    # at a time per process); 0: in the render's own process
    chart_workers: NonNegativeInt = 2
    # charts a render converts itself before it starts the workers. 0: the workers start
    # with the first chart (each in ~1.5 s, on the other core while the render goes on),
    # and the render's process never starts vl-convert's JavaScript engine. Faster than
    # 10 to 100 from the demo's 90 charts up (bench/results/issue23_session35.md)
    charts_before_workers: NonNegativeInt = 0


# --- alerts -------------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high")
Severity = Literal["low", "medium", "high"]


def severity_rank(severity: str) -> int:
    """low=0 < medium=1 < high=2; unknown severities rank below low."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


class Rule(_Section):
    """One alert rule, judged on the latest date of ``table`` (``schema.table``)::

        {name: dau_drop, kind: change_vs_same_weekday, table: marts.engagement_daily,
         metric: dau, per_creator: true, max_drop: 0.25, severity: high}
        {name: fallback_rate_high, kind: threshold, table: marts.nlu_daily,
         metric: fallback_rate, above: 0.3, severity: medium}
        {name: anomalies, kind: anomaly, table: ml.metric_anomalies, min_severity: high}
    """

    name: str
    kind: Literal["threshold", "change_vs_same_weekday", "anomaly"]
    table: str = ""  # anomaly rules: ml.metric_anomalies
    metric: str | None = None
    per_creator: bool | None = None  # every creator row and '__all__'; default: anomaly rules
    severity: Severity | None = None  # None: the anomaly's own severity, else medium
    above: float | None = None  # threshold: fires when value > above
    below: float | None = None  # threshold: fires when value < below
    max_drop: float | None = None  # change: fires when (previous - latest) / previous > max_drop
    min_baseline: float = 0.0  # change: only when the previous value is at least this
    volume_column: str | None = None  # threshold: judged only on rows with volume >= min_volume
    min_volume: float = 0.0
    min_severity: Severity = "high"  # anomaly: the lowest anomaly severity that alerts
    metric_prefix: str | None = None  # anomaly: only metrics starting so (net_revenue_)
    direction: Literal["up", "down"] | None = None  # anomaly: only departures this way
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if not _IDENT.match(self.name):
            raise ValueError("name must be letters, digits and underscores")
        if not self.table:
            if self.kind != "anomaly":
                raise ValueError(f"a {self.kind} rule needs a table (schema.table)")
            object.__setattr__(self, "table", "ml.metric_anomalies")
        if not _TABLE.match(self.table):
            raise ValueError(f"table must be schema.table, got {self.table!r}")
        for key in ("metric", "volume_column", "metric_prefix"):
            value = getattr(self, key)
            if value is not None and not _IDENT.match(value):
                raise ValueError(f"{key} must be a column name, got {value!r}")
        if self.per_creator is None:
            object.__setattr__(self, "per_creator", self.kind == "anomaly")
        if self.kind in ("threshold", "change_vs_same_weekday") and not self.metric:
            raise ValueError(f"a {self.kind} rule needs a metric")
        if self.kind == "threshold" and self.above is None and self.below is None:
            raise ValueError("a threshold rule needs above and/or below")
        if self.kind == "change_vs_same_weekday" and (self.max_drop is None
                                                      or self.max_drop <= 0):
            raise ValueError("a change_vs_same_weekday rule needs max_drop > 0")
        return self

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    def alert_severity(self, found: str | None = None) -> str:
        return self.severity or found or "medium"


_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class SinkConfig(_Section):
    """A sink: ``file`` (JSON lines at ``path``, default
    ``<INSIGHTS_REPORTS_DIR>/alerts/alerts.jsonl``), ``webhook`` (HTTP POST to ``url``)
    or ``email`` (one message per run listing its alerts, through the SMTP server
    ``smtp_host``:``smtp_port``, STARTTLS when ``starttls``, logged in as ``username``
    with the password in the environment variable ``password_env``)."""

    type: Literal["file", "webhook", "email"]
    name: str = ""
    path: Path | None = None
    url: str | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 5.0
    headers: tuple[tuple[str, str], ...] = ()
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple((str(k), str(v)) for k, v in value.items())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SinkConfig:
        if not self.name:
            object.__setattr__(self, "name", self.type)
        if self.type == "webhook":
            url = urlparse(self.url or "")
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(f"url must be an http(s) URL, got {self.url!r}")
        if self.type == "email":
            if not self.smtp_host:
                raise ValueError("an email sink needs smtp_host")
            bad = [a for a in (self.sender or "", *self.to) if not _EMAIL.match(a)]
            if not self.to or bad:
                raise ValueError("an email sink needs sender and to: e-mail addresses"
                                 + (f" (not one: {bad[0]!r})" if bad else ""))
            if self.username and not self.password_env:
                raise ValueError("username needs password_env: the environment variable "
                                 "holding the password (never the password itself)")
        return self

    def placed(self, reports_root: Path) -> SinkConfig:
        """A file sink's path made absolute (default under the reports folder)."""
        if self.type != "file":
            return self
        path = self.path.expanduser() if self.path else reports_root / "alerts" / "alerts.jsonl"
        return self.model_copy(update={"path": path.resolve()})


DEFAULT_ALERT_RULES: tuple[dict[str, Any], ...] = (
    {"name": "dau_drop", "kind": "change_vs_same_weekday", "table": "marts.engagement_daily",
     "metric": "dau", "per_creator": True, "max_drop": 0.25, "min_baseline": 20,
     "severity": "high"},
    {"name": "fallback_rate_high", "kind": "threshold", "table": "marts.nlu_daily",
     "metric": "fallback_rate", "above": 0.3, "volume_column": "classifications",
     "min_volume": 50, "severity": "medium"},
    {"name": "error_rate_high", "kind": "threshold", "table": "raw.load_audit",
     "metric": "reject_rate", "above": 0.05, "volume_column": "lines_read", "min_volume": 100,
     "severity": "high"},
    {"name": "anomalies", "kind": "anomaly", "table": "ml.metric_anomalies",
     "min_severity": "high"},
    {"name": "revenue_anomaly", "kind": "anomaly", "table": "ml.metric_anomalies",
     "metric_prefix": "net_revenue_", "min_severity": "medium", "per_creator": False},
    {"name": "purchases_drop", "kind": "anomaly", "table": "ml.metric_anomalies",
     "metric": "purchases", "direction": "down", "min_severity": "medium",
     "per_creator": False},
    {"name": "funnel_conversion_drop", "kind": "anomaly", "table": "ml.metric_anomalies",
     "metric_prefix": "funnel_conversion_", "min_severity": "medium", "per_creator": False,
     "direction": "down"},
    {"name": "automated_traffic", "kind": "anomaly", "table": "ml.metric_anomalies",
     "metric": "sessions_per_user", "direction": "up", "min_severity": "medium"},
)


class AlertSettings(_Section):
    enabled: bool = True  # false: the ops/alerts asset evaluates nothing
    rules: tuple[Rule, ...] = Field(
        default_factory=lambda: tuple(Rule.model_validate(r) for r in DEFAULT_ALERT_RULES))
    sinks: tuple[SinkConfig, ...] = Field(
        default_factory=lambda: (SinkConfig(type="file"),))

    @model_validator(mode="after")
    def _unique(self) -> AlertSettings:
        names = [r.name for r in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"duplicate rule names {twice}")
        sink_names = [s.name for s in self.sinks]
        if len(set(sink_names)) != len(sink_names):
            raise ValueError(f"sink names must be unique (set name:), got {sink_names}")
        return self

    def placed(self, reports_root: Path) -> AlertSettings:
        return self.model_copy(update={"sinks": tuple(s.placed(reports_root)
                                                      for s in self.sinks)})


# --- paths and the environment ------------------------------------------------------


class PathSettings(_Section):
    """Where things are: absolute paths from the environment (see the module docstring)."""

    settings_file: Path
    warehouse: Path
    landing: Path
    dagster_home: Path
    reports: Path
    serving: Path
    analyses: Path
    analyses_max_rows: int = DEFAULT_ANALYSES_MAX_ROWS

    @property
    def data_quality_page(self) -> Path:
        return self.reports / "data_quality" / "index.html"


def env_path(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """An absolute path from its environment variable, or its default under ``data/``."""
    value = (os.environ if environ is None else environ).get(name)
    return Path(value).expanduser().resolve() if value else PATH_DEFAULTS[name].resolve()


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_SETTINGS) or DEFAULT_SETTINGS_FILE).expanduser().resolve()


def read_paths(environ: Mapping[str, str] | None = None) -> PathSettings:
    """The paths of the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    analyses = env.get(ENV_ANALYSES_DIR)
    raw_rows = env.get(ENV_ANALYSES_MAX_ROWS)
    try:
        max_rows = int(raw_rows) if raw_rows else DEFAULT_ANALYSES_MAX_ROWS
    except ValueError:
        raise SettingsError(
            f"{ENV_ANALYSES_MAX_ROWS}={raw_rows!r}: expected a whole number of rows") from None
    if max_rows < 1:
        raise SettingsError(f"{ENV_ANALYSES_MAX_ROWS}={raw_rows!r}: expected at least 1")
    return PathSettings(
        settings_file=settings_path(env),
        warehouse=env_path(ENV_WAREHOUSE, env),
        landing=env_path(ENV_LANDING, env),
        dagster_home=env_path(ENV_DAGSTER_HOME, env),
        reports=env_path(ENV_REPORTS, env),
        serving=env_path(ENV_SERVING, env),
        analyses=(Path(analyses).expanduser().resolve() if analyses
                  else PROJECT_ROOT / "analyses"),
        analyses_max_rows=min(max_rows, HARD_ANALYSES_MAX_ROWS),
    )


# --- the whole -----------------------------------------------------------------------


class Settings(_Section):
    metrics: MetricsSettings = MetricsSettings()
    ingest: IngestSettings = IngestSettings()
    duckdb: DuckDBSettings = DuckDBSettings()
    data_quality: DataQualitySettings = DataQualitySettings()
    ml: MLSettings = MLSettings()
    reports: ReportsSettings = ReportsSettings()
    alerts: AlertSettings = AlertSettings()
    paths: PathSettings | None = None  # set by load_settings; not a section of the file

    @model_validator(mode="after")
    def _report_retention_defined(self) -> Settings:
        name = self.reports.retention_definition
        if name is None:
            return self
        modes = {d.name: d.mode for d in self.metrics.retention}
        if modes.get(name) not in ("on", "on_or_after"):
            known = ", ".join(n for n, m in modes.items() if m != "brackets") or "none"
            raise ValueError(f"reports.retention_definition {name!r} is not an `on` or "
                             f"`on_or_after` definition of metrics.retention ({known})")
        return self

    @property
    def reporting_timezone(self) -> str:
        return self.metrics.reporting_timezone

    @property
    def source(self) -> Path | None:
        return self.paths.settings_file if self.paths else None

    def require_paths(self) -> PathSettings:
        if self.paths is None:
            raise SettingsError("settings without paths: load them with load_settings()")
        return self.paths

    def dbt_vars(self) -> dict[str, Any]:
        """The vars every dbt invocation gets: the ``metrics`` section, flat (dates as
        ISO strings; a funnel step without a name or filters leaves the key out), and
        ``duckdb.batch_events`` as ``duckdb_batch_events``."""
        out = self.metrics.model_dump(mode="json", exclude={"funnels", "retention", "paths"})
        out["retention"] = [d.as_var() for d in self.metrics.retention]
        out["paths"] = [d.as_var() for d in self.metrics.paths]
        out["funnels"] = [f.as_var() for f in self.metrics.funnels]
        out["duckdb_batch_events"] = self.duckdb.batch_events
        return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is Annotated:
        return _model_of(get_args(annotation)[0])
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _unknown_key(model: type[BaseModel], raw: Any, where: str) -> str | None:
    """The first key of ``raw`` that ``model`` does not know, as one line with the
    closest known key; None when every key (recursively) is known."""
    if not isinstance(raw, Mapping):
        return None
    fields = {(f.alias or k): k for k, f in model.model_fields.items()
              if not (model is Settings and k == "paths")}
    known = list(fields)
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" — did you mean `{close[0]}`?" if close else (
                f" (known: {', '.join(known)})")
            return f"unknown setting `{path}`{hint}"
        inner = _model_of(model.model_fields[fields[key]].annotation)
        if inner is None:
            continue
        if inner is Selector:
            value = _selector_shorthand(value)
        items = value if isinstance(value, list | tuple) else [value]
        for i, item in enumerate(items):
            label = f"{path}[{i}]" if isinstance(value, list | tuple) else path
            if isinstance(item, Mapping) and "name" in item and isinstance(value, list | tuple):
                label = f"{path}[{i}] ({item['name']})"
            found = _unknown_key(inner, item, label)
            if found:
                return found
    return None


_EXPECTED = {
    "int_parsing": "a whole number", "int_type": "a whole number",
    "int_from_float": "a whole number", "float_parsing": "a number", "float_type": "a number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "a string", "date_from_datetime_parsing": "a date YYYY-MM-DD",
    "date_parsing": "a date YYYY-MM-DD", "date_type": "a date YYYY-MM-DD",
    "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
    "missing": "a value (required)",
}


def _loc(loc: tuple[Any, ...], raw: Any) -> str:
    """``('alerts', 'rules', 0, 'kind')`` -> ``alerts.rules[0] (dau_drop).kind``."""
    out, node = "", raw
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list | tuple) and part < len(
                node) and isinstance(node[part], Mapping) else None
            out += f"[{part}]" + (f" ({name})" if name else "")
        elif isinstance(part, str) and not part.startswith(("function-", "lax-", "union[")):
            if part in ("int", "float", "str", "bool", "date", "none") or "[" in part:
                continue
            if part[:1].isupper():  # a union member's model name (Selector)
                continue
            out += f".{part}" if out else part
        else:
            continue
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _error_line(exc: ValidationError, raw: Any) -> str:
    errors = exc.errors(include_url=False)
    # a union reports one error per member: the first is the telling one, except for a
    # mapping, list or string given where a literal or a model may stand (a retention
    # start or return selector): then the model's error tells what is wrong
    err = errors[0]
    if err["type"] == "literal_error" and isinstance(err.get("input"), Mapping | list | str):
        # an event type's shorthand (a string) that is not the literal: the selector's
        # error on the same key says what is wrong with it
        same_key = [e for e in errors[1:] if e["type"] != "literal_error"
                    and tuple(e["loc"][:len(err["loc"]) - 1]) == tuple(err["loc"][:-1])]
        err = same_key[0] if same_key else err
    where = _loc(tuple(err["loc"]), raw)
    value = err.get("input")
    expected = _EXPECTED.get(err["type"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"`{where}` is required"
    if expected is None and err["type"].startswith(("greater", "less")):
        expected = message.replace("Input should be", "a value")
    if expected is None and err["type"] == "literal_error":
        expected = message.replace("Input should be", "one of")
    if not where:  # a check across sections: its message names the keys
        return message
    text = f"`{where}` = {value!r}"
    if expected is not None:
        return f"{text}: expected {expected}"
    if isinstance(value, Mapping):
        text = f"`{where}`"
    return f"{text}: {message}"


def parse_settings(raw: Any, *, paths: PathSettings | None = None,
                   source: str = "settings") -> Settings:
    """Settings from the parsed YAML document (pure); :class:`SettingsError` in one line."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{source}: expected a mapping of sections, got {raw!r}")
    unknown = _unknown_key(Settings, raw, "")
    if unknown:
        raise SettingsError(f"{source}: {unknown}")
    try:
        settings = Settings.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(f"{source}: {_error_line(exc, raw)}") from None
    if paths is not None:
        settings = settings.model_copy(update={"paths": paths})
    return settings


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"no settings file at {path} (set {ENV_SETTINGS})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"{path}{at}: not valid YAML ({problem})") from None


@lru_cache(maxsize=8)
def _load(paths: PathSettings, mtime_ns: int) -> Settings:
    raw = _read_yaml(paths.settings_file)
    return parse_settings(raw, paths=paths, source=str(paths.settings_file))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings in force: the file and the environment, validated (cached until the
    file or the environment's paths change). Raises :class:`SettingsError`."""
    paths = read_paths(environ)
    try:
        mtime = paths.settings_file.stat().st_mtime_ns
    except FileNotFoundError:
        raise SettingsError(
            f"no settings file at {paths.settings_file} (set {ENV_SETTINGS})") from None
    return _load(paths, mtime)


def export_duckdb_env(limits: DuckDBSettings) -> None:
    """DuckDB limits of the settings, for dbt's profiles.yml (which reads them)."""
    for attr, name in DUCKDB_ENV.items():
        value = getattr(limits, attr)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)


def export_path_defaults(paths: PathSettings | None = None) -> None:
    """Put the resolved paths into the environment, so subprocesses (dbt) and Dagster
    resources (``dg.EnvVar``) read the same files as this process."""
    paths = paths or read_paths()
    os.environ[ENV_WAREHOUSE] = str(paths.warehouse)
    os.environ[ENV_LANDING] = str(paths.landing)
    os.environ[ENV_DAGSTER_HOME] = str(paths.dagster_home)
    os.environ[ENV_REPORTS] = str(paths.reports)
    os.environ[ENV_SERVING] = str(paths.serving)


__all__ = [
    "DBT_PROJECT_DIR", "PROJECT_ROOT", "AlertSettings", "DataQualitySettings",
    "DuckDBSettings", "Funnel", "FunnelBreakdown", "FunnelExclusion", "FunnelStep",
    "FunnelWindow", "IngestSettings", "MLSettings",
    "MetricsSettings", "PathDefinition", "PathSettings", "ReportsSettings",
    "RetentionDefinition", "Rule",
    "Selector", "SelectorAlternative", "SelectorFilter", "Settings",
    "SettingsError", "SinkConfig", "load_settings", "parse_settings",
]
