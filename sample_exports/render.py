"""Turn event frames into contract v1 text (NDJSON lines) and Parquet tables, in DuckDB.

A frame's integer codes go to DuckDB as an Arrow table whose string columns are
dictionary arrays over the vocabularies (zero copy); one SQL statement builds every
field's JSON text and joins the present ones with ``concat_ws`` (which skips NULLs), so
absent optional fields are simply left out of the line. The NDJSON result comes back as
one Arrow string column whose value buffer *is* the file content (each value ends with
``\\n``), so no Python code touches individual lines.

Parquet files hold the contract's top-level fields as columns of the same names:
strings, ``duration_ms``/``response_time_ms`` int64, ``confidence`` double,
``timestamp`` as an ISO-8601 **string** and ``data`` as a **JSON string** (the loader
unwraps a string ``data`` in Parquet).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from sample_exports import vocab
from sample_exports.frame import Frame
from sample_exports.util import scramble
from sample_exports.world import World


def _dict(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    codes = np.asarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), values)


def _opt_int(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, mask=values < 0)


def _opt_float(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, mask=np.isnan(values))


def _str(values: list[str] | tuple[str, ...] | np.ndarray) -> pa.Array:
    return pa.array(list(values), pa.string())


def _fmt_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_S = "'\"{}\":' || "  # JSON key prefix


def _kv(key: str, expr: str) -> str:
    return _S.format(key) + expr


def _q(expr: str) -> str:
    """JSON text of a string known to need no escaping (ids and codes)."""
    return f"'\"' || {expr} || '\"'"


_TS = "strftime(epoch_ms({ms}), '%Y-%m-%dT%H:%M:%S.%g')"
_BOOL = "CASE {col} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"


_F = {
    "text_length": "text_length::VARCHAR",
    "intent": _q("intent::VARCHAR"),
    "entity": _q("entity::VARCHAR"),
    "value": "to_json(entity_value::VARCHAR)",
    "workflow": _q("workflow::VARCHAR"),
    "endpoint": _q("endpoint::VARCHAR"),
    "status_code": "status_code::VARCHAR",
    "latency_ms": "latency_ms::VARCHAR",
    "error_code": _q("error_code::VARCHAR"),
    "message": "to_json(message::VARCHAR)",
    "rating": "rating::VARCHAR",
    "comment": "to_json(comment::VARCHAR)",
    "topic": _q("topic::VARCHAR"),
    "lesson_id": _q("program_id::VARCHAR || '-L' || lpad(lesson_no::VARCHAR, 2, '0')"),
    "skill": _q("skill::VARCHAR"),
    "correct": _BOOL.format(col="correct"),
    "quality": "quality::VARCHAR",
    "goal_id": _q("printf('goal_%07d', goal)"),
    "goal_type": _q("goal_type::VARCHAR"),
    "target_value": "CASE WHEN target_value = floor(target_value) "
                    "THEN target_value::BIGINT::VARCHAR ELSE target_value::VARCHAR END",
    "name": _q("custom::VARCHAR"),
    "source": "'\"push\"'",
    "escalated_to_human": _BOOL.format(col="escalated"),
}
#: data fields per event type; fields marked "?" may be absent (NULL)
_DATA_LAYOUT: dict[str, tuple[str, ...]] = {
    "conversation_end": ("escalated_to_human?",),
    "user_message": ("text_length",),
    "bot_response": ("text_length", "escalated_to_human?"),
    "intent_classified": ("intent",),
    "entity_extracted": ("entity", "value"),
    "workflow_started": ("workflow",),
    "workflow_completed": ("workflow",),
    "workflow_failed": ("workflow",),
    "api_call": ("endpoint", "status_code", "latency_ms"),
    "error": ("error_code", "message"),
    "user_feedback": ("rating", "comment?"),
    "lesson_started": ("topic", "lesson_id"),
    "lesson_completed": ("topic", "lesson_id", "quality"),
    "exercise_attempted": ("topic", "skill", "correct", "quality"),
    "goal_created": ("goal_id", "goal_type", "target_value", "topic?"),
    "goal_completed": ("goal_id", "goal_type", "target_value"),
    "custom": ("name", "source"),
}


def _data_sql() -> str:
    """SQL of the `data` object's text: one CASE branch per event type (cheap per row)."""
    branches = []
    for etype, fields in _DATA_LAYOUT.items():
        parts = [_kv(f.rstrip("?"), _F[f.rstrip("?")]) for f in fields]
        if any(f.endswith("?") for f in fields):
            body = "concat_ws(',', " + ", ".join(parts) + ")"
        else:
            body = " || ',' || ".join(parts)
        branches.append(f"WHEN {vocab.ET[etype]} THEN {body}")
    inner = "CASE et " + " ".join(branches) + " END"
    uiv = _kv("ui_variant", _q("ui_variant::VARCHAR"))
    return (
        f"CASE WHEN ui_variant IS NULL THEN '{{' || ({inner}) || '}}' "
        f"ELSE '{{' || concat_ws(',', {inner}, {uiv}) || '}}' END"
    )


