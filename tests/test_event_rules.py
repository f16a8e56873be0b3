"""The contract's reject rules and typing, on single lines (ingest.event_rules)."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from ingest.event_rules import parse_sql

EXPORT_DATE = "2026-03-10"


def parse(lines: list[str | None], *, parquet: bool = False) -> list[dict]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE l (file_id INT, line_number BIGINT, txt VARCHAR, raw VARCHAR, "
        "is_parquet BOOLEAN)"
    )
    con.executemany(
        "INSERT INTO l VALUES (0, ?, ?, ?, ?)",
        [(i + 1, t, t if t is not None else "\\xFF", parquet) for i, t in enumerate(lines)],
    )
    cur = con.execute(
        parse_sql("l", export_date=EXPORT_DATE, future_days=1)
        + " ORDER BY line_number"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def ev(**fields) -> str:
    base = {
        "event_id": "e1",
        "event_type": "user_message",
        "timestamp": "2026-03-10T12:00:00Z",
        "session_id": "s1",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (None, "invalid_utf8"),
        ('{"event_id": "e1", ', "invalid_json"),
        ("[1, 2, 3]", "invalid_json"),
        ('"just a string"', "invalid_json"),
        (ev(event_id=...), "missing_field"),
        (ev(event_type=None), "missing_field"),
        (ev(session_id=""), "missing_field"),
        (ev(timestamp=...), "missing_field"),
        (ev(event_id=17), "wrong_type"),
        (ev(user_id=123), "wrong_type"),
        (ev(duration_ms="abc"), "wrong_type"),
        (ev(duration_ms=1.5), "wrong_type"),
        (ev(confidence="high"), "wrong_type"),
        (ev(data="not an object"), "wrong_type"),
        (ev(event_type="exercise_attempted", data={"correct": "yes"}), "wrong_type"),
        (ev(data={"escalated_to_human": 1}), "wrong_type"),
        (ev(duration_ms=-1), "out_of_range"),
        (ev(response_time_ms=-5), "out_of_range"),
        (ev(event_type="user_message", data={"text_length": -1}), "out_of_range"),
        (ev(event_type="api_call", data={"status_code": 200, "latency_ms": -4}), "out_of_range"),
        (ev(confidence=1.01), "out_of_range"),
        (ev(confidence=-0.1), "out_of_range"),
        (ev(event_type="user_feedback", data={"rating": 6}), "out_of_range"),
        (ev(event_type="user_feedback", data={"rating": 0}), "out_of_range"),
        (ev(event_type="exercise_attempted", data={"quality": 1.5}), "out_of_range"),
        (ev(timestamp="yesterday"), "invalid_timestamp"),
        (ev(timestamp="2026-02-30T10:00:00Z"), "invalid_timestamp"),
        (ev(timestamp="2026-03-12T00:00:00Z"), "timestamp_too_late"),
        (ev(timestamp="1969-12-31T23:59:59Z"), "invalid_timestamp"),
        (ev(confidence=float("inf")), "wrong_type"),
        (ev(duration_ms=2**70), "out_of_range"),
        (ev(event_type="user_feedback", data={"rating": 3.5}), "wrong_type"),
    ],
)
def test_each_reject_reason(line, code):
    (row,) = parse([line])
    assert row["reason_code"] == code
    assert row["reason"]  # a human-readable detail


@pytest.mark.parametrize(
    ("ts", "utc"),
    [
        ("2026-03-10T12:00:00Z", datetime(2026, 3, 10, 12)),
        ("2026-03-10T12:00:00+02:00", datetime(2026, 3, 10, 10)),
        ("2026-03-10T02:30:00-05:00", datetime(2026, 3, 10, 7, 30)),
        ("2026-03-10 12:00:00", datetime(2026, 3, 10, 12)),  # naive means UTC
        ("2026-03-10T12:00:00.250", datetime(2026, 3, 10, 12, 0, 0, 250000)),
        ("2026-03-11T23:59:59Z", datetime(2026, 3, 11, 23, 59, 59)),  # end of next day: ok
        ("2026-03-03T00:00:00Z", datetime(2026, 3, 3)),  # 7 days late: ok
        ("2026-02-01T00:00:00Z", datetime(2026, 2, 1)),  # later than the contract: kept
    ],
)
def test_timestamps_normalised_to_utc(ts, utc):
    (row,) = parse([ev(timestamp=ts)])
    assert row["reason_code"] is None
    assert row["event_ts"] == utc


def test_valid_line_is_typed_and_keeps_unknown_fields():
    line = ev(
        event_type="exercise_attempted",
        user_id=None,
        duration_ms=1200.0,
        confidence=1,
        data={"topic": "algebra", "skill": "fractions", "correct": True, "quality": 0.8,
              "escalated_to_human": False, "hint_count": 2},
        client_version="2.1",
    )
    (row,) = parse([line])
    assert row["reason_code"] is None
    assert row["event_type"] == "exercise_attempted"
    assert row["user_id"] is None  # anonymous is fine
    assert row["duration_ms"] == 1200
    assert row["confidence"] == 1.0
    assert (row["topic"], row["skill"], row["correct"], row["quality"]) == (
        "algebra", "fractions", True, 0.8
    )
    assert row["escalated_to_human"] is False
    assert json.loads(row["data"])["hint_count"] == 2  # unknown data field kept
    assert json.loads(row["extra"]) == {"client_version": "2.1"}  # unknown top-level field


@pytest.mark.parametrize(
    "line",
    [
        ev(event_type="custom", data={"status_code": "OK", "rating": 10}),  # custom: anything
        ev(event_type="error", data={"error_code": 500, "message": "boom"}),  # untyped
        ev(event_type="entity_extracted", data={"entity": "amount", "value": 42}),
        ev(event_type="api_call", data={"status_code": 200, "latency_ms": 12}),
        ev(duration_ms=9007199254740993),  # exact, not through a double
    ],
)
def test_contract_valid_data_fields_are_not_rejected(line):
    (row,) = parse([line])
    assert row["reason_code"] is None, row["reason"]


def test_typed_data_fields_only_on_their_event_types():
    (custom,) = parse([ev(event_type="custom", data={"rating": 10})])
    assert custom["rating"] is None  # not a feedback rating
    (error,) = parse([ev(event_type="error", data={"error_code": 500})])
    assert error["error_code"] == "500"
    (big,) = parse([ev(duration_ms=9007199254740993)])
    assert big["duration_ms"] == 9007199254740993


def test_unknown_event_type_is_loaded_not_rejected():
    (row,) = parse([ev(event_type="page_view_v2")])
    assert row["reason_code"] is None
    assert row["event_type"] == "page_view_v2"


def test_parquet_rows_may_carry_data_as_a_json_string():
    (row,) = parse(
        [ev(event_type="intent_classified", data=json.dumps({"intent": "billing"}))], parquet=True
    )
    assert row["reason_code"] is None
    assert row["intent"] == "billing"


def test_one_bad_line_does_not_affect_its_neighbours():
    rows = parse([ev(event_id="a"), "{not json", ev(event_id="c")])
    assert [r["reason_code"] for r in rows] == [None, "invalid_json", None]
