"""Hostile and broken landing files, a fixed corpus: every case ends in loaded rows,
rejected rows with a reason, or a failed file whose recorded message names it; never in
a crash of the run; and every export day and file reconciles against the raw tables
(read = loaded + rejected + duplicates, counted in raw.events / raw.rejects / raw.<entity>).

All cases of an entity are loaded in one run (``ingest.batch.load_entity_days``, the path
of the ingest assets): the event cases several to an export day, each day with a good file
that must load whatever its neighbours do. Snapshot entities (one file a day, the latest
complete snapshot wins) are loaded day by day in date order and checked after each day.
Cases marked long (the 50 MB lines) only run with ``--long``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest.batch import load_entity_days
from ingest.event_rules import DATA_FIELDS, TOP_FIELDS, Field
from ingest.landing import EVENTS
from ingest.loader import ensure_schema
from ingest.schema import PLATFORM_BY_NAME
from tests.conftest import long_variant
from tests.reliability.hostile_corpus import (
    Case,
    Ctx,
    DayAccount,
    HostileFile,
    account_day,
    all_rejected,
    check_expectations,
    companion_file,
    csv_text,
    fails,
    gz,
    ignored,
    ndjson,
    non_blank_lines,
    ok,
    parquet,
    partial,
    write_day,
)
from warehouse.db import connect

MB = 2**20

# --- events: gzip, empty files, encodings, huge lines, nesting, JSON shapes -------------


def _twenty(c: Ctx) -> bytes:
    return ndjson(*(c.ev(i) for i in range(20)))


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


def _gzip_cases() -> list[Case]:
    return [
        # a truncated or corrupt stream keeps the lines read before the break (issue 15)
        Case("gzip-truncated-half", EVENTS, lambda c: [
            # (this tiny stream's first half decodes no complete line: 0 loaded, 1 reject)
            partial("a.ndjson.gz", gz(_twenty(c))[: len(gz(_twenty(c))) // 2], 0)]),
        Case("gzip-truncated-header", EVENTS, lambda c: [
            fails("a.ndjson.gz", gz(_twenty(c))[:6], "gzip")]),
        Case("gzip-corrupt-stream", EVENTS, lambda c: [
            fails("a.ndjson.gz", _flip(gz(_twenty(c)), 30), "gzip")]),
        Case("gzip-bad-crc", EVENTS, lambda c: [
            fails("a.ndjson.gz", _flip(gz(_twenty(c)), -6), "gzip")]),
        Case("gzip-bad-length", EVENTS, lambda c: [
            fails("a.ndjson.gz", _flip(gz(_twenty(c)), -2), "gzip")]),
        Case("gzip-plain-text-named-gz", EVENTS, lambda c: [
            fails("a.ndjson.gz", _twenty(c), "gzip")]),
        Case("gzip-trailing-garbage", EVENTS, lambda c: [
            partial("a.ndjson.gz", gz(_twenty(c)) + b"garbage after the stream", 20)]),
        Case("gzip-trailing-zero-padding", EVENTS, lambda c: [
            ok("a.ndjson.gz", gz(_twenty(c)) + b"\0" * 64, 20)]),
        Case("gzip-two-members", EVENTS, lambda c: [
            ok("a.ndjson.gz", gz(ndjson(c.ev(1))) + gz(ndjson(c.ev(2))), 2)]),
        Case("gzip-empty-stream", EVENTS, lambda c: [ok("a.ndjson.gz", gz(b""), 0, read=0)]),
        Case("gzip-zero-byte-file", EVENTS, lambda c: [ok("a.ndjson.gz", b"", 0, read=0)]),
        Case("gzip-of-binary-noise", EVENTS, lambda c: [
            all_rejected("a.ndjson.gz", gz(bytes(range(256)) * 8), "invalid_utf8",
                         "invalid_json", read=non_blank_lines(bytes(range(256)) * 8))]),
    ]


def _empty_and_line_break_cases() -> list[Case]:
    return [
        Case("ndjson-zero-byte-file", EVENTS, lambda c: [ok("a.ndjson", b"", 0, read=0)]),
        Case("ndjson-only-line-breaks", EVENTS, lambda c: [
            ok("a.ndjson", b"\n\r\n\n\r\r\n\n", 0, read=0)]),
        Case("ndjson-space-only-lines", EVENTS, lambda c: [
            ok("a.ndjson", b"   \n \r\n\xc2\xa0\n" + ndjson(c.ev(1)), 1, read=1)]),
        Case("ndjson-tab-only-line", EVENTS, lambda c: [
            ok("a.ndjson", b"\t\n" + ndjson(c.ev(1)), 1, "invalid_json", read=2)]),
        Case("ndjson-no-final-newline", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(c.ev(1), c.ev(2), end=b""), 2, read=2)]),
        Case("ndjson-crlf-line-breaks", EVENTS, lambda c: [
            ok("a.ndjson", b"\r\n".join(json.dumps(c.ev(i)).encode() for i in (1, 2)) + b"\r\n",
               2, read=2)]),
        Case("ndjson-cr-only-line-breaks", EVENTS, lambda c: [
            ok("a.ndjson", b"\r".join(json.dumps(c.ev(i)).encode() for i in (1, 2)) + b"\r",
               0, "invalid_json", read=1)]),
    ]


def _encoding_cases() -> list[Case]:
    def invalid_utf8(c: Ctx) -> list[HostileFile]:
        bad = [
            b'{"event_id": "\xff", "event_type": "error"}',  # not a UTF-8 byte at all
            b'{"event_id": "\xc3\x28"}',  # a lead byte without its continuation
            b'{"event_id": "\xc0\xaf"}',  # overlong encoding of "/"
            b'{"event_id": "\xed\xa0\x80"}',  # an encoded UTF-16 surrogate
            b'{"event_id": "\xf8\x88\x80\x80\x80"}',  # a 5-byte sequence
            b'\x80\x80\x80',  # continuation bytes only
        ]
        content = ndjson(c.ev(1), *bad, c.ev(2)) + b'{"event_id": "\xe2\x82'  # cut at EOF
        return [ok("a.ndjson", content, 2, *["invalid_utf8"] * 7, read=9)]

    def utf16(c: Ctx) -> list[HostileFile]:
        content = ndjson(c.ev(1), c.ev(2)).decode().encode("utf-16")
        return [all_rejected("a.ndjson", content, "invalid_utf8", "invalid_json")]

    def raw_controls(c: Ctx) -> list[HostileFile]:
        lines = [
            json.dumps(c.ev(1)).replace('"s1"', '"s\x001"').encode(),  # raw NUL in a string
            json.dumps(c.ev(2)).replace('"s1"', '"s\x1f1"').encode(),  # raw control char
            json.dumps(c.ev(3)).replace('"s1"', '"s\t1"').encode(),  # raw tab in a string
            b"\x00\x00\x00",
            c.ev(4, session_id="s\u00001"),  # escaped \u0000: valid JSON, kept
        ]
        return [ok("a.ndjson", ndjson(*lines), 1, *["invalid_json"] * 4, read=5)]

    def unicode_text(c: Ctx) -> list[HostileFile]:
        odd = ["\u2028", "\u2029", "\u0085", "\u202e", "\U0001f600", "\ufeff", "a\u0301"]
        evs = [c.ev(i, session_id=f"s{ch}", data={"comment": ch}) for i, ch in enumerate(odd)]
        raw = ndjson(*(json.dumps(e, ensure_ascii=False) for e in evs))
        return [ok("a.ndjson", raw, len(odd), read=len(odd))]

    return [
        Case("utf8-invalid-sequences", EVENTS, invalid_utf8),
        Case("utf8-bom-at-file-start", EVENTS, lambda c: [
            # a BOM at the start of the file is dropped: the first line loads (issue 15)
            ok("a.ndjson", b"\xef\xbb\xbf" + ndjson(c.ev(1), c.ev(2)), 2)]),
        Case("utf16-encoded-file", EVENTS, utf16),
        Case("raw-control-characters", EVENTS, raw_controls),
        Case("unicode-separators-and-marks", EVENTS, unicode_text),
        Case("lone-surrogate-escape", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(json.dumps(c.ev(1, session_id="\ud800")), c.ev(2)), 1,
               "invalid_json")]),
    ]


def _long_line(c: Ctx, size: int) -> bytes:
    event = c.ev("big", "user_feedback", data={"rating": 5, "comment": "x" * size})
    return ndjson(event)


def _huge_cases() -> list[Case]:
    return [
        Case("long-line-4mb-valid", EVENTS, lambda c: [
            ok("a.ndjson", _long_line(c, 4 * MB), 1, read=1)]),
        Case("long-line-4mb-not-json-no-newline", EVENTS, lambda c: [
            ok("a.ndjson", b"{" + b"a" * (4 * MB), 0, "invalid_json", read=1)]),
        Case("long-line-50mb-valid", EVENTS, lambda c: [
            ok("a.ndjson", _long_line(c, 50 * MB), 1, read=1)], long_only=True),
        Case("long-line-50mb-not-json", EVENTS, lambda c: [
            ok("b.ndjson.gz", gz(b'{"event_id": "' + b"a" * (50 * MB) + b"\n"), 0,
               "invalid_json", read=1)], long_only=True),
    ]


def _nested(depth: int, open_: str = '{"a":', leaf: str = "1", close: str = "}") -> str:
    return open_ * depth + leaf + close * depth


def _with_raw_field(event: dict, key: str, raw_json: str) -> str:
    text = json.dumps(event)
    return text[:-1] + f', "{key}": {raw_json}' + "}"


def _nesting_cases() -> list[Case]:
    return [
        Case("deep-nesting-unknown-field-100k", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(_with_raw_field(c.ev(1), "tree", _nested(100_000))), 1)]),
        Case("deep-nesting-in-data-100k", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(_with_raw_field(
                c.ev(1, "custom"), "data", '{"x": ' + _nested(100_000, "[", "", "]") + "}")),
               1)]),
        Case("deep-nesting-unbalanced-1m", EVENTS, lambda c: [
            ok("a.ndjson", ndjson("[" * 1_000_000, c.ev(1)), 1, "invalid_json")]),
        Case("deep-nesting-as-required-field", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(
                _with_raw_field({k: v for k, v in c.ev(1).items() if k != "event_id"},
                                "event_id", _nested(1000))), 0, "wrong_type")]),
    ]


def _json_shape_cases() -> list[Case]:
    def not_objects(c: Ctx) -> list[HostileFile]:
        good = json.dumps(c.ev(9))
        shapes = [
            "[]", f"[{good}]", "42", '"a string"', "null", "true", "NaN",
            good + good,  # two objects on one line
            good + " trailing",
            good[:-1],  # cut short
            good.replace('"', "'"),  # single quotes
            "{event_id: 1}",  # unquoted key
            "// a comment",
            "/* c */ " + good,
        ]
        return [ok("a.ndjson", ndjson(*shapes, "{}", c.ev(1)), 1,
                   *["invalid_json"] * len(shapes), "missing_field")]

    def duplicate_keys(c: Ctx) -> list[HostileFile]:
        # RFC 8259: names SHOULD be unique; a repeated one is kept (the first value wins)
        text = json.dumps(c.ev(1))[:-1] + f', "event_id": "{c.prefix}:other"' + "}"
        return [ok("a.ndjson", ndjson(text), 1)]

    def odd_keys(c: Ctx) -> list[HostileFile]:
        extra = {"": 1, 'a"b': 2, "$.x": 3, "event_id ": 4, "EVENT_ID": 5, "data.rating": 6,
                 "k\u00e9y\U0001f600": 7, "k" * 10_000: 8, "'; DROP TABLE raw.events; --": 9}
        return [ok("a.ndjson", ndjson(c.ev(1, **extra)), 1)]

    return [
        Case("json-not-an-object", EVENTS, not_objects),
        Case("json-duplicate-keys", EVENTS, duplicate_keys),
        Case("json-odd-unknown-keys", EVENTS, odd_keys),
        Case("json-trailing-comma-accepted", EVENTS, lambda c: [
            ok("a.ndjson", ndjson(json.dumps(c.ev(1))[:-1] + ",}"), 1)]),
    ]


# --- events: every field with values of the wrong JSON type -------------------------

WRONG = {
    "str": [1, 1.5, True, [], {}, ["a"]],
    "int": ["1", 1.5, True, [], {}, "x"],
    "num": ["0.5", True, [], {}],
    "bool": ["true", 1, 0, [], {}, "yes"],
    "obj": ["{}", 1, True, [], "x"],
    "any": [],  # the contract gives no type: any JSON value is kept (as its text)
}
RIGHT = {"str": "abc", "int": 3, "num": 0.5, "bool": True, "obj": {"k": 1}, "any": "v"}
KEPT_ANY = [1, 1.5, True, [1], {"k": "v"}, "text"]


def _wrong_type_case(f: Field) -> Case:
    def build(c: Ctx) -> list[HostileFile]:
        carrier = f.event_types[0] if f.event_types else "custom"

        def with_value(n: object, value: object) -> dict:
            e = c.ev(n, carrier)
            if f.in_data:
                e["data"] = {f.path: value}
            else:
                e[f.path] = value
            return e

        right = c.ts() if f.path == "timestamp" else RIGHT[f.kind]
        lines = [with_value("right", right)]
        lines += [with_value(f"wrong{i}", v) for i, v in enumerate(WRONG[f.kind])]
        lines += [with_value(f"any{i}", v) for i, v in enumerate(KEPT_ANY if f.kind == "any"
                                                                   else [])]
        lines.append(with_value("null", None))
        absent = c.ev("absent", carrier)
        if not f.in_data:
            absent.pop(f.path, None)
        lines.append(absent)
        reasons = ["wrong_type"] * len(WRONG[f.kind])
        loaded = 1 + (len(KEPT_ANY) if f.kind == "any" else 0)
        if f.required:
            reasons += ["missing_field", "missing_field"]  # null, absent
        else:
            loaded += 2
        if f.event_types:
            # on an event type that does not carry the field, it is not typed: kept in data
            other = next(t for t in ("conversation_start", "user_message")
                         if t not in f.event_types)
            lines += [c.ev(f"other{i}", other, data={f.path: v})
                      for i, v in enumerate(WRONG[f.kind])]
            loaded += len(WRONG[f.kind])
        return [ok("a.ndjson", ndjson(*lines), loaded, *reasons)]

    return Case(f"wrong-type-{f.label}", EVENTS, build)


def _range_cases() -> list[Case]:
    def out_of_range(c: Ctx) -> list[HostileFile]:
        bad = [
            c.ev(1, duration_ms=-1), c.ev(2, response_time_ms=-5),
            c.ev(3, "intent_classified", confidence=-0.01),
            c.ev(4, "intent_classified", confidence=1.01),
            c.ev(5, "user_feedback", data={"rating": 0}),
            c.ev(6, "user_feedback", data={"rating": 6}),
            c.ev(7, "lesson_completed", data={"quality": -0.1}),
            c.ev(8, "exercise_attempted", data={"quality": 1.5}),
            c.ev(9, "user_message", data={"text_length": 2**63}),
            c.ev(10, duration_ms=10**30),
            c.ev(11, "api_call", data={"status_code": -(2**63) - 1}),
        ]
        edge = [
            c.ev(20, duration_ms=0), c.ev(21, duration_ms=-0.0), c.ev(22, duration_ms=5.0),
            c.ev(23, duration_ms=2**63 - 1), c.ev(24, "intent_classified", confidence=0),
            c.ev(25, "intent_classified", confidence=1),
            c.ev(26, "user_feedback", data={"rating": 1}),
            c.ev(27, "user_feedback", data={"rating": 5.0}),
            c.ev(28, "exercise_attempted", data={"quality": 1}),
            c.ev(29, "api_call", data={"status_code": -(2**63)}),
        ]
        return [ok("a.ndjson", ndjson(*bad, *edge), len(edge), *["out_of_range"] * len(bad))]

    def non_finite(c: Ctx) -> list[HostileFile]:
        lines = [json.dumps(c.ev(f"n{i}", "intent_classified"))[:-1] + f', "confidence": {v}}}'
                 for i, v in enumerate(("NaN", "Infinity", "-Infinity", "1e400"))]
        lines.append(json.dumps(c.ev(2))[:-1] + ', "duration_ms": 1e400}')
        return [ok("a.ndjson", ndjson(*lines, c.ev(3)), 1, *["wrong_type"] * 5)]

    return [
        Case("out-of-range-values", EVENTS, out_of_range),
        Case("non-finite-numbers", EVENTS, non_finite),
    ]


def _required_cases() -> list[Case]:
    def missing(c: Ctx) -> list[HostileFile]:
        lines = []
        for i, f in enumerate(x for x in TOP_FIELDS if x.required):
            for j, value in enumerate((None, "", "   ", "absent")):
                e = c.ev(f"{i}-{j}")
                if value == "absent":
                    e.pop(f.path)
                else:
                    e[f.path] = value
                lines.append(e)
        return [ok("a.ndjson", ndjson(*lines, c.ev("ok")), 1, *["missing_field"] * len(lines))]

    return [Case("required-fields-missing-null-empty", EVENTS, missing)]


def _enum_cases() -> list[Case]:
    def unknown(c: Ctx) -> list[HostileFile]:
        # the contract lists these values but gives no rejection rule: kept as text;
        # an unknown event type "is kept and counted, not rejected"
        lines = [
            c.ev(1, channel="carrier-pigeon"), c.ev(2, platform="symbian"),
            c.ev(3, sentiment="ecstatic"), c.ev(4, location="Atlantis"),
            c.ev(5, "goal_created", data={"goal_type": "world-domination"}),
            c.ev(6, "intent_classified", data={"intent": ""}),
            c.ev(7, "brand_new_type"), c.ev(8, "USER_MESSAGE"), c.ev(9, " user_message"),
        ]
        return [ok("a.ndjson", ndjson(*lines), len(lines))]

    return [Case("unknown-enum-values-kept", EVENTS, unknown)]


def _timestamp_cases() -> list[Case]:
    def far_past(c: Ctx) -> list[HostileFile]:
        bad = ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1900-01-01", "0000-01-01",
               "-290308-12-21T19:59:05Z", "-0044-03-15T12:00:00Z"]
        lines = [c.ev(i, timestamp=t) for i, t in enumerate(bad)]
        lines.append(c.ev("epoch", timestamp="1970-01-01T00:00:00Z"))
        return [ok("a.ndjson", ndjson(*lines), 1, *["invalid_timestamp"] * len(bad))]

    def far_future(c: Ctx) -> list[HostileFile]:
        late = ["9999-12-31T23:59:59Z", "294247-01-10T04:00:54Z", "275760-09-13T00:00:00Z",
                "3000-01-01T00:00:00+14:00"]
        invalid = ["294247-01-10T04:00:54.775807Z", "99999999-01-01T00:00:00Z"]
        lines = [c.ev(f"l{i}", timestamp=t) for i, t in enumerate(late)]
        lines += [c.ev(f"i{i}", timestamp=t) for i, t in enumerate(invalid)]
        return [ok("a.ndjson", ndjson(*lines), 0, *["timestamp_too_late"] * len(late),
                   *["invalid_timestamp"] * len(invalid))]

    def boundary(c: Ctx) -> list[HostileFile]:
        d1, d2 = c.day + timedelta(days=1), c.day + timedelta(days=2)
        fine = [f"{d1}T23:59:59.999999Z", f"{d2}T01:00:00+02:00", f"{d1}T23:00:00",
                f"{c.day - timedelta(days=7)}T00:00:00Z", f"{c.day - timedelta(days=400)}",
                f"{c.day}T12:00:00-14:00", f"{c.day} 01:00:00", f"{c.day}T01:00:00.123456789Z"]
        late = [f"{d2}T00:00:00Z", f"{d2}T00:00:00.000001Z", f"{d1}T23:00:00-01:00"]
        lines = [c.ev(f"f{i}", timestamp=t) for i, t in enumerate(fine)]
        lines += [c.ev(f"l{i}", timestamp=t) for i, t in enumerate(late)]
        return [ok("a.ndjson", ndjson(*lines), len(fine), *["timestamp_too_late"] * len(late))]

    def unparseable(c: Ctx) -> list[HostileFile]:
        bad = ["yesterday", "2026-02-30T00:00:00Z", "2026-03-10T25:00:00Z",
               "2026-13-01T00:00:00Z", "2026-03-10T23:59:60Z", "20260310T010000Z",
               "10/03/2026", "2026-03-10T01:00:00 nowhere"]
        lines = [c.ev(i, timestamp=t) for i, t in enumerate(bad)]
        lines.append(c.ev("num", timestamp=1773100000))
        return [ok("a.ndjson", ndjson(*lines, c.ev("ok")), 1,
                   *["invalid_timestamp"] * len(bad), "wrong_type")]

    def special_words(c: Ctx) -> list[HostileFile]:
        # DuckDB's cast reads these words as dates; they are not ISO-8601
        words = ["epoch", "infinity", "-infinity", "EPOCH", " epoch", "Infinity", "+infinity"]
        lines = [c.ev(i, timestamp=w) for i, w in enumerate(words)]
        return [ok("a.ndjson", ndjson(*lines, c.ev("ok")), 1,
                   *["invalid_timestamp"] * len(words))]

    return [
        Case("timestamps-far-past", EVENTS, far_past),
        Case("timestamps-far-future", EVENTS, far_future),
        Case("timestamps-day-after-boundary", EVENTS, boundary),
        Case("timestamps-unparseable", EVENTS, unparseable),
        Case("timestamps-special-words", EVENTS, special_words),
    ]


def _export_day_cases() -> list[Case]:
    def far_future_day(c: Ctx) -> list[HostileFile]:
        # an export date far ahead: its events are judged against it like any day's
        return [ok("a.ndjson", ndjson(c.ev(1), c.ev(2, timestamp="9999-12-31T23:59:59Z")), 2)]

    def far_past_day(c: Ctx) -> list[HostileFile]:
        # nothing can be valid: before 1970, or after the day following the export date
        return [ok("a.ndjson", ndjson(c.ev(1), c.ev(2, timestamp="2026-03-10T00:00:00Z")), 0,
                   "invalid_timestamp", "timestamp_too_late")]

    return [
        Case("export-day-9999-12-31", EVENTS, far_future_day, tags=("day:9999-12-31",)),
        Case("export-day-0001-01-01", EVENTS, far_past_day, companion=False,
             tags=("day:0001-01-01",)),
    ]


# --- events: Parquet -----------------------------------------------------------------


def _event_columns(c: Ctx, n: int = 2, **override: pa.Array | None) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "event_id": pa.array([f"{c.prefix}:{i}" for i in range(n)]),
        "event_type": pa.array(["user_message"] * n),
        "timestamp": pa.array([c.ts()] * n),
        "session_id": pa.array(["s1"] * n),
    }
    for k, v in override.items():
        if v is None:
            cols.pop(k, None)
        else:
            cols[k] = v
    return pa.table(cols)


def _parquet_cases() -> list[Case]:
    def mistyped(c: Ctx) -> list[HostileFile]:
        n = 2
        wrong = {
            "event_id": pa.array([1, 2]),
            "timestamp": pa.array([1773100000, 1773100001]),
            "session_id": pa.array([True, False]),
            "duration_ms": pa.array(["5", "6"]),
            "confidence": pa.array(["0.5", "0.6"]),
            "data": pa.array([[1], [2]]),
        }
        out = [ok(f"{k}.parquet", parquet(_event_columns(c, n, **{k: v})), 0,
                  *["wrong_type"] * n) for k, v in wrong.items()]
        out.append(ok("u64.parquet", parquet(_event_columns(
            c, 1, duration_ms=pa.array([2**64 - 1], pa.uint64()))), 0, "out_of_range"))
        out.append(ok("data_not_json.parquet", parquet(_event_columns(
            c, 1, data=pa.array(["not json"]))), 0, "wrong_type"))
        return out

    def typed_columns(c: Ctx) -> list[HostileFile]:
        at = datetime.combine(c.day, time(1))
        files = iter(range(100))

        def sub() -> Ctx:  # distinct event ids in each file
            return Ctx(c.entity, c.day, f"{c.prefix}/{next(files)}")

        return [
            ok("ts.parquet", parquet(_event_columns(sub(), 1, timestamp=pa.array([at]))), 1),
            ok("tstz.parquet", parquet(_event_columns(
                sub(), 1, timestamp=pa.array([at]).cast(pa.timestamp("us", tz="UTC")))), 1),
            ok("ns.parquet", parquet(_event_columns(
                sub(), 1, timestamp=pa.array([at]).cast(pa.timestamp("ns")))), 1),
            ok("date.parquet", parquet(_event_columns(
                sub(), 1, timestamp=pa.array([c.day], pa.date32()))), 1),
            ok("f32.parquet", parquet(_event_columns(
                sub(), 1, confidence=pa.array([0.5], pa.float32()))), 1),
            ok("dec.parquet", parquet(_event_columns(
                sub(), 1, duration_ms=pa.array([5], pa.decimal128(38, 0)))), 1),
            ok("dict.parquet", parquet(_event_columns(
                sub(), 1, event_type=pa.array(["user_message"]).dictionary_encode())), 1),
            ok("large.parquet", parquet(_event_columns(
                sub(), 1, session_id=pa.array(["s"], pa.large_string()))), 1),
            ok("struct_data.parquet", parquet(_event_columns(
                sub(), 1, event_type=pa.array(["user_message"]),
                data=pa.array([{"text_length": 3, "mood": "new"}]))), 1),
            ok("json_data.parquet", parquet(_event_columns(
                sub(), 1, data=pa.array(['{"text_length": 3}']))), 1),
            ok("map_data.parquet", parquet(_event_columns(
                sub(), 1, data=pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())))), 1),
        ]

    def extra_columns(c: Ctx) -> list[HostileFile]:
        t = _event_columns(
            c, 2,
            note=pa.array(["a", None]), num=pa.array([1, 2]),
            nested=pa.array([{"a": {"b": [1, 2]}}, None]), tags=pa.array([["x"], []]),
            blob=pa.array([b"\xff\x00", b""]), day=pa.array([c.day, c.day], pa.date32()),
        )
        return [ok("a.parquet", parquet(t), 2)]

    def duplicate_columns(c: Ctx) -> list[HostileFile]:
        t = _event_columns(c, 1)
        t = pa.table([*t.columns, pa.array(["dup"])], names=[*t.column_names, "event_id"])
        return [ok("a.parquet", parquet(t), 1)]

    def row_groups(c: Ctx) -> list[HostileFile]:
        t = _event_columns(c, 3, duration_ms=pa.array([1, -1, 2]))
        return [ok("a.parquet", parquet(t, row_group_size=1), 2, "out_of_range")]

    def null_required(c: Ctx) -> list[HostileFile]:
        t = _event_columns(c, 3, session_id=pa.array(["s", None, ""]))
        return [ok("a.parquet", parquet(t), 1, "missing_field", "missing_field")]

    return [
        Case("parquet-missing-required-column", EVENTS, lambda c: [
            fails("a.parquet", parquet(_event_columns(c, session_id=None)), "session_id")]),
        Case("parquet-only-required-columns", EVENTS, lambda c: [
            ok("a.parquet", parquet(_event_columns(c)), 2)]),
        Case("parquet-uppercase-required-column", EVENTS, lambda c: [
            fails("a.parquet", parquet(_event_columns(
                c, event_id=None, EVENT_ID=pa.array(["a", "b"]))), "event_id")]),
        Case("parquet-mistyped-columns", EVENTS, mistyped),
        Case("parquet-typed-columns", EVENTS, typed_columns),
        Case("parquet-extra-columns", EVENTS, extra_columns),
        Case("parquet-duplicate-column-names", EVENTS, duplicate_columns),
        Case("parquet-column-named-file_row_number", EVENTS, lambda c: [
            ok("a.parquet", parquet(_event_columns(c, file_row_number=pa.array([7, 8]))), 2)]),
        Case("parquet-non-finite-confidence", EVENTS, lambda c: [
            ok("a.parquet", parquet(_event_columns(
                c, confidence=pa.array([float("nan"), float("inf")]))), 0,
               "wrong_type", "wrong_type")]),
        Case("parquet-null-required-values", EVENTS, null_required),
        Case("parquet-row-groups-of-one", EVENTS, row_groups),
        Case("parquet-zero-rows", EVENTS, lambda c: [
            ok("a.parquet", parquet(_event_columns(c, 0)), 0, read=0)]),
        Case("parquet-zero-byte-file", EVENTS, lambda c: [fails("a.parquet", b"", "Parquet")]),
        Case("parquet-truncated", EVENTS, lambda c: [
            fails("a.parquet", parquet(_event_columns(c))[:-40], "Parquet")]),
        Case("parquet-ndjson-named-parquet", EVENTS, lambda c: [
            fails("a.parquet", _twenty(c), "Parquet")]),
    ]


def _file_name_cases() -> list[Case]:
    return [
        Case("file-names-not-of-the-contract", EVENTS, lambda c: [
            ignored("notes.txt"), ignored("a.json"), ignored("a.ndjson.bz2"),
            ignored("a.csv"), ignored("a.ndjson.gz.part")]),
        Case("file-name-uppercase-suffix", EVENTS, lambda c: [
            ok("A.NDJSON", ndjson(c.ev(1)), 1)]),
        Case("file-names-with-glob-characters", EVENTS, lambda c: [
            fails("a*.ndjson", ndjson(c.ev(1)), "glob"),
            fails("b?.ndjson", ndjson(c.ev(2)), "glob"),
            fails("c[1].ndjson", ndjson(c.ev(3)), "glob"),
            fails("d{x}.parquet", parquet(_event_columns(c)), "glob")]),
    ]


EVENT_CASES: list[Case] = [
    *_gzip_cases(),
    *_empty_and_line_break_cases(),
    *_encoding_cases(),
    *_huge_cases(),
    *_nesting_cases(),
    *_json_shape_cases(),
    *(_wrong_type_case(f) for f in (*TOP_FIELDS, *DATA_FIELDS)),
    *_range_cases(),
    *_required_cases(),
    *_enum_cases(),
    *_timestamp_cases(),
    *_export_day_cases(),
    *_parquet_cases(),
    *_file_name_cases(),
]

# --- platform CSV ------------------------------------------------------------------

PAY = ",".join(PLATFORM_BY_NAME["payments"].columns)
CM = ",".join(PLATFORM_BY_NAME["content_metrics"].columns)
USERS = ",".join(PLATFORM_BY_NAME["users"].columns)


def _pay(c: Ctx, n: int | str, amount: str = "1.00", paid_at: str = "2026-03-10T10:00:00Z",
         kind: str = "charge", currency: str = "USD") -> str:
    return f"{c.key(n)},u1,pr1,{amount},{currency},{paid_at},{kind}"


def _csv_header_cases() -> list[Case]:
    good = "p1,u1,pr1,1.00,USD,2026-03-10,charge"
    return [
        Case("csv-zero-byte-file", "payments", lambda c: [fails("payments.csv", b"", "empty")]),
        Case("csv-header-only", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY), 0, read=0)]),
        Case("csv-header-only-no-newline", "payments", lambda c: [
            ok("payments.csv", PAY.encode(), 0, read=0)]),
        Case("csv-header-missing-required-column", "payments", lambda c: [
            fails("payments.csv", csv_text("payment_id,user_id,currency,paid_at,kind",
                                           "p1,u1,USD,2026-03-10,charge"), "amount")]),
        Case("csv-header-wrong-case", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY.upper(), good), "payment_id")]),
        Case("csv-header-semicolon-delimited", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY.replace(",", ";"), good.replace(",", ";")),
                  "payment_id")]),
        Case("csv-header-duplicate-column", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY + ",amount", good + ",2.00"), "duplicate")]),
        Case("csv-header-duplicate-column-other-case", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY + ",Amount", good + ",2.00"), "duplicate")]),
        Case("csv-header-empty-column-name", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY + ",", good + ",x"), "empty")]),
        Case("csv-header-after-a-blank-line", "payments", lambda c: [
            fails("payments.csv", b"\n" + csv_text(PAY, good), "header")]),
        Case("csv-header-invalid-utf8", "payments", lambda c: [
            fails("payments.csv", PAY.encode() + b",caf\xe9\n" + good.encode() + b",x\n",
                  "UTF-8")]),
        Case("csv-header-with-bom", "payments", lambda c: [
            ok("payments.csv", b"\xef\xbb\xbf" + csv_text(PAY, _pay(c, 1)), 1)]),
        Case("csv-header-quoted-names", "payments", lambda c: [
            ok("payments.csv", csv_text(",".join(f'"{h}"' for h in PAY.split(",")),
                                        _pay(c, 1)), 1)]),
        Case("csv-header-reordered-columns", "payments", lambda c: [
            ok("payments.csv", csv_text("kind,paid_at,currency,amount,program_id,user_id,"
                                        "payment_id",
                                        f"charge,2026-03-10,USD,1.00,pr1,u1,{c.key(1)}"), 1)]),
        Case("csv-header-extra-columns", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY + ",referrer,\"we,ird\"", _pay(c, 1) + ",x,y"),
               1)]),
        Case("csv-header-optional-columns-absent", "payments", lambda c: [
            ok("payments.csv", csv_text("payment_id,amount,currency,paid_at,kind",
                                        f"{c.key(1)},1.00,USD,2026-03-10,charge"), 1)]),
        Case("csv-header-cr-only-line-breaks", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY, _pay(c, 1), _pay(c, 2)).replace(b"\n", b"\r"),
                  "header row is not valid CSV")]),
    ]


def _csv_body_cases() -> list[Case]:
    return [
        Case("csv-embedded-newlines", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1), f'"{c.key(2)}\nx",u1,"pr\r\n1",1.00,'
                                        'USD,2026-03-10,charge', _pay(c, 3)), 3, read=3)]),
        Case("csv-carriage-return-in-quoted-cell", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1, currency='"U\rSD"'),
                                        _pay(c, 2, currency='"\r"'), _pay(c, 3)), 3, read=3)]),
        Case("csv-bare-carriage-return-in-cell", "payments", lambda c: [
            # not RFC 4180 (a line break in an unquoted field): DuckDB's reader gives up
            fails("payments.csv", csv_text(PAY, _pay(c, 1, currency="U\rSD"), _pay(c, 2)),
                  "CSV Parser")]),
        Case("csv-stray-quotes", "payments", lambda c: [
            ok("payments.csv", csv_text(
                PAY, _pay(c, 1).replace(",u1,", ',u"1,'),  # a quote inside a bare field: kept
                f'"{c.key(2)}"x,u1,pr1,1.00,USD,2026-03-10,charge',  # text after a quote
                f'"{c.key(3)}""",u1,pr1,1.00,USD,2026-03-10,charge',  # escaped quote
                _pay(c, 4)), 3, "malformed_csv")]),
        Case("csv-unterminated-quote", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY, _pay(c, 1), _pay(c, 2).replace(",u1,", ',"u1,'),
                                           _pay(c, 3)), "unterminated quote")]),
        Case("csv-unterminated-quote-last-line", "payments", lambda c: [
            fails("payments.csv", csv_text(PAY, _pay(c, 1), _pay(c, 2) + ',"x'),
                  "unterminated quote")]),
        Case("csv-wrong-column-counts", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1) + ",surplus,more", f"{c.key(2)},u1",
                                        _pay(c, 3)), 1, "wrong_column_count",
               "wrong_column_count")]),
        Case("csv-invalid-utf8-cell", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1)) + _pay(c, 2).encode().replace(
                b"USD", b"US\xff") + b"\n", 1, "invalid_utf8")]),
        Case("csv-nul-byte-in-cell", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1).replace("u1", "u\x001")), 1)]),
        Case("csv-crlf-line-breaks", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, _pay(c, 1), _pay(c, 2)).replace(b"\n", b"\r\n"),
               2)]),
        Case("csv-blank-and-space-lines", "payments", lambda c: [
            ok("payments.csv", csv_text(PAY, "", _pay(c, 1), "", "", _pay(c, 2), "   "), 2,
               "wrong_column_count")]),
        Case("csv-long-line-3mb", "payments", lambda c: [
            # DuckDB's CSV reader refuses a line over 2 MB: that row is rejected, not lost
            ok("payments.csv", csv_text(PAY, _pay(c, 1), _pay(c, 2, currency="x" * (3 * MB)),
                                        _pay(c, 3)), 2, "malformed_csv")]),
        Case("csv-gz-truncated", "payments", lambda c: [
            fails("payments.csv.gz", gz(csv_text(PAY, *(_pay(c, i) for i in range(200))))[:300],
                  "GZIP")]),
        Case("csv-gz-corrupt", "payments", lambda c: [
            fails("payments.csv.gz", _flip(gz(csv_text(PAY, _pay(c, 1))), 14))]),
        Case("csv-gz-plain-text", "payments", lambda c: [
            fails("payments.csv.gz", csv_text(PAY, _pay(c, 1)))]),
        Case("csv-gz-zero-byte", "payments", lambda c: [fails("payments.csv.gz", b"")]),
    ]


