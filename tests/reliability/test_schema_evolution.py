"""Schema evolution: a new optional field, a new `data` field and a new event type that
appear mid-history load without a code change and are visible in the raw layer.

The contract (shared/spec/raw_exports.md): "Fields that are not listed here must be kept
(in a JSON column), never make a row fail" and "an unknown [event] type is kept and
counted, not rejected". So a new top-level field lands in ``raw.events.extra``, a new
`data` field in ``raw.events.data`` (which keeps the whole object), a new event type is
loaded with ``is_known_event_type = false``, and a new CSV column of a platform table
lands in that table's ``extra``; the raw tables' columns do not change.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest.batch import load_entity_days
from ingest.landing import EVENTS
from ingest.loader import ensure_schema
from ingest.schema import PLATFORM_BY_NAME
from tests.reliability.hostile_corpus import (
    Ctx,
    HostileFile,
    account_day,
    csv_text,
    gz,
    ndjson,
    parquet,
    write_day,
)
from warehouse.db import connect

D1 = date(2026, 4, 1)
DAYS = [D1 + timedelta(days=i) for i in range(4)]


def _v1_events(c: Ctx) -> list[dict]:
    return [
        c.ev(1, "conversation_start", channel="web"),
        c.ev(2, "user_message", data={"text_length": 12}),
        c.ev(3, "intent_classified", confidence=0.9, data={"intent": "billing"}),
        c.ev(4, "user_feedback", data={"rating": 4, "comment": "ok"}),
    ]


def _v2_events(c: Ctx, resent: dict | None = None) -> bytes:
    lines = [
        c.ev(1, "conversation_start", channel="web", locale="de-DE"),  # new optional field
        c.ev(2, "user_message", locale="fr-FR",
             data={"text_length": 7, "mood": "curious"}),  # new data field beside a typed one
        c.ev(3, "coach_note", data={"note_kind": "praise", "stars": 3}),  # new event type
        c.ev(4, "coach_note", locale="en-GB", data={"note_kind": "nudge"},
             escalation={"level": 2, "reasons": ["stuck"]}),  # and a new nested field
        c.ev(5, "user_message", data={"text_length": 3}),  # plain v1 still fine
    ]
    if resent is not None:
        lines.append(resent)
    return ndjson(*lines)


def _v2_parquet(c: Ctx) -> bytes:
    return parquet(pa.table({
        "event_id": pa.array([f"{c.prefix}:pq1", f"{c.prefix}:pq2"]),
        "event_type": pa.array(["coach_note", "user_message"]),
        "timestamp": pa.array([c.ts(), c.ts(2)]),
        "session_id": pa.array(["s1", "s2"]),
        "locale": pa.array(["es-ES", None]),
        "data": pa.array([{"text_length": None, "mood": "calm"},
                          {"text_length": 9, "mood": None}]),
    }))


def _landing(root: Path) -> tuple[Path, dict]:
    """Four export days: v1 only, v1 only, then the new field/type, then more of it and
    a re-sent v1 event that now carries the new field."""
    landing = root / "landing"
    first = Ctx(EVENTS, DAYS[0], "d1")
    write_day(landing, first, [HostileFile("a.ndjson", ndjson(*_v1_events(first)))])
    second = Ctx(EVENTS, DAYS[1], "d2")
    write_day(landing, second, [HostileFile("a.ndjson.gz", gz(ndjson(*_v1_events(second))))])
    third = Ctx(EVENTS, DAYS[2], "d3")
    write_day(landing, third, [HostileFile("a.ndjson", _v2_events(third)),
                               HostileFile("b.parquet", _v2_parquet(third))])
    fourth = Ctx(EVENTS, DAYS[3], "d4")
    resent = dict(_v1_events(first)[1], locale="it-IT")  # d1:2 again, late, with the new field
    write_day(landing, fourth, [HostileFile("a.ndjson", _v2_events(fourth, resent))])
    return landing, {"resent": resent["event_id"]}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"DESCRIBE {table}").fetchall()


@pytest.fixture(scope="module", params=["one-run", "two-runs"])
def evolved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The history loaded in one run, or in two runs (before and after the change)."""
    tmp_path = tmp_path_factory.mktemp("evolution")
    landing, info = _landing(tmp_path)
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_schema(con)
    before = _columns(con, "raw.events")
    if request.param == "one-run":
        load_entity_days(con, landing, EVENTS, DAYS)
    else:
        load_entity_days(con, landing, EVENTS, DAYS[:2])
        assert con.execute("SELECT count(*) FROM raw.events WHERE extra IS NOT NULL"
                           ).fetchone() == (0,)
        load_entity_days(con, landing, EVENTS, DAYS[2:])
    yield con, landing, info, before
    con.close()


def test_every_day_loads_in_full_and_reconciles(evolved) -> None:
    con, _, _, _ = evolved
    for day in DAYS:
        acc = account_day(con, EVENTS, day, fresh=False)  # d4 re-sends an event of d1
        assert all(f.status == "loaded" and f.rejected == 0 for f in acc.files.values()), acc
    assert con.execute("SELECT count(*) FROM raw.rejects").fetchone() == (0,)
    assert con.execute("SELECT bool_and(reconciles) FROM raw.file_reconciliation"
                       ).fetchone() == (True,)


def test_the_raw_tables_keep_their_columns(evolved) -> None:
    con, _, _, before = evolved
    assert _columns(con, "raw.events") == before


