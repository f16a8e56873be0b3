"""Contract v1 rules for one event line, compiled to one DuckDB SELECT.

Pure functions: the rules are data, ``parse_sql`` turns them into SQL that maps a table
of lines ``(file_id, line_number, txt, raw, is_parquet)`` to typed columns plus a
``reason_code``/``reason`` (NULL for a valid line). Unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind: str | int | num | bool | obj
KIND_LABEL = {
    "str": "string", "int": "integer", "num": "number", "bool": "boolean", "obj": "object",
    "any": "any value",
}


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
    # event types that carry this `data` field (contract v1); empty: any event type
    event_types: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"data.{self.path}" if self.in_data else self.path


TOP_FIELDS: tuple[Field, ...] = (
    Field("event_id", "event_id", "str", required=True),
    Field("event_type", "event_type", "str", required=True),
    Field("timestamp", "timestamp_text", "str", required=True),
    Field("session_id", "session_id", "str", required=True),
    Field("user_id", "user_id", "str"),
    Field("anonymous_id", "anonymous_id", "str"),  # contract 1.1: device or browser id
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

_MSG = ("user_message", "bot_response")
_WORKFLOW = ("workflow_started", "workflow_completed", "workflow_failed")
_LESSON = ("lesson_started", "lesson_completed")
_GOAL = ("goal_created", "goal_completed")


def _data(path: str, column: str, kind: str, types: tuple[str, ...], **kw: float) -> Field:
    return Field(path, column, kind, in_data=True, event_types=types, **kw)  # type: ignore[arg-type]


# The `data` fields of contract v1, typed and checked only on the event types that carry
# them (`custom` events carry anything). Kind "any" = the contract gives no type: the
# value is kept as text. Ranges where the contract states one, and >= 0 for a length and
# a latency (the contract's "a negative duration"): the raw suite's blocking checks hold
# them non-negative, so a loaded negative value would stop every publish, not one line.
DATA_FIELDS: tuple[Field, ...] = (
    _data("text_length", "text_length", "int", _MSG, low=0),
    _data("intent", "intent", "str", ("intent_classified",)),
    _data("entity", "entity", "any", ("entity_extracted",)),
    _data("value", "entity_value", "any", ("entity_extracted",)),
    _data("workflow", "workflow", "str", _WORKFLOW),
    _data("endpoint", "endpoint", "any", ("api_call",)),
    _data("status_code", "status_code", "int", ("api_call",)),
    _data("latency_ms", "latency_ms", "int", ("api_call",), low=0),
    _data("error_code", "error_code", "any", ("error",)),
    _data("message", "error_message", "any", ("error",)),
    _data("rating", "rating", "int", ("user_feedback",), low=1, high=5),
    _data("comment", "feedback_comment", "any", ("user_feedback",)),
    _data("topic", "topic", "any", (*_LESSON, "exercise_attempted", "goal_created")),
    _data("lesson_id", "lesson_id", "any", _LESSON),
    _data("skill", "skill", "any", ("exercise_attempted",)),
    _data("correct", "correct", "bool", ("exercise_attempted",)),
    _data("quality", "quality", "num", ("lesson_completed", "exercise_attempted"), low=0, high=1),
    _data("goal_id", "goal_id", "any", _GOAL),
    _data("goal_type", "goal_type", "any", _GOAL),
    _data("target_value", "target_value", "num", _GOAL),
    _data("escalated_to_human", "escalated_to_human", "bool", ()),
)

KNOWN_TOP_KEYS = tuple(f.path for f in TOP_FIELDS)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# An ISO-8601 date-time starts with its year's digits. DuckDB's cast also reads the words
# 'epoch', 'infinity' and '-infinity' as timestamps: those are not dates of the contract.
ISO_START = "left(ltrim({}), 1) BETWEEN '0' AND '9'"

# A value's JSON kind is read off the first character of its JSON text (t_<column>):
# '"' string, '{' object, '[' array, 't'/'f' boolean, anything else a number; NULL when
# the field is absent or null. Its typed value (v_<column>) is converted from that JSON
# text (``typed_value_sql``): the line itself is parsed once, not again for typed values.
NUMBER_FIRST = "NOT IN ('\"', '{', '[', 't', 'f', 'n')"
TYPED_TARGET = {"str": "VARCHAR", "int": "DOUBLE", "num": "DOUBLE", "bool": "BOOLEAN",
                "obj": "JSON", "any": "VARCHAR"}


def _ident(key: str) -> str:
    return '"' + key.replace('"', '""') + '"'


def typed_value_sql(field: Field, j: str) -> str:
    """The field's typed value from its JSON text ``j`` (a JSON value; NULL when absent):
    what a typed ``from_json`` of the whole object gives, without parsing the object again.
    Only the value's own (short) JSON text is read, by the same JSON-to-type conversion."""
    target = TYPED_TARGET[field.kind]
    if target in ("VARCHAR", "JSON"):
        return f"({j} ->> '$')"  # a string unescaped, any other value as its JSON text
    return f"try_cast({j} AS {target})"


