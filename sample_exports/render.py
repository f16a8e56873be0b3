"""Turn event frames into contract v1 text (NDJSON lines) and Parquet tables, in DuckDB.

A frame's integer codes go to DuckDB as an Arrow table of *dictionary* columns whose
dictionaries hold ready-made JSON fragments (``,"user_id":"u000123"``, prepared once per
world), so the SQL per row is little more than one ``concat`` (which treats NULL as the
empty string: absent optional fields simply vanish). Only ids, timestamps and a few
unbounded integers are formatted per row. The NDJSON result comes back as one Arrow
string column whose value buffer *is* the file content (each value ends with ``\\n``),
so no Python code touches individual lines.

Parquet event files hold the contract's top-level fields as columns of the same names:
strings, ``duration_ms``/``response_time_ms`` int64, ``confidence`` double,
``timestamp`` as an ISO-8601 **string** (with ``Z``, an offset, or naive, as in NDJSON)
and ``data`` as a **JSON text string** (the loader unwraps a string ``data`` in Parquet).
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_exports import vocab
from sample_exports.frame import Frame
from sample_exports.util import scramble
from sample_exports.world import World

MAX_LESSONS = 17  # lesson numbers are 1..16
BATCH_ROWS = 16_384


def _dict(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    codes = np.asarray(codes)
    if codes.dtype.itemsize > 4 or codes.dtype.kind != "i":
        codes = codes.astype(np.int32)
    missing = codes < 0
    indices = pa.array(codes, mask=missing) if missing.any() else pa.array(codes)
    return pa.DictionaryArray.from_arrays(indices, values)


def _opt_int(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, mask=values < 0)


def _opt_float(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, mask=np.isnan(values))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_strings(values: np.ndarray, width: int, prefix: bytes = b"",
                suffix: bytes = b"") -> pa.StringArray:
    """``prefix + lowercase hex (zero-padded to width <= 16) + suffix`` per value, in numpy."""
    v = np.asarray(values).astype(np.uint64)
    n = len(v)
    size = len(prefix) + width + len(suffix)
    out = np.empty((n, size), dtype=np.uint8)
    if prefix:
        out[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    raw = v.astype("<u8").view(np.uint8).reshape(n, 8)[:, ::-1]  # most significant first
    digits = np.empty((n, 16), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 15]
    out[:, len(prefix): len(prefix) + width] = digits[:, 16 - width:]
    if suffix:
        out[:, size - len(suffix):] = np.frombuffer(suffix, dtype=np.uint8)
    offsets = np.arange(0, n * size + 1, size, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out))


def _frags(key: str, values: list | tuple) -> pa.Array:
    """``,"key":<json value>`` for every value (JSON-escaped)."""
    return pa.array([f',"{key}":' + json.dumps(v, ensure_ascii=False) for v in values],
                    pa.string())


def _plain(values: list | tuple | np.ndarray) -> pa.Array:
    return pa.array([str(v) for v in values], pa.string())


def fmt_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


_MILLI = [round(i / 1000, 3) for i in range(1001)]

_TS = "strftime(epoch_ms(CASE tsfmt WHEN 1 THEN ts + off_min * 60000 ELSE ts END), " \
      "'%Y-%m-%dT%H:%M:%S.%g')"
_DATA_INNER = """nullif(concat(
    text_length, intent, entity, entity_value, workflow, endpoint, status_code,
    ',"latency_ms":' || latency_ms::VARCHAR, error, rating, comment, topic, lesson_id,
    skill, correct, quality,
    ',"goal_id":"goal_'
        || lpad(goal::VARCHAR, greatest(7, length(goal::VARCHAR))::INTEGER, '0') || '"',
    goal_type, target_value, custom, escalated, ui_variant, agent_version), '')"""

_LINE_SQL = f"""
SELECT concat(
    event_id, event_type,
    ',"timestamp":"', {_TS}, ts_suffix, ',"session_id":"', sess_prefix, session_hex,
    user_id, anonymous_id, creator_id, agent_id, program_id, channel, platform, location,
    ',"duration_ms":' || duration_ms::VARCHAR,
    ',"response_time_ms":' || response_time_ms::VARCHAR,
    confidence, sentiment,
    ',"data":{{' || substr({_DATA_INNER}, 2) || '}}',
    client_version, '}}', chr(10)) AS line, rn