_DATA_SQL = _data_sql()

_BASE_SQL = f"""
SELECT rn,
    printf('evt_%012x', eid_x) AS event_id,
    event_type::VARCHAR AS event_type,
    CASE tsfmt
        WHEN 0 THEN {_TS.format(ms="ts")} || 'Z'
        WHEN 1 THEN {_TS.format(ms="ts + off_min * 60000")} || off_txt::VARCHAR
        ELSE {_TS.format(ms="ts")}
    END AS timestamp,
    printf(CASE skind WHEN 0 THEN 'conv_%010x' ELSE 'learn_%010x' END, sess_x) AS session_id,
    user_id::VARCHAR AS user_id, null_user,
    creator_id::VARCHAR AS creator_id, agent_id::VARCHAR AS agent_id,
    program_id::VARCHAR AS program_id,
    channel::VARCHAR AS channel, platform::VARCHAR AS platform, location::VARCHAR AS location,
    duration_ms, response_time_ms, confidence, sentiment::VARCHAR AS sentiment,
    client_version::VARCHAR AS client_version,
    {_DATA_SQL} AS data,
    et
FROM ev
"""

_LINE_SQL = f"""
SELECT '{{' || concat_ws(',',
        {_kv("event_id", _q("event_id"))},
        {_kv("event_type", _q("event_type"))},
        {_kv("timestamp", _q("timestamp"))},
        {_kv("session_id", _q("session_id"))},
        CASE WHEN null_user = 1 THEN '"user_id":null' ELSE {_kv("user_id", _q("user_id"))} END,
        {_kv("creator_id", _q("creator_id"))},
        {_kv("agent_id", _q("agent_id"))},
        {_kv("program_id", _q("program_id"))},
        {_kv("channel", _q("channel"))},
        {_kv("platform", _q("platform"))},
        {_kv("location", _q("location"))},
        {_kv("duration_ms", "duration_ms::VARCHAR")},
        {_kv("response_time_ms", "response_time_ms::VARCHAR")},
        {_kv("confidence", "confidence::VARCHAR")},
        {_kv("sentiment", _q("sentiment"))},
        {_kv("data", "data")},
        {_kv("client_version", _q("client_version"))}
    ) || '}}' || chr(10) AS line
FROM base ORDER BY rn
"""

_PARQUET_SQL = """
SELECT event_id, event_type, timestamp, session_id, user_id, creator_id, agent_id,
       program_id, channel, platform, location, duration_ms, response_time_ms, confidence,
       sentiment, data
FROM base ORDER BY rn
"""

#: Parquet schema of event files (contract top-level fields; data as JSON text)
PARQUET_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("event_type", pa.string()), ("timestamp", pa.string()),
    ("session_id", pa.string()), ("user_id", pa.string()), ("creator_id", pa.string()),
    ("agent_id", pa.string()), ("program_id", pa.string()), ("channel", pa.string()),
    ("platform", pa.string()), ("location", pa.string()), ("duration_ms", pa.int64()),
    ("response_time_ms", pa.int64()), ("confidence", pa.float64()), ("sentiment", pa.string()),
    ("data", pa.string()),
])