def _csv_value_cases() -> list[Case]:
    def payments_values(c: Ctx) -> list[HostileFile]:
        rows = [
            (_pay(c, "k1", kind="chargeback"), "invalid_value"),
            (_pay(c, "k2", kind="CHARGE"), "invalid_value"),
            (_pay(c, "m1", amount="1e400"), "wrong_type"),
            (_pay(c, "m2", amount="NaN"), "wrong_type"),
            (_pay(c, "m3", amount="Infinity"), "wrong_type"),
            (_pay(c, "m4", amount='"1,000.00"'), "wrong_type"),
            (_pay(c, "m5", amount="12345678901234567890"), "wrong_type"),
            (_pay(c, "m6", amount="-5"), "out_of_range"),
            (_pay(c, "m7", amount=""), "missing_field"),
            (_pay(c, "ok1", amount="-0"), None),
            (_pay(c, "ok2", amount=" 12.5 "), None),
            (_pay(c, "ok3", kind="refund", currency="XXX"), None),
        ]
        reasons = [r for _, r in rows if r]
        return [ok("payments.csv", csv_text(PAY, *(r for r, _ in rows)),
                   len(rows) - len(reasons), *reasons)]

    def payments_dates(c: Ctx) -> list[HostileFile]:
        # platform timestamps have no range rule: far dates are kept; words are not dates
        kept = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "99999-01-01", "1969-12-31"]
        bad = ["2026-02-30", "epoch", "infinity", "-infinity", "yesterday"]
        rows = [_pay(c, f"k{i}", paid_at=t) for i, t in enumerate(kept)]
        rows += [_pay(c, f"b{i}", paid_at=t) for i, t in enumerate(bad)]
        return [ok("payments.csv", csv_text(PAY, *rows), len(kept),
                   *["invalid_timestamp"] * len(bad))]

    def content_numbers(c: Ctx) -> list[HostileFile]:
        def row(n: str, platform: str = "youtube", as_of: str = "2026-03-10",
                impressions: str = "10", watch: str = "12.5", followers: str = "1") -> str:
            return (f"{c.key(n)},cr1,{platform},2026-03-01,{as_of},{impressions},5,{watch},"
                    f"1,1,1,1,1,{followers}")

        rows = [
            (row("nan", watch="NaN"), "wrong_type"),
            (row("inf", watch="inf"), "wrong_type"),
            (row("ninf", watch="-Infinity"), "wrong_type"),
            (row("big", impressions="9223372036854775808"), "wrong_type"),
            (row("frac", impressions="1.5"), "wrong_type"),
            (row("neg", impressions="-1"), "out_of_range"),
            (row("feb30", as_of="2026-02-30"), "wrong_type"),
            (row("epoch", as_of="epoch"), "wrong_type"),
            (row("noday", as_of=""), "missing_field"),
            (row("myspace", platform="myspace"), None),  # unknown platform: kept
            (row("lost", followers="-5"), None),  # followers can be lost
            (row("huge", watch="1e308"), None),
        ]
        reasons = [r for _, r in rows if r]
        return [ok("content_metrics.csv", csv_text(CM, *(r for r, _ in rows)),
                   len(rows) - len(reasons), *reasons)]

    return [
        Case("csv-payments-enums-and-amounts", "payments", payments_values),
        Case("csv-payments-far-and-bad-dates", "payments", payments_dates),
        Case("csv-content-metrics-numbers-and-dates", "content_metrics", content_numbers),
    ]


