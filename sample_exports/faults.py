"""Faults planted into event lines: each faulty line has exactly one problem.

A faulty line replaces the line of a real event (the event is "lost" to corruption), so
counts of valid lines stay easy to reason about. The loader's reason code for each kind:

==================  ==================================================================
kind                what the line looks like
==================  ==================================================================
invalid_json        truncated line, trailing ``}``, or valid JSON that is not an object
                    (an array holding the event, or a JSON string)
invalid_utf8        a valid JSON object with a byte sequence that is not UTF-8 inside
                    the session_id string
missing_field       one of event_id, event_type, timestamp, session_id removed or null
wrong_type          duration_ms "abc", user_id 123, data a string, data.correct "yes",
                    confidence "high", data.rating "5" or response_time_ms 12.5
out_of_range        negative duration_ms / response_time_ms, confidence outside [0, 1],
                    data.rating 0/6/7, data.quality outside [0, 1]
invalid_timestamp   a timestamp that is not an ISO-8601 date-time (30 February, hour 25,
                    month 13, ``05/01/2026 10:15:00``, an RFC 2822 date, ``yesterday``)
timestamp_too_late  a valid timestamp 2 to 30 days after the export date (``Z``)
==================  ==================================================================
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np

EVENT_FAULT_KINDS: tuple[str, ...] = (
    "invalid_json",
    "invalid_utf8",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "invalid_timestamp",
    "timestamp_too_late",
)
#: expected faulty lines per NDJSON line, per kind
FAULT_RATE: dict[str, float] = {
    "invalid_json": 1.5e-4,
    "invalid_utf8": 0.5e-4,
    "missing_field": 1.0e-4,
    "wrong_type": 1.0e-4,
    "out_of_range": 1.0e-4,
    "invalid_timestamp": 0.7e-4,
    "timestamp_too_late": 0.5e-4,
}
REQUIRED = ("event_id", "event_type", "timestamp", "session_id")
_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80")


def plan_counts(gen: np.random.Generator, n_candidates: int, *, at_least_one: bool) -> dict[
        str, int]:
    """How many lines of each kind to corrupt among ``n_candidates`` NDJSON lines."""
    counts = {k: int(gen.poisson(FAULT_RATE[k] * n_candidates)) for k in EVENT_FAULT_KINDS}
    if at_least_one:
        counts = {k: max(1, v) for k, v in counts.items()}
    total = sum(counts.values())
    if total > n_candidates // 4:  # tiny days: never corrupt more than a quarter
        scale = (n_candidates // 4) / max(total, 1)
        counts = {k: int(v * scale) for k, v in counts.items()}
    return counts


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _iso_z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def corrupt(kind: str, line: bytes, export_date: date, gen: np.random.Generator) -> bytes:
    """The faulty version of a valid NDJSON line (with its newline)."""
    text = line.decode("utf-8").rstrip("\n")
    obj = json.loads(text)
    data = obj.get("data") if isinstance(obj.get("data"), dict) else None
    et = obj.get("event_type")
    pick = int(gen.integers(0, 1 << 30))

    if kind == "invalid_json":
        variant = pick % 4
        if variant in (0, 1):  # truncated (a writer died mid-line)
            cut = int(gen.integers(10, len(text) - 1))
            out = text[:cut]
        elif variant == 2:
            out = text + "}"
        else:
            out = _dumps([obj]) if pick % 8 < 4 else _dumps(text)
        return out.encode("utf-8") + b"\n"

    if kind == "invalid_utf8":
        marker = b'"session_id":"'
        raw = text.encode("utf-8")
        at = raw.index(marker) + len(marker)
        return raw[:at] + _BAD_UTF8[pick % len(_BAD_UTF8)] + raw[at:] + b"\n"

    if kind == "missing_field":
        field = REQUIRED[pick % len(REQUIRED)]
        if pick % 10 < 7:
            del obj[field]
        else:
            obj[field] = None

    elif kind == "wrong_type":
        options: list[str] = ["duration", "user_id", "data"]
        if et == "exercise_attempted" and data is not None:
            options += ["correct"] * 3
        if et == "intent_classified":
            options += ["confidence"] * 3
        if et == "user_feedback" and data is not None:
            options += ["rating"] * 3
        if et == "bot_response":
            options += ["response_time"] * 3
        choice = options[pick % len(options)]
        if choice == "duration":
            obj["duration_ms"] = "abc"
        elif choice == "user_id":
            obj["user_id"] = 123
        elif choice == "data":
            obj["data"] = "rating=5;note=n/a" if pick % 2 else ["oops"]
        elif choice == "correct":
            data["correct"] = "yes"
        elif choice == "confidence":
            obj["confidence"] = "high"
        elif choice == "rating":
            data["rating"] = "5"
        else:
            obj["response_time_ms"] = 12.5

    elif kind == "out_of_range":
        options = ["duration"]
        if et == "bot_response":
            options += ["response_time"] * 3
        if et == "intent_classified":
            options += ["confidence"] * 3
        if et == "user_feedback" and data is not None:
            options += ["rating"] * 3
        if et in ("exercise_attempted", "lesson_completed") and data is not None:
            options += ["quality"] * 3
        choice = options[pick % len(options)]
        if choice == "duration":
            obj["duration_ms"] = -int(gen.integers(1, 5000))
        elif choice == "response_time":
            obj["response_time_ms"] = -int(gen.integers(1, 500))
        elif choice == "confidence":
            obj["confidence"] = round(float(gen.uniform(1.01, 1.8)), 3) if pick % 3 else -0.2
        elif choice == "rating":
            data["rating"] = (0, 6, 7)[pick % 3]
        else:
            data["quality"] = 1.25 if pick % 2 else -0.1

    elif kind == "invalid_timestamp":
        d = export_date
        options_ts = (
            f"{d.year}-02-30T10:15:00Z",
            f"{d:%d/%m/%Y} 10:15:00",
            "not-a-timestamp",
            f"{d.year}-13-{d.day:02d}T08:00:00Z",
            f"{d.isoformat()}T25:61:00Z",
            f"{d:%a, %d %b %Y} 10:15:00 GMT",
            "yesterday",
        )
        obj["timestamp"] = options_ts[pick % len(options_ts)]

    elif kind == "timestamp_too_late":
        base = datetime(export_date.year, export_date.month, export_date.day, tzinfo=UTC)
        later = base + timedelta(days=int(gen.integers(2, 31)),
                                 milliseconds=int(gen.integers(1, 86_400_000)))
        obj["timestamp"] = _iso_z(later)

    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown fault kind {kind!r}")
    return _dumps(obj).encode("utf-8") + b"\n"