class Renderer:
    """Renders frames of one world. Holds one in-memory DuckDB connection."""

    def __init__(self, world: World, threads: int | None = None) -> None:
        self.world = world
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        w = world
        self.salt = int(scramble(np.array([w.seed]), 0xE7E47)[0])
        self.sess_salt = int(scramble(np.array([w.seed]), 0x5E55)[0])
        self.values = {
            "event_type": _str(vocab.ALL_EVENT_TYPES),
            "user_id": _str(w.users.ids),
            "creator_id": _str(w.creators.ids),
            "agent_id": _str(w.agents.ids),
            "program_id": _str(w.programs.ids),
            "channel": _str(vocab.CHANNELS),
            "platform": _str(vocab.PLATFORMS),
            "location": _str([c.code for c in vocab.COUNTRIES]),
            "off_txt": _str([_fmt_offset(c.offset_minutes) for c in vocab.COUNTRIES]),
            "sentiment": _str(vocab.SENTIMENTS),
            "intent": _str(vocab.INTENT_NAMES),
            "entity": _str(vocab.ENTITIES),
            "entity_value": _str(vocab.ENTITY_VALUE_LIST),
            "workflow": _str(vocab.WORKFLOWS),
            "endpoint": _str(vocab.ENDPOINT_LIST),
            "error_code": _str(vocab.ERROR_CODES),
            "message": _str(vocab.ERROR_MESSAGES),
            "comment": _str(vocab.FEEDBACK_COMMENTS),
            "topic": _str(vocab.TOPICS),
            "skill": _str(vocab.SKILLS),
            "goal_type": _str(vocab.GOAL_TYPES),
            "custom": _str(vocab.CUSTOM_NAMES),
            "client_version": _str(vocab.CLIENT_VERSIONS),
            "ui_variant": _str(vocab.UI_VARIANTS),
        }
        self.offsets = np.array([c.offset_minutes for c in vocab.COUNTRIES], dtype=np.int64)

    def close(self) -> None:
        self.con.close()

    def _arrow(self, f: Frame) -> pa.Table:
        v = self.values
        d = {
            "rn": pa.array(np.arange(len(f["ts"]), dtype=np.int64)),
            "eid_x": pa.array(scramble(f["eid"], self.salt)),
            "sess_x": pa.array(scramble(f["sess"], self.sess_salt)),
            "skind": pa.array(f["skind"]),
            "ts": pa.array(f["ts"]),
            "tsfmt": pa.array(f["tsfmt"]),
            "et": pa.array(f["etype"]),
            "off_min": pa.array(self.offsets[f["country"]]),
            "off_txt": _dict(f["country"], v["off_txt"]),
            "event_type": _dict(f["etype"], v["event_type"]),
            "user_id": _dict(f["user"], v["user_id"]),
            "null_user": pa.array(f["null_user"]),
            "creator_id": _dict(f["creator"], v["creator_id"]),
            "agent_id": _dict(f["agent"], v["agent_id"]),
            "program_id": _dict(f["program"], v["program_id"]),
            "channel": _dict(f["channel"], v["channel"]),
            "platform": _dict(f["platform"], v["platform"]),
            "location": _dict(f["country"], v["location"]),
            "duration_ms": _opt_int(f["duration_ms"]),
            "response_time_ms": _opt_int(f["response_time_ms"]),
            "confidence": _opt_float(f["confidence"]),
            "sentiment": _dict(f["sentiment"], v["sentiment"]),
            "text_length": _opt_int(f["text_length"]),
            "intent": _dict(f["intent"], v["intent"]),
            "entity": _dict(f["entity"], v["entity"]),
            "entity_value": _dict(f["entity_value"], v["entity_value"]),
            "workflow": _dict(f["workflow"], v["workflow"]),
            "endpoint": _dict(f["endpoint"], v["endpoint"]),
            "status_code": _opt_int(f["status_code"]),
            "latency_ms": _opt_int(f["latency_ms"]),
            "error_code": _dict(f["error_code"], v["error_code"]),
            "message": _dict(f["error_code"], v["message"]),
            "rating": _opt_int(f["rating"]),
            "comment": _dict(f["comment"], v["comment"]),
            "topic": _dict(f["topic"], v["topic"]),
            "lesson_no": _opt_int(f["lesson_no"]),
            "skill": _dict(f["skill"], v["skill"]),
            "correct": _opt_int(f["correct"]),
            "quality": _opt_float(f["quality"]),
            "goal": _opt_int(f["goal"]),
            "goal_type": _dict(f["goal_type"], v["goal_type"]),
            "target_value": _opt_float(f["target_value"]),
            "custom": _dict(f["custom"], v["custom"]),
            "escalated": _opt_int(f["escalated"]),
            "client_version": _dict(f["client_version"], v["client_version"]),
            "ui_variant": _dict(f["ui_variant"], v["ui_variant"]),
        }
        return pa.table(d)

    def _query(self, f: Frame, final_sql: str) -> pa.Table:
        self.con.register("ev", self._arrow(f))
        try:
            return self.con.sql(f"WITH base AS ({_BASE_SQL}) {final_sql}").to_arrow_table()
        finally:
            self.con.unregister("ev")

    def ndjson(self, f: Frame) -> tuple[bytes, np.ndarray]:
        """The NDJSON text of the frame's rows (in order) and the line start offsets.

        ``offsets`` has ``n + 1`` entries: line ``i`` is ``text[offsets[i]:offsets[i+1]]``
        including its newline.
        """
        if len(f["ts"]) == 0:
            return b"", np.zeros(1, dtype=np.int64)
        col = self._query(f, _LINE_SQL).column("line")
        parts: list[memoryview] = []
        offsets: list[np.ndarray] = []
        base = 0
        for chunk in col.chunks:
            if len(chunk) == 0:
                continue
            off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            bufs = chunk.buffers()
            offs = np.frombuffer(bufs[1], dtype=off_type)[chunk.offset: chunk.offset + len(chunk)
                                                          + 1].astype(np.int64)
            parts.append(memoryview(bufs[2])[offs[0]: offs[-1]])
            offsets.append(offs[:-1] - offs[0] + base)
            base += int(offs[-1] - offs[0])
        offsets.append(np.array([base], dtype=np.int64))
        return b"".join(parts), np.concatenate(offsets)

    def parquet_table(self, f: Frame) -> pa.Table:
        """The frame's rows as a Parquet-ready table (PARQUET_SCHEMA)."""
        return self._query(f, _PARQUET_SQL).cast(PARQUET_SCHEMA)