def _snapshot_cases() -> list[Case]:
    def users(c: Ctx) -> list[HostileFile]:
        rows = [
            f"{c.key(1)},a@example.com,A,2026-01-01T00:00:00Z,ZZ,Mars/Olympus,tv,enterprise",
            f"{c.key(2)},,,2026-01-01,,,,",
            f"{c.key(3)},x@example.com,\"Name, \"\"Quoted\"\"\nNew line\",0001-01-01,DE,UTC,"
            "ads,free",
            f"{c.key(4)},y@example.com,Y,9999-12-31T23:59:59Z,DE,UTC,ads,pro",
            f"{c.key(5)},z@example.com,Z,infinity,DE,UTC,ads,pro",
            f"{c.key(6)},z@example.com,Z,,DE,UTC,ads,pro",
        ]
        return [ok("users.csv", csv_text(USERS, *rows), 4, "invalid_timestamp",
                   "missing_field")]

    def enrollments(c: Ctx) -> list[HostileFile]:
        h = ",".join(PLATFORM_BY_NAME["enrollments"].columns)
        rows = [f"{c.key(1)},u1,p1,2026-03-01,paused,", f"{c.key(2)},u1,p1,2026-03-01,ACTIVE,",
                f"{c.key(3)},u1,p1,2026-03-01,active,", f"{c.key(4)},u1,p1,2026-03-01,,",
                f"{c.key(5)},u1,p1,2026-03-01,completed,2026-02-01"]
        return [ok("enrollments.csv", csv_text(h, *rows), 3, "invalid_value", "invalid_value")]

    def assignments(c: Ctx) -> list[HostileFile]:
        h = ",".join(PLATFORM_BY_NAME["experiment_assignments"].columns)
        rows = ["exp1,A,u1,2026-03-01", "exp1,B,u1,2026-03-02", "exp1,A,u2,2026-03-01"]
        return [HostileFile("experiment_assignments.csv", csv_text(h, *rows), "loaded", 2, (),
                            3)]

    def programs(c: Ctx) -> list[HostileFile]:
        h = ",".join(PLATFORM_BY_NAME["programs"].columns)
        rows = [f"{c.key(1)},c1,T,a|b||c| ,10,EUR,2026-01-01",
                f"{c.key(2)},c1,T,,0,,", f"{c.key(3)},c1,T,x,-1,EUR,2026-01-01"]
        return [ok("programs.csv", csv_text(h, *rows), 2, "out_of_range")]

    return [
        Case("csv-users-unknown-values-and-far-dates", "users", users, companion=False),
        Case("csv-users-broken-snapshot", "users", lambda c: [
            fails("users.csv", csv_text("userid,email", "u1,a@example.com"), "user_id")],
            companion=False),
        Case("csv-enrollments-unknown-status", "enrollments", enrollments, companion=False),
        Case("csv-experiment-assignments-duplicate-key", "experiment_assignments",
             assignments, companion=False),
        Case("csv-programs-topic-lists-and-prices", "programs", programs, companion=False),
    ]


