"""Contract v1 rules for one event line, compiled to one DuckDB SELECT.

Pure functions: the rules are data, ``parse_sql`` turns them into SQL that maps a table
of lines ``(file_id, line_number, txt, raw, is_parquet)`` to typed columns plus a
``reason_code``/``reason`` (NULL for a valid line). Unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind: str | int | num | bool | obj
KIND_LABEL = {"str": "string", "int": "integer", "num": "number", "bool": "boolean", "obj": "object"}
KIND_JSON_TYPES = {
    "str": ("VARCHAR",),
    "int": ("BIGINT", "UBIGINT", "DOUBLE"),  # DOUBLE only when integral, checked below
    "num": ("BIGINT", "UBIGINT", "DOUBLE"),
    "bool": ("BOOLEAN",),
    "obj": ("OBJECT",),
}
KIND_SQL_TYPE = {"str": "VARCHAR", "int": "BIGINT", "num": "DOUBLE", "bool": "BOOLEAN", "obj": "JSON"}


@dataclass(frozen=True)
class Field:
    """One JSON field: where it is, what column it lands in, what it must be."""

    path: str  # JSON key at the top level, or inside `data` when in_data
    column: str
    kind: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    in_data: bool = False

    @property
    def label(self) -> str:
        return f"data.{self.path}" if self.in_data else self.path


TOP_FIELDS: tuple[Field, ...] = (
    Field("event_id", "event_id", "str", required=True),
    Field("event_type", "event_type", "str", required=True),
    Field("timestamp", "timestamp_text", "str", required=True),
    Field("session_id", "session_id", "str", required=True),
    Field("user_id", "user_id", "str"),
    Field("creator_id", "creator_id", "str"),
    Field("agent_id", "agent_id", "str"),
    Field("program_id", "program_id", "str"),
    Field("channel", "channel", "str"),
    Field("platform", "platform", "str"),
    Field("location", "location", "str"),
    Field("duration_ms", "duration_ms", "int", low=0),
    Field("response_time_ms", "response_time_ms", "int", low=0),
    Field("confidence", "confidence", "num", low=0, high=1),
    Field("sentiment", "sentiment", "str"),
    Field("data", "data", "obj"),
)

DATA_FIELDS: tuple[Field, ...] = (
    Field("text_length", "text_length", "int", low=0, in_data=True),
    Field("intent", "intent", "str", in_data=True),
    Field("entity", "entity", "str", in_data=True),
    Field("value", "entity_value", "str", in_data=True),
    Field("workflow", "workflow", "str", in_data=True),
    Field("endpoint", "endpoint", "str", in_data=True),
    Field("status_code", "status_code", "int", in_data=True),
    Field("latency_ms", "latency_ms", "int", low=0, in_data=True),
    Field("error_code", "error_code", "str", in_data=True),
    Field("message", "error_message", "str", in_data=True),
    Field("rating", "rating", "int", low=1, high=5, in_data=True),
    Field("comment", "feedback_comment", "str", in_data=True),
    Field("topic", "topic", "str", in_data=True),
    Field("lesson_id", "lesson_id", "str", in_data=True),
    Field("skill", "skill", "str", in_data=True),
    Field("correct", "correct", "bool", in_data=True),
    Field("quality", "quality", "num", low=0, high=1, in_data=True),
    Field("goal_id", "goal_id", "str", in_data=True),
    Field("goal_type", "goal_type", "str", in_data=True),
    Field("target_value", "target_value", "num", in_data=True),
    Field("escalated_to_human", "escalated_to_human", "bool", in_data=True),
)

KNOWN_TOP_KEYS = tuple(f.path for f in TOP_FIELDS)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _jpath(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


def _value_expr(src: str) -> str:
    """SQL of the JSON value's scalar text."""
    return f"({src} ->> '$')"


def type_ok_sql(field: Field, src: str) -> str:
    """TRUE when the JSON value ``src`` (JSON or SQL NULL) has the field's kind (or is null)."""
    allowed = ", ".join(_q(t) for t in KIND_JSON_TYPES[field.kind])
    base = f"(json_type({src}) IS NULL OR json_type({src}) IN ('NULL', {allowed}))"
    if field.kind == "int":
        # 5.0 is an integer; 5.5 is not
        return (
            f"({base} AND (json_type({src}) IS DISTINCT FROM 'DOUBLE'"
            f" OR try_cast({_value_expr(src)} AS DOUBLE) = floor(try_cast({_value_expr(src)} AS DOUBLE))))"
        )
    return base


def typed_sql(field: Field, src: str) -> str:
    """SQL of the field's typed value (NULL when absent, null, or of the wrong kind)."""
    if field.kind == "obj":
        return f"CASE WHEN json_type({src}) = 'OBJECT' THEN {src} END"
    if field.kind == "str":
        return f"CASE WHEN json_type({src}) = 'VARCHAR' THEN {_value_expr(src)} END"
    if field.kind == "bool":
        return f"CASE WHEN json_type({src}) = 'BOOLEAN' THEN {_value_expr(src)} = 'true' END"
    if field.kind == "int":
        return f"try_cast(try_cast({_value_expr(src)} AS DOUBLE) AS BIGINT)"
    return f"try_cast({_value_expr(src)} AS DOUBLE)"


def range_ok_sql(field: Field, typed: str) -> str | None:
    """TRUE when the typed value is within the field's range (or null); None: no range."""
    conds = []
    if field.low is not None:
        conds.append(f"{typed} >= {field.low}")
    if field.high is not None:
        conds.append(f"{typed} <= {field.high}")
    if not conds:
        return None
    return f"({typed} IS NULL OR ({' AND '.join(conds)}))"