FROM ev
"""

_PARQUET_SQL = f"""
SELECT event_id,
    event_type::VARCHAR AS event_type,
    {_TS} || ts_suffix::VARCHAR AS timestamp,
    sess_prefix::VARCHAR || session_hex AS session_id,
    user_id::VARCHAR AS user_id, anonymous_id::VARCHAR AS anonymous_id,
    creator_id::VARCHAR AS creator_id,
    agent_id::VARCHAR AS agent_id, program_id::VARCHAR AS program_id,
    channel::VARCHAR AS channel, platform::VARCHAR AS platform,
    location::VARCHAR AS location, duration_ms, response_time_ms, confidence,
    sentiment::VARCHAR AS sentiment,
    '{{' || substr({_DATA_INNER}, 2) || '}}' AS data, rn
FROM ev
"""

#: Parquet schema of event files (contract top-level fields; data as JSON text)
PARQUET_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("event_type", pa.string()), ("timestamp", pa.string()),
    ("session_id", pa.string()), ("user_id", pa.string()), ("anonymous_id", pa.string()),
    ("creator_id", pa.string()),
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
        self.device_salt = int(scramble(np.array([w.seed]), 0xDE71CE)[0])
        self.n_users = len(w.users)
        offsets = [fmt_offset(c.offset_minutes) for c in vocab.COUNTRIES]
        countries = [c.code for c in vocab.COUNTRIES]
        # JSON fragments for NDJSON lines (top level)
        self.json_top = {
            "event_type": _frags("event_type", vocab.ALL_EVENT_TYPES),
            "ts_suffix": pa.array(['Z"', '"'] + [o + '"' for o in offsets]),
            "sess_prefix": pa.array(["conv_", "learn_"]),
            "user_id": pa.array([f',"user_id":"{u}"' for u in w.users.ids.tolist()]
                                + [',"user_id":null']),
            "creator_id": _frags("creator_id", w.creators.ids),
            "agent_id": _frags("agent_id", w.agents.ids),
            "program_id": _frags("program_id", w.programs.ids),
            "channel": _frags("channel", vocab.CHANNELS),
            "platform": _frags("platform", vocab.PLATFORMS),
            "location": _frags("location", countries),
            "confidence": _frags("confidence", _MILLI),
            "sentiment": _frags("sentiment", vocab.SENTIMENTS),
            "client_version": _frags("client_version", vocab.CLIENT_VERSIONS),
        }
        # plain values for Parquet columns
        self.plain_top = {
            "event_type": _plain(vocab.ALL_EVENT_TYPES),
            "ts_suffix": pa.array(["Z", "", *offsets]),
            "sess_prefix": pa.array(["conv_", "learn_"]),
            "user_id": _plain(w.users.ids.tolist()),
            "creator_id": _plain(w.creators.ids),
            "agent_id": _plain(w.agents.ids),
            "program_id": _plain(w.programs.ids),
            "channel": _plain(vocab.CHANNELS),
            "platform": _plain(vocab.PLATFORMS),
            "location": _plain(countries),
            "sentiment": _plain(vocab.SENTIMENTS),
        }
        lesson_ids = [f"{p}-L{k:02d}" for p in w.programs.ids for k in range(MAX_LESSONS)]
        self.status_codes = np.array(sorted({200, 201, 400, 404, 429, 500, 503, 504}))
        self.data = {
            "text_length": _frags("text_length", list(range(4001))),
            "intent": _frags("intent", vocab.INTENT_NAMES),
            "entity": _frags("entity", vocab.ENTITIES),
            "entity_value": _frags("value", vocab.ENTITY_VALUE_LIST),
            "workflow": _frags("workflow", vocab.WORKFLOWS),
            "endpoint": _frags("endpoint", vocab.ENDPOINT_LIST),
            "status_code": _frags("status_code", [int(s) for s in self.status_codes]),
            "error": pa.array([
                f',"error_code":{json.dumps(c)},"message":{json.dumps(m, ensure_ascii=False)}'
                for c, m in zip(vocab.ERROR_CODES, vocab.ERROR_MESSAGES, strict=True)
            ]),
            "rating": _frags("rating", list(range(6))),
            "comment": _frags("comment", vocab.FEEDBACK_COMMENTS),
            "topic": _frags("topic", vocab.TOPICS),
            "lesson_id": _frags("lesson_id", lesson_ids),
            "skill": _frags("skill", vocab.SKILLS),
            "correct": _frags("correct", [False, True]),
            "quality": _frags("quality", _MILLI),
            "goal_type": _frags("goal_type", vocab.GOAL_TYPES),
            "custom": pa.array([f',"name":"{c}","source":"push"' for c in vocab.CUSTOM_NAMES]),
            "escalated": _frags("escalated_to_human", [False, True]),
            "ui_variant": _frags("ui_variant", vocab.UI_VARIANTS),
            "agent_version": _frags("agent_version", vocab.AGENT_VERSIONS),
        }
        self.offsets = np.array([c.offset_minutes for c in vocab.COUNTRIES], dtype=np.int64)

    def close(self) -> None:
        self.con.close()

    def _arrow(self, frame: Frame, idx: np.ndarray | None, *, plain: bool) -> pa.Table:
        top = self.plain_top if plain else self.json_top
        d = self.data
        f = _Gather(frame, idx)
        n = len(f["ts"])
        user = f["user"].astype(np.int64)
        user = np.where(f["hide_user"] == 1, -1, user)  # signed out: no user_id
        if not plain:
            user = np.where((user < 0) & (f["null_user"] == 1), self.n_users, user)
        device = f["device"]
        anonymous_id = pc.if_else(
            pa.array(device < 0), pa.scalar(None, pa.large_string()),
            hex_strings(scramble(np.maximum(device, 0), self.device_salt), 12,
                        b"dev_" if plain else b',"anonymous_id":"dev_', b"" if plain else b'"'))
        suffix = np.where(f["tsfmt"] == 0, 0, np.where(f["tsfmt"] == 2, 1, 2 + f["country"]))
        milli = np.where(np.isnan(f["confidence"]), -1,
                         np.rint(np.nan_to_num(f["confidence"]) * 1000)).astype(np.int64)
        q_milli = np.where(np.isnan(f["quality"]), -1,
                           np.rint(np.nan_to_num(f["quality"]) * 1000)).astype(np.int64)
        status = np.where(f["status_code"] >= 0,
                          np.searchsorted(self.status_codes, f["status_code"]), -1)
        lesson = np.where(f["lesson_no"] >= 0,
                          f["program"].astype(np.int64) * MAX_LESSONS + f["lesson_no"], -1)
        tv = f["target_value"]
        tv_known = ~np.isnan(tv)
        tv_values, tv_codes = np.unique(tv[tv_known], return_inverse=True)
        tv_code = np.full(n, -1, dtype=np.int64)
        tv_code[tv_known] = tv_codes
        cols: dict[str, pa.Array] = {
            "rn": pa.array(np.arange(n, dtype=np.int64)),
            "event_id": hex_strings(scramble(f["eid"], self.salt), 12,
                                    b"evt_" if plain else b'{"event_id":"evt_',
                                    b"" if plain else b'"'),
            "session_hex": hex_strings(scramble(f["sess"], self.sess_salt), 12,
                                       suffix=b"" if plain else b'"'),
            "ts": pa.array(f["ts"]),
            "tsfmt": pa.array(f["tsfmt"]),
            "off_min": pa.array(self.offsets[f["country"]]),
            "ts_suffix": _dict(suffix, top["ts_suffix"]),
            "sess_prefix": _dict(f["skind"], top["sess_prefix"]),
            "event_type": _dict(f["etype"], top["event_type"]),
            "user_id": _dict(user, top["user_id"]),
            "anonymous_id": anonymous_id,
            "creator_id": _dict(f["creator"], top["creator_id"]),
            "agent_id": _dict(f["agent"], top["agent_id"]),
            "program_id": _dict(f["program"], top["program_id"]),
            "channel": _dict(f["channel"], top["channel"]),
            "platform": _dict(f["platform"], top["platform"]),
            "location": _dict(f["country"], top["location"]),
            "duration_ms": _opt_int(f["duration_ms"]),
            "response_time_ms": _opt_int(f["response_time_ms"]),
            "confidence": _opt_float(f["confidence"]) if plain
            else _dict(milli, top["confidence"]),
            "sentiment": _dict(f["sentiment"], top["sentiment"]),
            "text_length": _dict(f["text_length"], d["text_length"]),
            "intent": _dict(f["intent"], d["intent"]),
            "entity": _dict(f["entity"], d["entity"]),
            "entity_value": _dict(f["entity_value"], d["entity_value"]),
            "workflow": _dict(f["workflow"], d["workflow"]),
            "endpoint": _dict(f["endpoint"], d["endpoint"]),
            "status_code": _dict(status, d["status_code"]),
            "latency_ms": _opt_int(f["latency_ms"]),
            "error": _dict(f["error_code"], d["error"]),
            "rating": _dict(f["rating"], d["rating"]),
            "comment": _dict(f["comment"], d["comment"]),
            "topic": _dict(f["topic"], d["topic"]),
            "lesson_id": _dict(lesson, d["lesson_id"]),
            "skill": _dict(f["skill"], d["skill"]),
            "correct": _dict(f["correct"], d["correct"]),
            "quality": _dict(q_milli, d["quality"]),
            "goal": _opt_int(f["goal"]),
            "goal_type": _dict(f["goal_type"], d["goal_type"]),
            "target_value": _dict(tv_code, _frags("target_value",
                                                  [_num(x) for x in tv_values])),
            "custom": _dict(f["custom"], d["custom"]),
            "escalated": _dict(f["escalated"], d["escalated"]),
            "ui_variant": _dict(f["ui_variant"], d["ui_variant"]),
            "agent_version": _dict(f["agent_version"], d["agent_version"]),
        }
        if not plain:
            cols["client_version"] = _dict(f["client_version"], top["client_version"])
        table = pa.table(cols)
        # several record batches let DuckDB scan (and format) them in parallel
        return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), table.schema)

    def _query(self, f: Frame, idx: np.ndarray | None, sql: str, *, plain: bool) -> pa.Table:
        self.con.register("ev", self._arrow(f, idx, plain=plain))
        try:
            out = self.con.sql(sql).to_arrow_table()
        finally:
            self.con.unregister("ev")
        rn = out.column("rn").to_numpy()
        if len(rn) > 1 and not np.all(rn[1:] > rn[:-1]):  # pragma: no cover - defensive
            out = out.take(np.argsort(rn, kind="stable"))
        return out.drop_columns(["rn"])

    def ndjson(self, f: Frame, idx: np.ndarray | None = None) -> Lines:
        """The NDJSON lines of the frame's rows (or of the rows at ``idx``), in order."""
        if idx is None:
            idx = np.arange(len(f["ts"]))
        if len(idx) == 0:
            return Lines([])
        col = self._query(f, idx, _LINE_SQL, plain=False).column("line")
        return Lines([c for c in col.chunks if len(c)])

    def parquet_table(self, f: Frame, idx: np.ndarray | None = None) -> pa.Table:
        """The frame's rows (or the rows at ``idx``) as a Parquet-ready table."""
        return self._query(f, idx, _PARQUET_SQL, plain=True).cast(PARQUET_SCHEMA)