def kind_name_sql(t: str) -> str:
    """Readable kind of a value from its first character (for reject messages)."""
    return (
        f"CASE {t} WHEN '\"' THEN 'string' WHEN '{{' THEN 'object' WHEN '[' THEN 'array' "
        f"WHEN 't' THEN 'boolean' WHEN 'f' THEN 'boolean' ELSE 'number' END"
    )


def _is_kind_sql(kind: str, t: str) -> str:
    if kind == "any":
        return "true"
    if kind == "str":
        return f"{t} = '\"'"
    if kind == "obj":
        return f"{t} = '{{'"
    if kind == "bool":
        return f"{t} IN ('t', 'f')"
    return f"{t} {NUMBER_FIRST}"


def applies_sql(field: Field) -> str:
    """TRUE on the lines whose event type carries the field."""
    if not field.event_types:
        return "true"
    return "v_event_type IN (" + ", ".join(_q(t) for t in field.event_types) + ")"


def type_ok_sql(field: Field, t: str, v: str) -> str:
    """TRUE when a value whose JSON text starts with ``t`` (NULL: absent or null) and whose
    typed value is ``v`` has the field's kind, or when the field does not apply."""
    ok = f"{t} IS NULL OR {_is_kind_sql(field.kind, t)}"
    if field.kind == "int":
        # 5.0 is an integer; 5.5 is not
        ok = f"{ok} AND ({t} IS NULL OR {v} = floor({v}))"
    if field.kind in ("int", "num"):
        ok = f"{ok} AND ({t} IS NULL OR isfinite({v}))"
    return f"(NOT {applies_sql(field)} OR ({ok}))"


def typed_sql(field: Field, t: str, v: str, text: str = "NULL") -> str:
    """SQL of the field's typed value (NULL when absent, null, of the wrong kind, or on an
    event type that does not carry it). ``text`` is the value's JSON text (exact integers)."""
    when = f"{applies_sql(field)} AND {_is_kind_sql(field.kind, t)}"
    if field.kind == "int":
        # plain digits: exact from the text (a cast of the double would round
        # -9223372036854775809 into range); 5.0 or 1e3: the double, where it holds every
        # integer exactly (beyond 2**53 its fraction is lost: 2**53 + 1.5 is no integer)
        exact = (
            f"CASE WHEN regexp_full_match({text}, '-?[0-9]+') THEN try_cast({text} AS BIGINT) "
            f"WHEN abs({v}) <= {2**53} THEN try_cast({v} AS BIGINT) END"
        )
        return f"CASE WHEN {when} THEN {exact} END"
    if field.kind in ("num",):
        return f"CASE WHEN {when} AND isfinite({v}) THEN {v} END"
    return f"CASE WHEN {when} THEN {v} END"


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


def _json_struct_sql(fields: tuple[Field, ...]) -> str:
    """The struct type ``from_json`` reads ``fields`` into: each field's JSON text, NULL
    when absent or null. The line path and the bulk path both parse with it."""
    return "{" + ", ".join(f'"{f.path}": "JSON"' for f in fields) + "}"