def range_label(field: Field) -> str:
    if field.low is not None and field.high is not None:
        return f"[{field.low:g}, {field.high:g}]"
    if field.low is not None:
        return f">= {field.low:g}"
    return f"<= {field.high:g}"


def parse_sql(lines_table: str, *, export_date: str, late_days: int, future_days: int) -> str:
    """One SELECT from ``lines_table`` giving typed event columns and the reject reason.

    ``lines_table`` has (file_id, line_number, txt, raw, is_parquet): ``txt`` the line as
    text without its terminator (NULL when it is not valid UTF-8), ``raw`` the text to
    keep in the rejects table. Blank lines must already be removed.
    """
    top_paths = ", ".join(_q(_jpath(f.path)) for f in TOP_FIELDS)
    data_paths = ", ".join(_q(_jpath(f.path)) for f in DATA_FIELDS)
    removal = "{" + ", ".join(f'"{k}": null' for k in KNOWN_TOP_KEYS) + "}"

    top_src = {f.column: f"tv[{i + 1}]" for i, f in enumerate(TOP_FIELDS)}
    data_src = {f.column: f"dv[{i + 1}]" for i, f in enumerate(DATA_FIELDS)}
    all_fields = [(f, top_src[f.column]) for f in TOP_FIELDS if f.column != "data"] + [
        (f, data_src[f.column]) for f in DATA_FIELDS
    ]

    checks: list[tuple[str, str, str]] = [
        ("txt IS NULL", "invalid_utf8", _q("line is not valid UTF-8")),
        ("NOT is_object", "invalid_json", _q("line is not a valid JSON object")),
    ]
    for f in TOP_FIELDS:
        if f.required:
            src = top_src[f.column]
            checks.append(
                (
                    f"json_type({src}) IS NULL OR json_type({src}) = 'NULL'"
                    f" OR (json_type({src}) = 'VARCHAR' AND trim({_value_expr(src)}) = '')",
                    "missing_field",
                    _q(f"required field {f.label} is missing, null or empty"),
                )
            )
    data_field = next(f for f in TOP_FIELDS if f.column == "data")
    checks.append(
        (
            f"NOT {type_ok_sql(data_field, 'data_json')}",
            "wrong_type",
            "'data: expected object, got ' || json_type(data_json)",
        )
    )
    for f, src in all_fields:
        checks.append(
            (
                f"NOT {type_ok_sql(f, src)}",
                "wrong_type",
                _q(f"{f.label}: expected {KIND_LABEL[f.kind]}, got ") + f" || json_type({src})",
            )
        )
    for f, src in all_fields:
        ok = range_ok_sql(f, typed_sql(f, src))
        if ok is not None:
            checks.append(
                (
                    f"NOT {ok}",
                    "out_of_range",
                    _q(f"{f.label} = ") + f" || {_value_expr(src)} || "
                    + _q(f" is out of range (expected {range_label(f)})"),
                )
            )
    ts_text = typed_sql(TOP_FIELDS[2], top_src["timestamp_text"])
    checks += [
        (
            "ts_utc IS NULL",
            "invalid_timestamp",
            f"'timestamp ' || {ts_text} || ' is not an ISO-8601 date-time'",
        ),
        (
            f"ts_utc >= DATE {_q(export_date)} + INTERVAL {future_days + 1} DAY",
            "timestamp_too_late",
            f"'timestamp ' || {ts_text} || ' is after the end of the day following export date "
            f"{export_date}'",
        ),
        (
            f"ts_utc < DATE {_q(export_date)} - INTERVAL {late_days} DAY",
            "timestamp_too_early",
            f"'timestamp ' || {ts_text} || ' is more than {late_days} days before export date "
            f"{export_date}'",
        ),
    ]
    reason_code = "CASE " + " ".join(f"WHEN {c} THEN {_q(code)}" for c, code, _ in checks) + " END"
    reason = "CASE " + " ".join(f"WHEN {c} THEN {detail}" for c, _, detail in checks) + " END"

    typed_cols = ",\n        ".join(
        f"{typed_sql(f, src)} AS {f.column}"
        for f, src in all_fields
        if f.column != "timestamp_text"
    )
    return f"""
WITH objects AS (
    SELECT file_id, line_number, txt, raw, is_parquet,
           coalesce(CASE WHEN json_valid(txt) THEN json_type(txt) = 'OBJECT' END, false)
               AS is_object
    FROM {lines_table}
), extracted AS (
    SELECT *,
           CASE WHEN is_object THEN json_extract(txt, [{top_paths}]) END AS tv
    FROM objects
), with_data AS (
    SELECT *,
           CASE
               -- Parquet writers may store `data` as a JSON string: unwrap it
               WHEN is_parquet AND json_type(tv[{len(TOP_FIELDS)}]) = 'VARCHAR'
                    AND json_valid({_value_expr(f"tv[{len(TOP_FIELDS)}]")})
                    THEN {_value_expr(f"tv[{len(TOP_FIELDS)}]")}::JSON
               ELSE tv[{len(TOP_FIELDS)}]
           END AS data_json
    FROM extracted
), with_values AS (
    SELECT *,
           CASE WHEN json_type(data_json) = 'OBJECT'
                THEN json_extract(data_json, [{data_paths}]) END AS dv,
           try_cast({ts_text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS ts_utc
    FROM with_data
)
SELECT file_id, line_number, raw,
       {reason_code} AS reason_code,
       {reason} AS reason,
        {typed_cols},
        ts_utc AS event_ts,
        CASE WHEN json_type(data_json) = 'OBJECT' THEN data_json END AS data,
        CASE WHEN is_object THEN nullif(
            json_merge_patch(txt, '{removal}')::VARCHAR, '{{}}')::JSON END AS extra
FROM with_values
"""