PLATFORM_CASES: list[Case] = [
    *_csv_header_cases(), *_csv_body_cases(), *_csv_value_cases(), *_snapshot_cases(),
]
ALL_CASES = EVENT_CASES + PLATFORM_CASES
assert len({c.id for c in ALL_CASES}) == len(ALL_CASES), "case ids must be unique"

# --- the run -------------------------------------------------------------------------

FIRST_DAY = date(2026, 1, 1)
CASES_PER_DAY = 8


@dataclass
class Loaded:
    """Where one case landed and how its day came out."""

    case: Case
    day: date
    files: list[HostileFile]  # file names as written (prefixed with the case id)
    account: DayAccount
    companion: HostileFile | None


@dataclass
class CorpusRun:
    landing: Path
    con: duckdb.DuckDBPyConnection
    cases: dict[str, Loaded]
    # every export day, as checked right after its load
    accounts: dict[tuple[str, date], DayAccount]
    sentinels: dict[str, DayAccount]  # a good day of each entity, loaded in the same run
    # snapshot entities: the export dates in the raw table right after each day's load
    snapshot_after: dict[tuple[str, date], set[date]]


def _is_snapshot(entity: str) -> bool:
    return entity != EVENTS and PLATFORM_BY_NAME[entity].kind == "snapshot"