def bulk_lines_sql(source: str) -> str:
    """``ordinality``, ``rest`` and ``j`` (:func:`parse_sql`'s bulk columns) of each line
    of ``source``: a relation of (``m``, the line read as JSON, NULL when the reader could
    not; ``ordinality``).

    ``j`` is what the line path gives a line: ``from_json`` of it with the struct of the
    known top-level fields' JSON texts. ``rest`` is the line's JSON unless its keys are
    known fields only, each once and not null: a count of its keys equal to the count of
    ``j``'s non-NULL fields (the common case; no second parse of the line for the known
    keys). Otherwise the validation removes the known keys from ``rest`` as from a line's
    text, so a line whose other keys are none (a known field null, a key twice) gets no
    ``extra`` either way. A line that is not an object gets NULL ``j``: it takes the line
    path, as when the reader failed."""
    struct = _q(_json_struct_sql(TOP_FIELDS))
    present = " + ".join(f"(j.{_ident(f.path)} IS NOT NULL)::INTEGER" for f in TOP_FIELDS)
    return f"""
    SELECT ordinality,
           CASE WHEN is_object AND len(json_keys(m)) <> {present} THEN m::VARCHAR END
               AS rest,
           j
    FROM (
        SELECT ordinality, m, is_object,
               CASE WHEN is_object THEN from_json(m, {struct}) END AS j
        FROM (SELECT ordinality, m, coalesce(left(m::VARCHAR, 1) = '{{', false) AS is_object
              FROM {source})
    )
    """