def test_a_new_optional_field_is_in_extra(evolved) -> None:
    con, _, _, _ = evolved
    rows = dict(con.execute(
        "SELECT event_id, extra->>'$.locale' FROM raw.events WHERE is_current "
        "AND extra->>'$.locale' IS NOT NULL").fetchall())
    assert rows == {"d3:1": "de-DE", "d3:2": "fr-FR", "d3:4": "en-GB", "d3:pq1": "es-ES",
                    "d4:1": "de-DE", "d4:2": "fr-FR", "d4:4": "en-GB", "d1:2": "it-IT"}
    (nested,) = con.execute(
        "SELECT extra->'$.escalation' FROM raw.events WHERE event_id = 'd3:4'").fetchone()
    assert json.loads(nested) == {"level": 2, "reasons": ["stuck"]}
    # the days before the change have no extra at all
    assert con.execute(
        "SELECT count(*) FROM raw.events WHERE export_date < ? AND extra IS NOT NULL",
        [DAYS[2]]).fetchone() == (0,)


def test_a_new_data_field_is_kept_beside_the_typed_ones(evolved) -> None:
    con, _, _, _ = evolved
    rows = con.execute(
        "SELECT event_id, text_length, data->>'$.mood' FROM raw.events "
        "WHERE event_id IN ('d3:2', 'd3:pq1', 'd3:pq2') ORDER BY 1").fetchall()
    assert rows == [("d3:2", 7, "curious"), ("d3:pq1", None, "calm"), ("d3:pq2", 9, None)]


def test_a_new_event_type_is_kept_and_counted(evolved) -> None:
    """Contract: an unknown type is kept and counted, not rejected."""
    con, _, _, _ = evolved
    counts = dict(con.execute(
        "SELECT event_type, count(*) FROM raw.events WHERE is_current "
        "AND NOT is_known_event_type GROUP BY 1").fetchall())
    assert counts == {"coach_note": 5}  # d3: 2 + 1 (Parquet), d4: 2
    (data,) = con.execute(
        "SELECT data FROM raw.events WHERE event_id = 'd3:3'").fetchone()
    assert json.loads(data) == {"note_kind": "praise", "stars": 3}


def test_a_resent_event_with_the_new_field_wins(evolved) -> None:
    con, _, info, _ = evolved
    copies = con.execute(
        "SELECT export_date, is_current, extra->>'$.locale' FROM raw.events "
        "WHERE event_id = ? ORDER BY 1", [info["resent"]]).fetchall()
    assert copies == [(DAYS[0], False, None), (DAYS[3], True, "it-IT")]


def test_reloading_the_changed_days_changes_nothing(evolved) -> None:
    """(Last of the tests on the shared warehouse: it reloads every day.)"""
    con, landing, _, _ = evolved
    snapshot = "SELECT * EXCLUDE (load_id, loaded_at) FROM raw.events ORDER BY ALL"
    before = con.execute(snapshot).fetchall()
    load_entity_days(con, landing, EVENTS, DAYS, reload=True)
    assert con.execute(snapshot).fetchall() == before


# --- platform tables: a new column, a dropped optional one ----------------------------

USERS = list(PLATFORM_BY_NAME["users"].columns)
PAYMENTS = list(PLATFORM_BY_NAME["payments"].columns)


def test_platform_csv_columns_added_and_dropped_mid_history(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_schema(con)
    before = {e: _columns(con, PLATFORM_BY_NAME[e].table) for e in ("users", "payments")}
    d1, d2 = DAYS[0], DAYS[1]
    write_day(landing, Ctx("users", d1, ""), [HostileFile("users.csv", csv_text(
        ",".join(USERS), "u1,a@example.com,A,2026-01-01T00:00:00Z,DE,Europe/Berlin,ads,free"))])
    # day 2: `locale` is new, `acquisition_channel` (optional) is gone, columns reordered
    header = ["locale", *[c for c in USERS if c != "acquisition_channel"]][::-1]
    values = {"locale": "de-DE", "user_id": "u1", "email": "a@example.com",
              "display_name": "A", "signup_at": "2026-01-01T00:00:00Z", "country": "DE",
              "timezone": "Europe/Berlin", "plan": "pro"}
    write_day(landing, Ctx("users", d2, ""), [HostileFile("users.csv", csv_text(
        ",".join(header), ",".join(values[h] for h in header)))])
    write_day(landing, Ctx("payments", d1, ""), [HostileFile("payments.csv", csv_text(
        ",".join(PAYMENTS), "p1,u1,pr1,10.00,EUR,2026-04-01T10:00:00Z,charge"))])
    write_day(landing, Ctx("payments", d2, ""), [HostileFile("payments.csv.gz", gz(csv_text(
        ",".join([*PAYMENTS, "coupon"]), "p2,u1,pr1,8.00,EUR,2026-04-02T10:00:00Z,charge,SPRING",
        "p1,u1,pr1,10.00,EUR,2026-04-01T10:00:00Z,refund,")))])
    load_entity_days(con, landing, "users", [d1])
    load_entity_days(con, landing, "users", [d2])
    load_entity_days(con, landing, "payments", [d1, d2])
    for entity in ("users", "payments"):
        for day in (d1, d2):
            acc = account_day(con, entity, day, fresh=False)  # p1 is sent again on d2
            assert all(f.rejected == 0 for f in acc.files.values())
        assert _columns(con, PLATFORM_BY_NAME[entity].table) == before[entity]
    assert con.execute(
        "SELECT plan, acquisition_channel, extra->>'$.locale' FROM raw.users").fetchall() == [
        ("pro", None, "de-DE")]
    assert con.execute(
        "SELECT payment_id, export_date, kind, extra FROM raw.payments WHERE is_current "
        "ORDER BY 1").fetchall() == [
        ("p1", d2, "refund", '{"coupon":null}'), ("p2", d2, "charge", '{"coupon":"SPRING"}')]