def _fixed_day(case: Case) -> date | None:
    for tag in case.tags:
        if tag.startswith("day:"):
            return date.fromisoformat(tag[4:])
    return None


def _prefixed(case: Case, files: list[HostileFile]) -> list[HostileFile]:
    return [HostileFile(f"{case.id}--{f.name}", *(getattr(f, k) for k in (
        "content", "status", "loaded", "reasons", "read", "message", "among"))) for f in files]


def _plan(cases: list[Case]) -> tuple[list[tuple[date, list[Case]]], date]:
    """Export days for the cases, and a free day after them: several cases to a day,
    except snapshot entities (one file a day) and cases with a fixed day."""
    planned: list[tuple[date, list[Case]]] = []
    day = FIRST_DAY
    group: list[Case] = []
    for case in cases:
        fixed = _fixed_day(case)
        if fixed is not None:
            planned.append((fixed, [case]))
        elif _is_snapshot(case.entity):
            planned.append((day, [case]))
            day += timedelta(days=1)
        else:
            group.append(case)
            if len(group) == CASES_PER_DAY:
                planned.append((day, group))
                day, group = day + timedelta(days=1), []
    if group:
        planned.append((day, group))
        day += timedelta(days=1)
    return planned, day


def _load_entity(run: CorpusRun, entity: str, cases: list[Case]) -> None:
    planned, sentinel_day = _plan(cases)
    written = []
    for day, group in planned:
        members = [(case, _prefixed(case, case.build(Ctx(entity, day, case.id))))
                   for case in group]
        companion = None
        if all(c.companion for c in group):
            taken = {f.name for _, fs in members for f in fs}
            companion = companion_file(Ctx(entity, day, f"day-{day}"), taken)
        files = [f for _, fs in members for f in fs] + ([companion] if companion else [])
        write_day(run.landing, Ctx(entity, day, ""), files)
        written.append((day, members, companion))
    sentinel = companion_file(Ctx(entity, sentinel_day, "sentinel"), set())
    write_day(run.landing, Ctx(entity, sentinel_day, ""), [sentinel])
    days = sorted([d for d, _, _ in written] + [sentinel_day])
    if _is_snapshot(entity):
        # the latest complete snapshot wins: load and check each day before the next
        for d in days:
            batch = load_entity_days(run.con, run.landing, entity, [d])
            assert len(batch.results) == 1
            run.accounts[entity, d] = account_day(run.con, entity, d)
            run.snapshot_after[entity, d] = {r[0] for r in run.con.execute(
                f"SELECT DISTINCT export_date FROM {PLATFORM_BY_NAME[entity].table}"
            ).fetchall()}
    else:
        batch = load_entity_days(run.con, run.landing, entity, days)  # one run, in chunks
        assert len(batch.results) == len(days)
        for d in days:
            run.accounts[entity, d] = account_day(run.con, entity, d)
    for day, members, companion in written:
        for case, files in members:
            run.cases[case.id] = Loaded(case, day, files, run.accounts[entity, day], companion)
    run.sentinels[entity] = run.accounts[entity, sentinel_day]