class _Gather:
    """Columns of a frame, gathered at ``idx`` on first access."""

    def __init__(self, frame: Frame, idx: np.ndarray | None) -> None:
        self.frame = frame
        self.idx = idx
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.cache:
            col = self.frame[name]
            self.cache[name] = col if self.idx is None else col[self.idx]
        return self.cache[name]


class Lines:
    """Rendered NDJSON lines held in Arrow buffers (each line ends with ``\n``)."""

    def __init__(self, chunks: list[pa.Array]) -> None:
        self.views: list[memoryview] = []
        self.offsets: list[np.ndarray] = []
        starts = [0]
        for chunk in chunks:
            off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            bufs = chunk.buffers()
            offs = np.frombuffer(bufs[1], dtype=off_type)[
                chunk.offset: chunk.offset + len(chunk) + 1].astype(np.int64)
            self.views.append(memoryview(bufs[2]))
            self.offsets.append(offs)
            starts.append(starts[-1] + len(chunk))
        self.starts = np.array(starts, dtype=np.int64)
        self.n = int(self.starts[-1])

    def __len__(self) -> int:
        return self.n

    def segments(self, lo: int, hi: int) -> list[memoryview]:
        """Buffers holding lines ``lo .. hi-1`` (zero copy)."""
        out: list[memoryview] = []
        if hi <= lo:
            return out
        first = int(np.searchsorted(self.starts, lo, side="right")) - 1
        for c in range(first, len(self.views)):
            base = int(self.starts[c])
            if base >= hi:
                break
            a, b = max(lo, base) - base, min(hi, int(self.starts[c + 1])) - base
            offs = self.offsets[c]
            out.append(self.views[c][int(offs[a]): int(offs[b])])
        return out

    def line(self, i: int) -> bytes:
        return b"".join(bytes(s) for s in self.segments(i, i + 1))

    def nbytes(self) -> int:
        return sum(int(o[-1] - o[0]) for o in self.offsets)
