"""Identity stitching (metrics.md "Version 2 additions", Identity; contract 1.1).

- the loader keeps `anonymous_id` as a typed column of raw.events, from NDJSON and
  Parquet alike, and rejects a value of the wrong type;
- dbt on a hand-made warehouse: every user metric counts the RESOLVED user
  (stg_events.user_id; the one sent stays in raw_user_id): a device browsing anonymously
  and signing in later (its earlier active events become the user's activity), a
  device signing in on a second device, a session with one user, a session with two
  (stays anonymous), and marts.user_identities;
- the generator plants signed-out browsing on devices, deterministically per seed.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from ingest.landing import export_day
from ingest.loader import ensure_schema, load_day
from sample_exports import generate_exports
from tests.dbt_support import dbt_build, raw_warehouse
from warehouse.db import connect
from warehouse.settings import load_settings

from .conftest import event

# --------------------------------------------------------------------------- loader


def test_anonymous_id_is_a_typed_column_from_ndjson_and_parquet(tmp_path, write_events):
    landing = tmp_path / "landing"
    day = "2026-03-10"
    write_events(landing, day, "a.ndjson", [
        event("a1", f"{day}T01:00:00Z", user_id=None, anonymous_id="dev_1"),
        event("a2", f"{day}T01:05:00Z", anonymous_id="dev_1"),
        event("a3", f"{day}T01:06:00Z"),
        event("bad", f"{day}T01:07:00Z", anonymous_id=42),
    ])
    duckdb.sql(
        "COPY (SELECT 'p1' AS event_id, 'user_message' AS event_type, "
        f"'{day}T03:00:00Z' AS timestamp, 's9' AS session_id, NULL::VARCHAR AS user_id, "
        "'dev_2' AS anonymous_id) "
        f"TO '{landing / 'events' / day / 'b.parquet'}' (FORMAT parquet)"
    )
    con = connect(tmp_path / "wh.duckdb")
    try:
        ensure_schema(con)
        found = export_day(landing, "events", date.fromisoformat(day))
        assert found is not None
        load_day(con, landing, found)
        assert con.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = 'events' AND column_name = 'anonymous_id'"
        ).fetchone() == ("VARCHAR",)
        assert con.execute(
            "SELECT event_id, user_id, anonymous_id FROM raw.events ORDER BY event_id"
        ).fetchall() == [("a1", None, "dev_1"), ("a2", "u1", "dev_1"), ("a3", "u1", None),
                         ("p1", None, "dev_2")]
        # the field is declared (not an unknown field kept in extra)
        assert con.execute(
            "SELECT count(*) FROM raw.events WHERE extra IS NOT NULL").fetchone() == (0,)
        assert con.execute(
            "SELECT reason_code FROM raw.rejects WHERE entity = 'events'").fetchall() == [
            ("wrong_type",)]
    finally:
        con.close()


def test_a_warehouse_from_before_contract_1_1_gets_the_column(tmp_path):
    path = tmp_path / "old.duckdb"
    con = connect(path)
    try:
        ensure_schema(con)
        con.execute("ALTER TABLE raw.events DROP COLUMN anonymous_id")
        ensure_schema(con)
        assert "anonymous_id" in {r[0] for r in con.execute("DESCRIBE raw.events").fetchall()}
    finally:
        con.close()


# --------------------------------------------------------------------------- dbt

EXPORT_DATE = "2025-01-05"
LOADED_AT = datetime(2025, 1, 6, 6, 0, 0)

# event_id, session, event_type, event_ts (UTC), user_id, anonymous_id, creator_id
EVENTS = [
    # device d1 browses anonymously on 01-01 and 01-02, u1 signs in on it on 01-03:
    # identified only later (nearest after)
    ("e01", "s1", "conversation_start", "2025-01-01 10:00:00", None, "d1", "c1"),
    ("e02", "s1", "user_message", "2025-01-01 10:01:00", None, "d1", "c1"),
    ("e03", "s2", "lesson_started", "2025-01-02 09:00:00", None, "d1", "c2"),
    ("e04", "s3", "user_message", "2025-01-03 08:00:00", "u1", "d1", "c1"),
    # ... and anonymous again after: u1 (nearest before)
    ("e05", "s4", "user_message", "2025-01-04 08:00:00", None, "d1", "c1"),
    # u1 on a second device d2: signed in first, then anonymous on it: u1
    ("e06", "s5", "user_message", "2025-01-02 20:00:00", "u1", "d2", "c1"),
    ("e07", "s6", "conversation_start", "2025-01-04 20:00:00", None, "d2", "c1"),
    # a session with one user (no device): its anonymous event is u2's
    ("e08", "s7", "conversation_start", "2025-01-03 12:00:00", None, None, "c1"),
    ("e09", "s7", "user_message", "2025-01-03 12:01:00", "u2", None, "c1"),
    # a session with two users: stays anonymous
    ("e10", "s8", "conversation_start", "2025-01-03 13:00:00", None, None, "c1"),
    ("e11", "s8", "user_message", "2025-01-03 13:01:00", "u2", None, "c1"),
    ("e12", "s8", "user_message", "2025-01-03 13:02:00", "u3", None, "c1"),
    # a device never identified: stays anonymous
    ("e13", "s9", "conversation_start", "2025-01-03 14:00:00", None, "d9", "c2"),
]

D = {f"0{i}": date(2025, 1, i) for i in range(1, 6)}


def _insert(con: duckdb.DuckDBPyConnection) -> None:
    for line, (eid, session, etype, ts, user, device, creator) in enumerate(EVENTS, 1):
        con.execute(
            """
            INSERT INTO raw.events (event_id, event_type, is_known_event_type, event_ts,
                session_id, user_id, anonymous_id, creator_id, export_date, source_file,
                source_line, load_id, loaded_at, is_current)
            VALUES (?, ?, true, CAST(? AS TIMESTAMP), ?, ?, ?, ?, CAST(? AS DATE), ?, ?, ?,
                    ?, true)
            """,
            [eid, etype, ts, session, user, device, creator, EXPORT_DATE,
             f"events/{EXPORT_DATE}/part-0.ndjson", line, f"load-{EXPORT_DATE}", LOADED_AT],
        )


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return raw_warehouse(monkeypatch, tmp_path / "warehouse.duckdb", _insert)


def test_user_metrics_count_resolved_users(warehouse: Path, tmp_path: Path) -> None:
    dbt_vars = {**load_settings().dbt_vars(), "reporting_timezone": "UTC",
                "as_of_date": "2025-01-05"}
    dbt_build(tmp_path, dbt_vars, ["+user_identities", "+int_user_activity_days",
                                   "+funnel_steps"])
    with duckdb.connect(str(warehouse)) as con:
        resolved = dict(
            ((r[0]), (r[1], r[2], r[3])) for r in con.execute(
                "SELECT event_id, user_id, raw_user_id, identity_resolution "
                "FROM staging.stg_events").fetchall())
        assert resolved == {
            "e01": ("u1", None, "anonymous_id_after"),
            "e02": ("u1", None, "anonymous_id_after"),
            "e03": ("u1", None, "anonymous_id_after"),
            "e04": ("u1", "u1", "user_id"),
            "e05": ("u1", None, "anonymous_id_before"),
            "e06": ("u1", "u1", "user_id"),
            "e07": ("u1", None, "anonymous_id_before"),
            "e08": ("u2", None, "session"),
            "e09": ("u2", "u2", "user_id"),
            "e10": (None, None, "anonymous"),
            "e11": ("u2", "u2", "user_id"),
            "e12": ("u3", "u3", "user_id"),
            "e13": (None, None, "anonymous"),
        }
        # the anonymous days of d1 are u1's active days now (per creator and overall)
        activity = con.execute(
            "SELECT user_id, creator_id, activity_date, active_events "
            "FROM intermediate.int_user_activity_days WHERE user_id = 'u1' ORDER BY ALL"
        ).fetchall()
        assert activity == [
            ("u1", "__all__", D["01"], 2), ("u1", "__all__", D["02"], 2),
            ("u1", "__all__", D["03"], 1), ("u1", "__all__", D["04"], 2),
            ("u1", "c1", D["01"], 2), ("u1", "c1", D["02"], 1), ("u1", "c1", D["03"], 1),
            ("u1", "c1", D["04"], 2), ("u1", "c2", D["02"], 1),
        ]
        assert con.execute(
            "SELECT anonymous_id, user_id, first_seen::VARCHAR, last_seen::VARCHAR, events, "
            "identified_events, resolved_events FROM marts.user_identities ORDER BY ALL"
        ).fetchall() == [
            ("d1", "u1", "2025-01-01 10:00:00", "2025-01-04 08:00:00", 5, 1, 4),
            ("d2", "u1", "2025-01-02 20:00:00", "2025-01-04 20:00:00", 2, 1, 1),
        ]
        # the funnel counts u1's anonymous conversation_start -> user_message (e01, e02)
        # and u2's session s7: two users reach step 2 overall and with c1; c2 (u1's
        # resolved lesson only) has the funnel's rows with 0 users
        assert con.execute(
            "SELECT creator_id, users FROM marts.funnel_steps "
            "WHERE funnel = 'conversation' AND step = 2 ORDER BY creator_id"
        ).fetchall() == [("__all__", 2), ("c1", 2), ("c2", 0)]


# --------------------------------------------------------------------------- generator


def _events(landing: Path) -> list[dict]:
    out = []
    for path in sorted((landing / "events").glob("*/*.ndjson")):
        for line in path.read_bytes().decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def test_generator_plants_devices_and_signed_out_browsing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    stats = generate_exports(a, seed=7, users=150, days=8)
    generate_exports(b, seed=7, users=150, days=8)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()
                   and not p.name.startswith("_generator"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()
                           and not p.name.startswith("_generator"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)

    planted = stats.planted if hasattr(stats, "planted") else stats["planted"]
    assert planted["signed_out_events"] > 0 and planted["device_events"] > 0
    events = _events(a)
    devices = {e["anonymous_id"] for e in events if e.get("anonymous_id")}
    identified = {e["anonymous_id"] for e in events
                  if e.get("anonymous_id") and e.get("user_id")}
    signed_out = [e for e in events if e.get("anonymous_id") in identified
                  and not e.get("user_id")]
    assert signed_out, "no signed-out event of a device that signs in"
    assert devices - identified, "no device that never signs in (anonymous visitors)"
    # sessions mixing anonymous and identified events
    by_session: dict[str, set[bool]] = {}
    for e in events:
        by_session.setdefault(e["session_id"], set()).add(bool(e.get("user_id")))
    assert any(v == {True, False} for v in by_session.values())