def _run_corpus(root: Path, cases: list[Case]) -> CorpusRun:
    con = connect(root / "warehouse.duckdb")
    ensure_schema(con)
    run = CorpusRun(root / "landing", con, {}, {}, {}, {})
    by_entity: dict[str, list[Case]] = {}
    for case in cases:
        by_entity.setdefault(case.entity, []).append(case)
    for entity, entity_cases in by_entity.items():
        _load_entity(run, entity, entity_cases)
    return run


def _selected(config: pytest.Config) -> list[Case]:
    return [c for c in ALL_CASES if not c.long_only or long_variant(config)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
           ) -> Iterator[CorpusRun]:
    run = _run_corpus(tmp_path_factory.mktemp("hostile"), _selected(request.config))
    yield run
    run.con.close()


def _param(case: Case) -> object:
    return pytest.param(case, id=case.id, marks=[pytest.mark.long] if case.long_only else [])


@pytest.mark.parametrize("case", [_param(c) for c in ALL_CASES])
def test_hostile_case(corpus: CorpusRun, case: Case) -> None:
    loaded = corpus.cases[case.id]
    check_expectations(loaded.account, loaded.files)
    if loaded.companion is not None:
        # one bad file does not sink the day: the good file beside it loaded in full
        check_expectations(loaded.account, [loaded.companion])