def parse_sql(lines_table: str, *, export_date: str | None, future_days: int,
              bulk: bool = False) -> str:
    """One SELECT from ``lines_table`` giving typed event columns and the reject reason.

    ``lines_table`` has (file_id, line_number, txt, raw, is_parquet): ``txt`` the line as
    text without its terminator (NULL when it is not valid UTF-8), ``raw`` the text to
    keep in the rejects table. Blank lines must already be removed. ``export_date``
    (ISO) applies to every line; None: ``lines_table`` has an ``export_date`` DATE column
    (lines of several export days validated at once).

    Each line's JSON is parsed once; every field's JSON type (``t_<column>``) and scalar
    text (``s_<column>``) are computed once and the checks read those columns.

    ``bulk``: ``lines_table`` instead has (file_id, line_number, export_date, is_parquet,
    rest, j) (:func:`bulk_lines_sql`): ``j`` the struct of every known top-level field's
    JSON text, as the line path parses it, ``rest`` the line's JSON when it holds other
    top-level keys (NULL: none): the same checks and typed columns, without the line's
    text (``raw`` is NULL: the loader reads the texts of the rejected lines again).
    """
    if export_date is None:
        date_sql, date_text, date_col = "export_date", "export_date::VARCHAR", ", export_date"
    else:
        date_sql, date_text, date_col = f"DATE {_q(export_date)}", _q(export_date), ""

    removal = "{" + ", ".join(f'"{k}": null' for k in KNOWN_TOP_KEYS) + "}"
    fields = [(f, "j", "v") for f in TOP_FIELDS if f.column != "data"]
    fields += [(f, "dj", "dv") for f in DATA_FIELDS]
    parts = ",\n           ".join(
        f'left({j}."{f.path}"::VARCHAR, 1) AS t_{f.column}, '
        f'{typed_value_sql(f, f"{j}.{_ident(f.path)}")} AS v_{f.column}'
        + (f', {j}."{f.path}"::VARCHAR AS j_{f.column}' if f.kind == "int" else "")
        for f, j, _ in fields
    )
    typed = ",\n           ".join(
        f"{typed_sql(f, f't_{f.column}', f'v_{f.column}', f'j_{f.column}')} AS {f.column}"
        for f, _, _ in fields
        if f.column != "timestamp_text"
    )

    checks: list[tuple[str, str, str]] = [
        ("txt IS NULL", "invalid_utf8", _q("line is not valid UTF-8")),
        ("NOT is_object", "invalid_json", _q("line is not a valid JSON object")),
    ]
    for f, _, _ in fields:
        if f.required:
            t, v = f"t_{f.column}", f"v_{f.column}"
            checks.append(
                (
                    f"{t} IS NULL OR ({t} = '\"' AND trim({v}) = '')",
                    "missing_field",
                    _q(f"required field {f.label} is missing, null or empty"),
                )
            )
    checks.append(
        (
            "NOT (t_data IS NULL OR t_data = '{')",
            "wrong_type",
            f"'data: expected object, got ' || {kind_name_sql('t_data')}",
        )
    )
    for f, _, _ in fields:
        t, v = f"t_{f.column}", f"v_{f.column}"
        got = kind_name_sql(t)
        if f.kind in ("int", "num"):  # NaN, Infinity, 1e400: "expected number, got number"
            got = (f"CASE WHEN {t} {NUMBER_FIRST} AND NOT isfinite({v}) "
                   f"THEN 'NaN or infinity' ELSE {got} END")
        checks.append(
            (
                f"NOT {type_ok_sql(f, t, v)}",
                "wrong_type",
                _q(f"{f.label}: expected {KIND_LABEL[f.kind]}, got ") + f" || {got}",
            )
        )
    for f, _, _ in fields:
        if f.kind == "int":
            checks.append(
                (
                    f"{applies_sql(f)} AND t_{f.column} {NUMBER_FIRST} AND {f.column} IS NULL",
                    "out_of_range",
                    _q(f"{f.label} = ") + f" || j_{f.column} || "
                    + _q(" is not a 64-bit integer"),
                )
            )
        ok = range_ok_sql(f, f.column)
        if ok is not None:
            checks.append(
                (
                    f"NOT {ok}",
                    "out_of_range",
                    _q(f"{f.label} = ") + f" || v_{f.column}::VARCHAR || "
                    + _q(f" is out of range (expected {range_label(f)})"),
                )
            )
    checks += [
        (
            "event_ts IS NULL",
            "invalid_timestamp",
            "'timestamp ' || v_timestamp_text || ' is not an ISO-8601 date-time'",
        ),
        (
            f"event_ts >= {date_sql} + INTERVAL {future_days + 1} DAY",
            "timestamp_too_late",
            "'timestamp ' || v_timestamp_text || ' is after the end of the day following "
            f"export date ' || {date_text}",
        ),
        (
            # not a contract rule but a sanity bound: no event platform predates 1970
            "event_ts < TIMESTAMP '1970-01-01'",
            "invalid_timestamp",
            "'timestamp ' || v_timestamp_text || ' is before 1970-01-01'",
        ),
    ]
    reason_code = "CASE " + " ".join(f"WHEN {c} THEN {_q(code)}" for c, code, _ in checks) + " END"
    reason = "CASE " + " ".join(f"WHEN {c} THEN {detail}" for c, _, detail in checks) + " END"
    columns = ", ".join(f.column for f, _, _ in fields if f.column != "timestamp_text")

    if bulk:
        source = f"""top AS (
    SELECT file_id, line_number, NULL::VARCHAR AS raw, coalesce(rest, '{{}}') AS txt,
           is_parquet
           {date_col}, true AS is_object, j
    FROM {lines_table}
)"""
    else:
        source = f"""objects AS (
    SELECT file_id, line_number, txt, raw, is_parquet{date_col},
           -- valid JSON whose first character is a brace is an object
           coalesce(CASE WHEN json_valid(txt)
                         THEN left(txt, 1) = '{{' OR json_type(txt) = 'OBJECT' END, false)
               AS is_object
    FROM {lines_table}
), top AS (
    -- one parse per line: every known field as JSON text
    SELECT *,
           CASE WHEN is_object THEN from_json(txt, '{_json_struct_sql(TOP_FIELDS)}') END AS j
    FROM objects
)"""
    return f"""
WITH {source}, with_data AS (
    SELECT *,
           CASE
               -- Parquet writers may store `data` as a JSON string: unwrap it
               WHEN is_parquet AND left(j.data::VARCHAR, 1) = '"'
                    AND json_valid(j.data ->> '$')
                    THEN j.data ->> '$'
               ELSE j.data::VARCHAR
           END AS data_text
    FROM top
), with_values AS (
    SELECT *, left(data_text, 1) AS t_data,
           CASE WHEN left(data_text, 1) = '{{'
                THEN from_json(data_text, '{_json_struct_sql(DATA_FIELDS)}') END AS dj
    FROM with_data
), parts AS (
    SELECT file_id, line_number, raw, txt, is_object, data_text, t_data{date_col},
           {parts}
    FROM with_values
), converted AS (
    SELECT *,
           {typed},
           try_cast(CASE WHEN t_timestamp_text = '"' AND {ISO_START.format('v_timestamp_text')}
                         THEN v_timestamp_text END
                    AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS event_ts
    FROM parts
), checked AS (
    SELECT *, {reason_code} AS reason_code FROM converted
)
SELECT file_id, line_number, raw,
       reason_code,
       -- the detail is built for rejected lines only (its checks ran once, above)
       CASE WHEN reason_code IS NOT NULL THEN {reason} END AS reason,
       {columns},
       event_ts,
       CASE WHEN t_data = '{{' THEN data_text::JSON END AS data,
       -- a bulk line whose keys are all known has txt '{{}}' (no patch to apply)
       CASE WHEN is_object AND txt <> '{{}}' THEN nullif(
           json_merge_patch(txt, '{removal}')::VARCHAR, '{{}}')::JSON END AS extra
FROM checked
"""
