"""Incremental dbt builds give the same warehouse as a full refresh.

Generated exports (seed 3, 120 users, 16 days) are loaded by the ingest in four steps,
with an in-process ``dbt build`` after each:

1. the first 10 complete export days (the incremental models are created in full); the
   4th day's file carries an anonymous event sent 3 days late;
2. the 11th day, no ``incremental_start_date`` var: the window falls back to the latest
   day already built minus ``incremental_lookback_days``; the day's file also carries an
   identified event of a device that browsed anonymously on one of the first days
   (metrics.md Identity, retroactive): the window reaches back to that older day, whose
   activity now belongs to the user;
3. the 12th day, with the var ``incremental_start_date`` the orchestration passes (the
   export day minus the lookback): an identified event of a device first seen before
   the window moves the window back to that device's first day, and the late anonymous
   event of the 4th day does not (that export day was built in step 1); the day also
   carries one more event of a session begun on the first day, so int_sessions' window
   moves back to that session's start, and a session from the evening before the first
   day to its first hour, unchanged, must keep its one row (a part of its events lies in
   the window);
4. the remaining complete days plus a RELOAD of the 8th day, whose file was edited to
   add a late event (6 days before its export date) and drop every active event of one
   user on one day (all in that file, one copy each); the var ``incremental_start_date``
   is what the orchestration passes: the earliest export date loaded in the run minus
   the lookback.

Then every table of the schemas intermediate and marts is read, ``dbt build
--full-refresh`` runs, and the tables must be identical. Then the as-of date is set back
before a run's window: the incremental daily marts cut at it (and the users' paths) must
drop their later rows and equal a full refresh with that as-of date. Last, settings the
rows are built with change (low_confidence_threshold, the path definitions): every row
is rebuilt. The paths are the settings' plus one `before` path (its events precede the
anchor, back to the start of its session).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import generate_exports
from tests.dbt_support import dbt_invoke, isolate_dbt_env
from warehouse.db import connect
from warehouse.settings import load_settings

log = logging.getLogger(__name__)

INCREMENTAL_MODELS = ("int_user_activity_days", "int_creator_daily_activity", "int_session_agents",
                      "int_agent_daily_events", "int_intent_feedback", "int_path_user_edges")
# incremental marts of one row set per event date, cut at the as-of date
AS_OF_MARTS = ("satisfaction_daily", "api_health_daily", "agent_version_daily", "intent_daily",
               "nlu_daily")
LATE_EVENT_ID = "evt_incremental_late"
IDENTIFY_EVENT_ID = "evt_incremental_identify"
LONG_SESSION = "conv_incremental_long"
LONG_SESSION_INTENT = "incremental_intent"
MIDNIGHT_SESSION = "conv_incremental_midnight"
LATE_ANONYMOUS_DEVICE = "anon_incremental_late"
BEFORE_PATH_USER = "u_incremental_before_path"
BEFORE_PATH_SESSION = "conv_incremental_before_path"
# the builds that only prepare or compare the warehouse skip the tests, to stay fast
MODELS_ONLY = ("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")


def _load(warehouse: Path, landing: Path, days: list[date]) -> None:
    con = connect(warehouse)
    try:
        ensure_schema(con)
        for entity in landing_entities():
            batch = load_entity_days(con, landing, entity, days, info=log.debug)
            assert not batch.failed_messages, batch.failed_messages
    finally:
        con.close()


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    con = connect(warehouse)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('intermediate', 'marts') AND table_type = 'BASE TABLE' "
            "ORDER BY ALL"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(
                f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            for schema, name in tables
        }
    finally:
        con.close()


def _same_rows(a: list[tuple], b: list[tuple]) -> bool:
    """Equal rows, floats to 1e-9 relative: DuckDB's parallel sums (stddev, averages of
    doubles) may differ in the last bits between two builds of the same data
    (marts.content_timing did once)."""
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not (x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)):
                    return False
            elif x != y:
                return False
    return True


def _pick_dropped_user_day(warehouse: Path, export_day: date,
                           file_name: str) -> tuple[set[str], str, date]:
    """A user x day whose active events all come from ``file_name`` (one copy each):
    dropping them from the file must delete that row of int_user_activity_days."""
    con = connect(warehouse)
    try:
        rows = con.execute(
            """
            WITH copies AS (SELECT event_id, count(*) AS n FROM raw.events GROUP BY event_id),
            user_days AS (
                SELECT e.user_id, e.event_date, list(e.event_id ORDER BY e.event_id) AS ids,
                       bool_and(e.export_date = ? AND e.source_file LIKE '%/' || ?
                                AND c.n = 1) AS only_here
                FROM staging.stg_events AS e JOIN copies AS c USING (event_id)
                WHERE e.is_active_event AND e.user_id IS NOT NULL
                GROUP BY e.user_id, e.event_date
            )
            SELECT ids, user_id, event_date FROM user_days
            WHERE only_here ORDER BY len(ids), user_id, event_date LIMIT 1
            """,
            [export_day, file_name],
        ).fetchall()
    finally:
        con.close()
    assert rows, "no user-day with all its active events in the edited file"
    ids, user_id, day = rows[0]
    return set(ids), user_id, day


def _pick_anonymous_device(warehouse: Path, before: date) -> tuple[str, date, str]:
    """A device (anonymous_id) resolved to nobody with an active event before ``before``,
    and a user to identify it with."""
    con = connect(warehouse)
    try:
        row = con.execute(
            """
            SELECT anonymous_id, min(event_date) FROM staging.stg_events
            WHERE identity_resolution = 'anonymous' AND anonymous_id IS NOT NULL
              AND is_active_event AND event_date < ?
            GROUP BY anonymous_id ORDER BY 2, 1 LIMIT 1
            """,
            [before],
        ).fetchone()
    finally:
        con.close()
    assert row, f"no anonymous device with an active event before {before}"
    return row[0], row[1], _user_inactive_on(warehouse, row[1])


def _user_inactive_on(warehouse: Path, day: date) -> str:
    """A user to identify a device with: one without activity on ``day``."""
    con = connect(warehouse)
    try:
        return con.execute(
            "SELECT min(user_id) FROM staging.stg_events WHERE raw_user_id IS NOT NULL "
            "AND user_id NOT IN (SELECT user_id FROM staging.stg_events "
            "WHERE event_date = ? AND user_id IS NOT NULL)", [day]).fetchone()[0]
    finally:
        con.close()


def _pick_device_first_seen(warehouse: Path, after: date, before: date) -> tuple[str, date]:
    """An anonymous device (resolved to nobody) first seen after ``after`` and before
    ``before``, active on that first day; and that day."""
    con = connect(warehouse)
    try:
        row = con.execute(
            """
            WITH devices AS (
                SELECT anonymous_id, min(event_date) AS first_day FROM staging.stg_events
                WHERE anonymous_id IS NOT NULL AND anonymous_id <> ?
                GROUP BY anonymous_id HAVING bool_and(identity_resolution = 'anonymous')
            )
            SELECT d.anonymous_id, d.first_day FROM devices AS d
            WHERE d.first_day > ? AND d.first_day < ? AND EXISTS (
                SELECT 1 FROM staging.stg_events AS e WHERE e.anonymous_id = d.anonymous_id
                AND e.event_date = d.first_day AND e.is_active_event)
            ORDER BY 2, 1 LIMIT 1
            """,
            [LATE_ANONYMOUS_DEVICE, after, before],
        ).fetchone()
    finally:
        con.close()
    assert row, f"no anonymous device first seen after {after} and before {before}"
    return row[0], row[1]


def _first_ndjson(landing: Path, day: date) -> Path:
    return sorted(p for p in (landing / "events" / day.isoformat()).iterdir()
                  if p.name.endswith(".ndjson"))[0]


def _window_start(compiled: Path, model: str = "int_user_activity_days") -> date:
    """The window start an incremental model was compiled with."""
    sql = (compiled / f"{model}.sql").read_text()
    found = re.search(r"event_date >= cast\('(\d{4}-\d{2}-\d{2})'", sql)
    assert found, sql
    return date.fromisoformat(found.group(1))


def _activity_rows(warehouse: Path, user_id: str, day: date) -> int:
    """Rows of int_user_activity_days for the user on that day, all creators."""
    con = connect(warehouse)
    try:
        return con.execute(
            "SELECT count(*) FROM intermediate.int_user_activity_days "
            "WHERE user_id = ? AND creator_id = '__all__' AND activity_date = ?",
            [user_id, day]).fetchone()[0]
    finally:
        con.close()


def _append_event(path: Path, event: dict) -> None:
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + json.dumps(event) + "\n")


def _append_identified_event(path: Path, anonymous_id: str, user_id: str, ts: str,
                             event_id: str = IDENTIFY_EVENT_ID) -> None:
    """Append an event of ``user_id`` on device ``anonymous_id`` to an NDJSON export file."""
    event = {"event_id": event_id, "event_type": "bot_response", "timestamp": ts,
             "session_id": f"conv_{event_id}", "user_id": user_id,
             "anonymous_id": anonymous_id}
    _append_event(path, event)


def _edit_export_file(path: Path, drop_event_ids: set[str], late_ts: str) -> dict:
    """Drop event lines from an NDJSON export file and append a late event."""
    lines = path.read_text().splitlines()
    kept, template = [], None
    for line in lines:
        record = _json_or_none(line)
        if isinstance(record, dict) and record.get("event_id") in drop_event_ids:
            continue
        if (isinstance(record, dict) and template is None and record.get("user_id")
                and record.get("creator_id") and record.get("event_type") == "user_message"):
            template = record
        kept.append(line)
    assert len(kept) == len(lines) - len(drop_event_ids), "dropped events not in the file"
    assert template is not None
    late = {**template, "event_id": LATE_EVENT_ID, "timestamp": late_ts,
            "session_id": "conv_incremental_late"}
    kept.append(json.dumps(late))
    path.write_text("\n".join(kept) + "\n")
    return late


def _json_or_none(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:  # the generated files carry a few broken lines on purpose
        return None


def _plant_sessions(path: Path, day: date) -> dict:
    """Two sessions of one user in the export file of ``day``: LONG_SESSION at noon (step
    3 adds an event to it) and MIDNIGHT_SESSION from 23:30 the evening before to 00:30."""
    template = next(r for r in map(_json_or_none, path.read_text().splitlines())
                    if isinstance(r, dict) and r.get("user_id") and r.get("creator_id")
                    and r.get("agent_id") and r.get("event_type") == "user_message")
    before = (day - timedelta(days=1)).isoformat()
    # the long session's message: no agent, a sentiment, no classification yet (step 3
    # adds one, with the session's first agent, days later)
    no_agent = {k: v for k, v in template.items() if k != "agent_id"}
    _append_event(path, {**no_agent, "event_id": "evt_incremental_long_1",
                         "session_id": LONG_SESSION, "sentiment": "negative",
                         "timestamp": f"{day.isoformat()}T12:00:00.000Z"})
    for event_id, session_id, ts in (
            ("evt_incremental_midnight_1", MIDNIGHT_SESSION, f"{before}T23:30:00.000Z"),
            ("evt_incremental_midnight_2", MIDNIGHT_SESSION, f"{day.isoformat()}T00:30:00.000Z")):
        _append_event(path, {**template, "event_id": event_id, "session_id": session_id,
                             "timestamp": ts})
    return template


def _session_rows(warehouse: Path) -> tuple[dict[str, list[tuple]], int, int]:
    """int_sessions' rows of the planted sessions (start_date, events, ended_at), its row
    count, and the number of sessions in stg_events."""
    con = connect(warehouse)
    try:
        planted = {s: con.execute(
            "SELECT start_date, events, ended_at FROM intermediate.int_sessions "
            "WHERE session_id = ?", [s]).fetchall() for s in (LONG_SESSION, MIDNIGHT_SESSION)}
        rows = con.execute("SELECT count(*) FROM intermediate.int_sessions").fetchone()[0]
        sessions = con.execute(
            "SELECT count(DISTINCT session_id) FROM staging.stg_events").fetchone()[0]
        return planted, rows, sessions
    finally:
        con.close()


def _long_session_attribution(warehouse: Path) -> tuple[list[tuple], list[tuple]]:
    """LONG_SESSION's (start_date, agent_id) in int_session_agents and its message's
    (event_date, intent) in int_intent_feedback."""
    con = connect(warehouse)
    try:
        agents = con.execute(
            "SELECT start_date, agent_id FROM intermediate.int_session_agents "
            "WHERE session_id = ?", [LONG_SESSION]).fetchall()
        intents = con.execute(
            "SELECT event_date, intent FROM intermediate.int_intent_feedback "
            "WHERE event_id = 'evt_incremental_long_1'").fetchall()
        return agents, intents
    finally:
        con.close()


def _pick_ended_path(warehouse: Path, first: date, before: date) -> tuple:
    """A user's path of a settings' `after` path (N = 5, all creators) anchored from
    ``first`` up to the day before ``before`` that ends (target `end`) at a step up to N
    after a label other than user_message: a user_message appended to its session changes
    its end. Returns (path, user_id, session_id, anchor_date, step, source)."""
    con = connect(warehouse)
    try:
        row = con.execute(
            "SELECT path, user_id, session_id, anchor_date, step, source "
            "FROM intermediate.int_path_user_edges "
            "WHERE path IN ('after_conversation_start', 'after_lesson_started') "
            "AND creator_id = '__all__' "
            "AND target = 'end' AND source <> 'user_message' AND step <= 5 "
            "AND session_id IS NOT NULL AND anchor_date >= ? AND anchor_date < ? "
            "ORDER BY anchor_date, path, user_id LIMIT 1", [first, before]).fetchone()
        assert row, f"no ended path anchored from {first} to {before}"
        return row
    finally:
        con.close()


def _identity_start(warehouse: Path, changed_export: date) -> date | None:
    """The first event date whose resolved user an export day from ``changed_export`` on
    can change (macros/incremental_window.sql identity_window_start)."""
    con = connect(warehouse)
    try:
        return con.execute(
            "SELECT min(event_date) FROM intermediate.int_identity_resolution "
            "WHERE depends_on_export_date >= ?", [changed_export]).fetchone()[0]
    finally:
        con.close()


def _build(tmp: Path, dbt_vars: dict, *extra: str) -> float:
    """``dbt build`` in process on the project parsed once (like tests/dbt_support.dbt_build,
    but a data test that warns passes: the generated data plants a few warnings on
    purpose)."""
    t0 = time.perf_counter()
    result = dbt_invoke(["build", *extra], dbt_vars, tmp)
    elapsed = time.perf_counter() - t0
    assert result.exception is None, result.exception
    failed = [(r.node.unique_id, str(r.status), r.message) for r in result.result or []
              if str(r.status) not in ("success", "pass", "warn")]
    assert not failed, failed
    print(f"dbt build {' '.join(extra)}: {elapsed:.1f}s")
    return elapsed


def test_incremental_build_equals_full_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    landing = tmp_path / "landing"
    warehouse = tmp_path / "warehouse.duckdb"
    t0 = time.perf_counter()
    generate_exports(landing, seed=3, users=120, days=16)
    print(f"generate {time.perf_counter() - t0:.1f}s")
    isolate_dbt_env(monkeypatch, warehouse)
    settings_vars = load_settings().dbt_vars()
    # a `before` path too: its events precede the anchor, back to its session's start
    settings_vars["paths"] = [*settings_vars["paths"], {
        "name": "before_bot_response", "anchor": {"any_of": [{"event_type": "bot_response"}]},
        "direction": "before", "steps": 3, "label": "event_type"}]
    lookback = int(settings_vars["incremental_lookback_days"])

    complete = sorted({d.export_date for d in scan_landing(landing, ("events",)) if d.complete})
    assert len(complete) >= 14, complete
    first, second, third, rest = complete[:10], complete[10:11], complete[11], complete[12:]
    # an anonymous event of the 4th export day, sent 3 days late (a device of its own)
    late_anonymous_day, late_export_day = complete[0], complete[3]
    _append_event(_first_ndjson(landing, late_export_day), {
        "event_id": "evt_incremental_late_anonymous", "event_type": "bot_response",
        "timestamp": f"{late_anonymous_day.isoformat()}T10:00:00.000Z",
        "session_id": "conv_incremental_late_anonymous",
        "anonymous_id": LATE_ANONYMOUS_DEVICE})
    session_user = _plant_sessions(_first_ndjson(landing, complete[0]), complete[0])
    # a session of a user of its own that begins on the first day (no path's anchor yet)
    # and reaches the last day in step 8
    _append_event(_first_ndjson(landing, complete[0]), {
        **session_user, "event_id": "evt_incremental_before_path_1",
        "user_id": BEFORE_PATH_USER, "session_id": BEFORE_PATH_SESSION,
        "timestamp": f"{complete[0].isoformat()}T08:00:00.000Z"})

    # 1. first load, the incremental models are created
    _load(warehouse, landing, first)
    _build(tmp_path, settings_vars, *MODELS_ONLY)

    # 2. one more day, window from the target's latest day (no var)
    con = connect(warehouse)
    latest_built = con.execute(
        "SELECT max(activity_date) FROM intermediate.int_user_activity_days").fetchone()[0]
    con.close()
    fallback_start = latest_built - timedelta(days=lookback + 1)
    # ... and a device that browsed anonymously before the window signs in on that day
    device, anonymous_day, identified_user = _pick_anonymous_device(warehouse, fallback_start)
    _append_identified_event(_first_ndjson(landing, second[0]), device, identified_user,
                             f"{second[0].isoformat()}T10:00:00.000Z")
    _load(warehouse, landing, second)
    _build(tmp_path, settings_vars, *MODELS_ONLY)
    compiled = (tmp_path / "dbt_target" / "compiled" / "insights_warehouse" / "models"
                / "intermediate")
    sql = (compiled / "int_user_activity_days.sql").read_text()
    assert "event_date >= cast('" in sql, sql
    # the window: the fallback (latest day built - lookback - 1), moved back to the day
    # of the anonymous events the new export day identifies
    assert anonymous_day < fallback_start
    assert _window_start(compiled) == anonymous_day
    assert _activity_rows(warehouse, identified_user, anonymous_day) == 1, (
        "the older day's anonymous activity did not move to the user")

    # 3. the 12th day with the window the orchestration passes (export day - lookback)
    var_start = third - timedelta(days=lookback + 1)  # the zone's day of margin
    assert late_anonymous_day < var_start <= late_export_day
    device, first_seen = _pick_device_first_seen(warehouse, late_anonymous_day, var_start)
    user = _user_inactive_on(warehouse, first_seen)
    _append_identified_event(
        _first_ndjson(landing, third), device, user,
        f"{third.isoformat()}T11:00:00.000Z", event_id="evt_incremental_identify_var")
    # the long session's classification, with its first agent: the message of its first
    # day belongs to this intent, and the session to this agent, from now on
    _append_event(_first_ndjson(landing, third), {
        **{k: v for k, v in session_user.items() if k != "sentiment"},
        "event_id": "evt_incremental_long_2", "session_id": LONG_SESSION,
        "event_type": "intent_classified", "confidence": 0.9,
        "data": {"intent": LONG_SESSION_INTENT},
        "timestamp": f"{third.isoformat()}T11:30:00.000Z"})
    _load(warehouse, landing, [third])
    _build(tmp_path, {**settings_vars, "incremental_start_date":
                      (third - timedelta(days=lookback)).isoformat()}, *MODELS_ONLY)
    # back to the device the new export day identifies; not to the late anonymous event,
    # whose export day (the 4th, in the window) was built in step 1
    assert _window_start(compiled) == first_seen
    assert _activity_rows(warehouse, user, first_seen) == 1, (
        "the device's first day did not move to the user")
    # int_sessions: back to the long session's first day, which now ends on the 12th;
    # the midnight session, begun the day before, is one row as it was
    assert _window_start(compiled, "int_sessions") == complete[0]
    planted, session_rows, sessions = _session_rows(warehouse)
    assert [r[:2] for r in planted[LONG_SESSION]] == [(complete[0], 2)], planted
    assert planted[LONG_SESSION][0][2].date() == third, planted
    assert [r[:2] for r in planted[MIDNIGHT_SESSION]] == [
        (complete[0] - timedelta(days=1), 2)], planted
    assert session_rows == sessions, "int_sessions lost or doubled a session"
    # the models widened like int_sessions: the session's agent (agent_daily) and the
    # intent of its first day's message (intent_satisfaction_daily), both filed days
    # before the window
    assert _long_session_attribution(warehouse) == (
        [(complete[0], session_user["agent_id"])], [(complete[0], LONG_SESSION_INTENT)])

    # 4. the rest, and a reload of the 8th day: a late event added, a user-day dropped
    reloaded = complete[7]
    ndjson = _first_ndjson(landing, reloaded)
    dropped_ids, dropped_user, dropped_date = _pick_dropped_user_day(
        warehouse, reloaded, ndjson.name)
    late_day = reloaded - timedelta(days=lookback - 1)
    late = _edit_export_file(ndjson, dropped_ids, f"{late_day.isoformat()}T10:00:00.000Z")
    _load(warehouse, landing, [*rest, reloaded])

    run_vars = {**settings_vars,
                "incremental_start_date": (min([*rest, reloaded])
                                           - timedelta(days=lookback)).isoformat()}
    # models and data tests (unit tests do not depend on the data: other tests run them)
    incremental_s = _build(tmp_path, run_vars, "--exclude-resource-type", "unit_test")
    sql = (compiled / "int_user_activity_days.sql").read_text()
    assert "event_date >= cast('" in sql, sql  # it really ran incrementally
    incremental = _snapshot(warehouse)

    # the edits reached the incremental model
    activity = {
        (r[0], r[1], r[2]): r[3] for r in incremental["intermediate.int_user_activity_days"]
    }
    assert (late["user_id"], "__all__", late_day) in activity
    assert (dropped_user, "__all__", dropped_date) not in activity
    # ... and the incremental event table: the late event in, the dropped ones out
    events_sql = (compiled.parent / "marts" / "events.sql").read_text()
    assert "event_date >= cast('" in events_sql, events_sql
    published = {r[0] for r in incremental["marts.events"]}
    assert late["event_id"] in published and not dropped_ids & published
    window = _window_start(compiled)
    for name in AS_OF_MARTS:  # the daily marts read only the window's events
        assert _window_start(compiled.parent / "marts", name) == window, name

    full_s = _build(tmp_path, run_vars, "--full-refresh", *MODELS_ONLY)
    full = _snapshot(warehouse)

    print(f"incremental build (models + data tests) {incremental_s:.1f}s, "
          f"full refresh (models) {full_s:.1f}s")
    assert set(incremental) == set(full)
    for name in INCREMENTAL_MODELS:
        assert f"intermediate.{name}" in full
    assert "marts.events" in full
    differing = [name for name in full if not _same_rows(incremental[name], full[name])]
    assert not differing, differing

    # 5. the as-of date set back before the window: the daily marts' rows after it go,
    # as a full refresh would not have them (their window starts the day after it). The
    # run's window is the last export day's (no export day after it: no identity widening)
    as_of = complete[5]
    as_of_vars = {**settings_vars, "as_of_date": as_of.isoformat(),
                  "incremental_start_date": complete[-1].isoformat()}
    selected = ("--select", "int_as_of_date", *AS_OF_MARTS, "int_path_user_edges", "path_edges",
                *MODELS_ONLY)
    _build(tmp_path, as_of_vars, *selected)
    assert _window_start(compiled.parent / "marts", "nlu_daily") == as_of + timedelta(days=1)
    cut = _snapshot(warehouse)
    _build(tmp_path, as_of_vars, "--full-refresh", *selected)
    cut_full = _snapshot(warehouse)
    for name in ("intermediate.int_path_user_edges", "marts.path_edges"):
        assert _same_rows(cut[name], cut_full[name]), name
    for name in AS_OF_MARTS:
        rows = cut[f"marts.{name}"]
        assert max(r[0] for r in full[f"marts.{name}"]) > as_of, name  # rows to remove
        assert rows and max(r[0] for r in rows) <= as_of, name
        assert _same_rows(rows, cut_full[f"marts.{name}"]), name

    # 6. another low_confidence_threshold: the models that count by it rebuild every day
    # (incremental_built_with), not only the window's, as a full refresh would
    by_threshold = ("int_agent_daily_events", "intent_daily", "nlu_daily")
    _build(tmp_path, {**as_of_vars, "low_confidence_threshold": 0.9},
           "--select", *by_threshold, *MODELS_ONLY)
    con = connect(warehouse)
    try:
        for name in by_threshold:
            schema = "intermediate" if name.startswith("int_") else "marts"
            used = con.execute(f"SELECT DISTINCT low_confidence_threshold FROM {schema}.{name}"
                               ).fetchall()
            assert used == [(0.9,)], (name, used)
    finally:
        con.close()

    # 7. changed path definitions: every user's path is rebuilt (incremental_built_with)
    fewer_steps = [{**p, "steps": 2} for p in as_of_vars["paths"]]
    paths_vars = {**as_of_vars, "paths": fewer_steps}
    _build(tmp_path, paths_vars, "--select", "int_path_user_edges", *MODELS_ONLY)
    rebuilt = _snapshot(warehouse)["intermediate.int_path_user_edges"]
    assert len({r[-1] for r in rebuilt}) == 1
    assert max(r[6] for r in rebuilt if r[6] is not None) == 3  # N + 1 of the new N
    _build(tmp_path, paths_vars, "--select", "int_path_user_edges", "--full-refresh",
           *MODELS_ONLY)
    assert _same_rows(rebuilt, _snapshot(warehouse)["intermediate.int_path_user_edges"])

    # 8. the users' paths in a narrow window (the settings' paths again, the latest as-of
    # date): the last export day, reloaded, appends an event to the session of a path
    # anchored days before the window (the window moves back to that anchor's day; the
    # users with an anchor before it keep their rows) and the anchor of the `before`
    # path to the session begun on the first day (read back to that day)
    last = complete[-1]
    path_models = ("--select", "+int_path_user_edges", "path_edges", *MODELS_ONLY)
    _build(tmp_path, run_vars, "--full-refresh", *path_models)
    run_start = last - timedelta(days=lookback)
    narrowest = min(run_start - timedelta(days=1), _identity_start(warehouse, last) or last)
    path, user, session, anchor_day, step, source = _pick_ended_path(
        warehouse, complete[1], narrowest)
    ndjson = _first_ndjson(landing, last)
    _append_event(ndjson, {**session_user, "event_id": "evt_incremental_path_crossing",
                           "user_id": user, "session_id": session, "event_type": "user_message",
                           "timestamp": f"{last.isoformat()}T12:00:00.000Z"})
    _append_event(ndjson, {**session_user, "event_id": "evt_incremental_before_path_2",
                           "user_id": BEFORE_PATH_USER, "session_id": BEFORE_PATH_SESSION,
                           "event_type": "bot_response",
                           "timestamp": f"{last.isoformat()}T09:00:00.000Z"})
    _load(warehouse, landing, [last])
    _build(tmp_path, {**run_vars, "incremental_start_date": run_start.isoformat()}, *path_models)
    sql = (compiled / "int_path_user_edges.sql").read_text()
    kept_before = re.search(r"anchor_date < cast\('(\d{4}-\d{2}-\d{2})'", sql)
    assert kept_before and date.fromisoformat(kept_before.group(1)) == anchor_day, sql
    assert _window_start(compiled, "int_path_user_edges") == complete[0]  # the read start
    paths = _snapshot(warehouse)
    edges = {(r[0], r[1], r[2], r[6]): (r[7], r[8])
             for r in paths["intermediate.int_path_user_edges"]}
    assert edges[(path, "__all__", user, step)] == (source, "user_message")
    assert edges[("before_bot_response", "__all__", BEFORE_PATH_USER, 1)] == (
        "bot_response", "user_message")
    assert any(r[3] < anchor_day for r in paths["intermediate.int_path_user_edges"])
    _build(tmp_path, run_vars, "--full-refresh", *path_models)
    paths_full = _snapshot(warehouse)
    for name in ("intermediate.int_path_user_edges", "marts.path_edges"):
        assert _same_rows(paths[name], paths_full[name]), name