def test_every_entity_run_went_on_to_its_last_day(corpus: CorpusRun) -> None:
    for entity, account in corpus.sentinels.items():
        (good,) = account.files.values()
        assert (good.status, good.current, good.rejected) == ("loaded", 2, 0), entity


def test_later_days_of_the_run_left_earlier_days_reconciled(corpus: CorpusRun) -> None:
    """Re-checked once the whole run is over (not for snapshots, replaced by design)."""
    for (entity, day), before in corpus.accounts.items():
        if not _is_snapshot(entity):
            after = account_day(corpus.con, entity, day, fresh=False)
            assert (after.read, after.rows) == (before.read, before.rows), (entity, day)


def test_the_corpus_counts(corpus: CorpusRun) -> None:
    """How much hostile input the corpus fed in, and that every row is accounted for
    (printed with -s, for the issue's report)."""
    read = sum(a.read for a in corpus.accounts.values())
    rows = sum(a.rows for a in corpus.accounts.values())
    files = sum(len(lc.files) for lc in corpus.cases.values())
    statuses: dict[str, int] = {}
    for a in corpus.accounts.values():
        for f in a.files.values():
            statuses[f.status] = statuses.get(f.status, 0) + 1
    assert read == rows and read > 0
    print(f"\nhostile corpus: {len(corpus.cases)} cases, {files} hostile files, "
          f"{len(corpus.accounts)} export days, files by status {statuses}; "
          f"{read} records read = {rows} rows in the raw tables and rejects")


# --- details the corpus cases do not show on their own ----------------------------------


def test_unknown_fields_and_odd_keys_are_kept_verbatim(corpus: CorpusRun) -> None:
    (extra,) = corpus.con.execute(
        "SELECT extra FROM raw.events WHERE event_id = 'json-odd-unknown-keys:1'").fetchone()
    keys = json.loads(extra)
    assert keys[""] == 1 and keys['a"b'] == 2 and keys["$.x"] == 3
    assert keys["'; DROP TABLE raw.events; --"] == 9 and keys["k" * 10_000] == 8
    assert keys["EVENT_ID"] == 5 and keys["data.rating"] == 6


def test_parquet_extra_and_clashing_columns_are_kept(corpus: CorpusRun) -> None:
    con = corpus.con
    (extra,) = con.execute(
        "SELECT extra FROM raw.events WHERE event_id = 'parquet-extra-columns:0'").fetchone()
    kept = json.loads(extra)
    assert kept["note"] == "a" and kept["num"] == 1 and kept["nested"] == {"a": {"b": [1, 2]}}
    assert kept["tags"] == ["x"] and "blob" in kept and "day" in kept
    rows = con.execute(
        "SELECT source_line, extra->>'$.file_row_number' FROM raw.events "
        "WHERE event_id LIKE 'parquet-column-named-file_row_number:%' ORDER BY 1").fetchall()
    assert rows == [(1, "7"), (2, "8")]


def test_rejected_lines_keep_file_line_and_raw_text(corpus: CorpusRun) -> None:
    con = corpus.con
    rows = con.execute(
        "SELECT line_number, reason_code, length(raw_text) FROM raw.rejects "
        "WHERE source_file LIKE '%long-line-4mb-not-json-no-newline--a.ndjson'").fetchall()
    assert rows == [(1, "invalid_json", 4 * MB + 1)]
    (line,) = con.execute(
        "SELECT line_number FROM raw.rejects "
        "WHERE source_file LIKE '%parquet-row-groups-of-one--a.parquet'").fetchone()
    assert line == 2
    text = con.execute(
        "SELECT raw_text FROM raw.rejects WHERE source_file LIKE "
        "'%utf8-invalid-sequences--a.ndjson' ORDER BY line_number").fetchall()
    assert len(text) == 7 and all(t[0] for t in text)


def test_a_long_valid_line_loads_in_full(corpus: CorpusRun) -> None:
    (n,) = corpus.con.execute(
        "SELECT length(feedback_comment) FROM raw.events "
        "WHERE event_id = 'long-line-4mb-valid:big'").fetchone()
    assert n == 4 * MB


def test_csv_values_land_in_their_columns(corpus: CorpusRun) -> None:
    con = corpus.con
    assert con.execute(
        "SELECT user_id, amount::DOUBLE, kind FROM raw.payments "
        "WHERE payment_id = 'csv-header-reordered-columns-1'").fetchone() == ("u1", 1.0, "charge")
    assert con.execute(
        "SELECT payment_id, program_id FROM raw.payments "
        "WHERE payment_id LIKE 'csv-embedded-newlines-2%'").fetchone() == (
        "csv-embedded-newlines-2\nx", "pr\r\n1")
    assert json.loads(con.execute(
        "SELECT extra FROM raw.payments WHERE payment_id = 'csv-header-extra-columns-1'"
    ).fetchone()[0]) == {"referrer": "x", "we,ird": "y"}


def test_a_failed_snapshot_keeps_the_previous_one(corpus: CorpusRun) -> None:
    broken = corpus.cases["csv-users-broken-snapshot"]
    before = corpus.cases["csv-users-unknown-values-and-far-dates"]
    assert broken.day > before.day
    # the broken day's snapshot was not applied: the earlier one is still the one loaded
    assert corpus.snapshot_after["users", broken.day] == {before.day}
    assert corpus.snapshot_after["users", before.day] == {before.day}


def test_gzip_zero_padding_is_what_gzip_allows() -> None:
    """The corpus pins Python's reading of the gzip edge cases the loader relies on."""
    data = b'{"a": 1}\n'
    assert gzip.decompress(gz(data) + b"\0" * 64) == data
    assert gzip.decompress(b"") == b""


def test_non_finite_numbers_are_named_in_the_reason(corpus: CorpusRun) -> None:
    reasons = [r[0] for r in corpus.con.execute(
        "SELECT reason FROM raw.rejects WHERE source_file LIKE '%non-finite-numbers--a.ndjson'"
    ).fetchall()]
    assert len(reasons) == 5
    assert all(r.endswith("got NaN or infinity") for r in reasons), reasons


def test_csv_columns_named_like_the_loaders_work_columns_keep_their_names(tmp_path: Path
                                                                          ) -> None:
    landing = tmp_path / "landing"
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_schema(con)
    day = date(2026, 3, 10)
    write_day(landing, Ctx("payments", day, ""), [HostileFile("payments.csv", csv_text(
        PAY + ",good_row,record_number", "p1,u1,pr1,1.00,USD,2026-03-10,charge,a,b"))])
    load_entity_days(con, landing, "payments", [day])
    account_day(con, "payments", day)
    (extra,) = con.execute("SELECT extra FROM raw.payments").fetchone()
    con.close()
    assert json.loads(extra) == {"good_row": "a", "record_number": "b"}
