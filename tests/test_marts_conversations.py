"""dbt end to end on a hand-made warehouse: raw events -> int_sessions -> the conversation,
language-understanding and funnel marts (conversation_daily, intent_daily, nlu_daily,
session_drop_off, funnel_steps), compared with numbers computed by hand from metrics.md.

The vars are the project's settings (``load_settings().dbt_vars()``) with overrides: a
1-day conversion window, cost 4.0 per human interaction, and a funnel list of the
default ``conversation`` funnel plus ``web_chat``, a funnel that exists only in these
vars and filters its first step on ``channel = web`` (funnels come from configuration).

Edges: the conversion window boundary (exactly t1 + window counts, one second later does
not), steps at the same timestamp (t2 = t1), repeated starts (a later start that converts
counts although the first did not), an anonymous session (excluded from funnel users,
counted in conversations and automation), a confidence equal to the threshold (not low),
a workflow completed on the day after its start (it counts as completed on its start
date: workflow_completion_rate counts workflow runs by start, a fraction in [0, 1]).

Per creator (marts.md version 2): funnel_steps, intent_daily, nlu_daily and
session_drop_off carry creator_id; their `__all__` rows are version 1's rows, compared
here with version 1's expected numbers unchanged, and each creator's rows hold its own.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.dbt_support import dbt_build, raw_warehouse
from warehouse.settings import load_settings

EXPORT_DATE = "2025-01-03"
LOADED_AT = datetime(2025, 1, 4, 6, 0, 0)

CONVERSATION_STEPS = [
    "conversation_start", "user_message", "intent_classified", "workflow_started",
    "workflow_completed",
]
WEB_CHAT_FUNNEL = {
    "name": "web_chat",
    "steps": [
        {"name": "web_start", "event_type": "conversation_start", "filters": {"channel": "web"}},
        {"name": "completed", "event_type": "workflow_completed"},
    ],
}


def _dbt_vars() -> dict:
    dbt_vars = load_settings().dbt_vars()
    conversation = next(f for f in dbt_vars["funnels"] if f["name"] == "conversation")
    assert [s["event_type"] for s in conversation["steps"]] == CONVERSATION_STEPS
    dbt_vars.update(
        reporting_timezone="UTC",
        as_of_date=None,
        conversion_window_days=1,
        cost_per_human_interaction=4.0,
        low_confidence_threshold=0.7,
        funnels=[conversation, WEB_CHAT_FUNNEL],
    )
    return dbt_vars


# session, event_type, event_ts (UTC), user_id, creator_id, extra columns
EVENTS = [
    # s1, u1 (web): message at the very time of the start (t2 = t1); the workflow
    # completes exactly t1 + 1 day (counts), then the conversation ends
    ("s1", "conversation_start", "2025-01-01 10:00:00", "u1", "c1", {"channel": "web"}),
    ("s1", "user_message", "2025-01-01 10:00:00", "u1", "c1", {}),
    ("s1", "bot_response", "2025-01-01 10:00:01", "u1", "c1", {"response_time_ms": 100}),
    ("s1", "intent_classified", "2025-01-01 10:00:02", "u1", "c1",
     {"intent": "book_session", "confidence": 0.9}),
    ("s1", "workflow_started", "2025-01-01 10:00:03", "u1", "c1", {}),
    ("s1", "workflow_completed", "2025-01-02 10:00:00", "u1", "c1", {}),
    ("s1", "conversation_end", "2025-01-02 10:00:01", "u1", "c1", {}),
    # s2, u2 (mobile): escalated; completes one second after t1 + 1 day (too late);
    # no conversation_end: drops off at its last intent, fallback
    ("s2", "conversation_start", "2025-01-01 12:00:00", "u2", "c1", {"channel": "mobile"}),
    ("s2", "user_message", "2025-01-01 12:00:10", "u2", "c1", {}),
    ("s2", "bot_response", "2025-01-01 12:00:11", "u2", "c1",
     {"response_time_ms": 300, "escalated_to_human": True}),
    ("s2", "intent_classified", "2025-01-01 12:00:12", "u2", "c1",
     {"intent": "fallback", "confidence": 0.5}),
    ("s2", "workflow_started", "2025-01-01 12:00:13", "u2", "c1", {}),
    ("s2", "workflow_completed", "2025-01-02 12:00:01", "u2", "c1", {}),
    # s3, u3: a start that goes nowhere (drop-off unknown) ...
    ("s3", "conversation_start", "2025-01-01 08:00:00", "u3", "c1", {}),
    # ... s4, u3: a later start that converts (confidence 0.7 = threshold: not low)
    ("s4", "conversation_start", "2025-01-03 09:00:00", "u3", "c1", {"channel": "web"}),
    ("s4", "user_message", "2025-01-03 09:00:05", "u3", "c1", {}),
    ("s4", "bot_response", "2025-01-03 09:00:06", "u3", "c1", {"response_time_ms": 200}),
    ("s4", "intent_classified", "2025-01-03 09:00:07", "u3", "c1",
     {"intent": "greeting", "confidence": 0.7}),
    ("s4", "workflow_started", "2025-01-03 09:00:08", "u3", "c1", {}),
    ("s4", "workflow_completed", "2025-01-03 09:01:00", "u3", "c1", {}),
    ("s4", "conversation_end", "2025-01-03 09:02:00", "u3", "c1", {}),
    # s5, anonymous (c2, web): every funnel step, never a funnel user; a conversation,
    # automated; its bot_response carries no response time
    ("s5", "conversation_start", "2025-01-01 14:00:00", None, "c2", {"channel": "web"}),
    ("s5", "user_message", "2025-01-01 14:00:01", None, "c2", {}),
    ("s5", "bot_response", "2025-01-01 14:00:02", None, "c2", {}),
    ("s5", "intent_classified", "2025-01-01 14:00:03", None, "c2",
     {"intent": "book_session", "confidence": 0.6}),
    ("s5", "workflow_started", "2025-01-01 14:00:04", None, "c2", {}),
    ("s5", "workflow_completed", "2025-01-01 14:00:05", None, "c2", {}),
    ("s5", "conversation_end", "2025-01-01 14:00:06", None, "c2", {}),
    # s6, u1: a learning session: a session (automation denominator), not a conversation
    ("s6", "lesson_started", "2025-01-02 08:00:00", "u1", "c1", {}),
]

D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
NULL = None

# (funnel, step): (step_name, users, conversion_rate, dropoff_users, median_seconds)
EXPECTED_FUNNELS = {
    # u1, u2, u3 start; u2 stops at workflow_started (its completion is 1 s too late);
    # u3 converts through its second start. Times to step (first converting start):
    # step 2: u1 0, u2 10, u3 5; step 3: 2, 12, 7; step 4: 3, 13, 8; step 5: 86400, 60
    ("conversation", 1): ("conversation_start", 3, 1.0, 0, 0.0),
    ("conversation", 2): ("user_message", 3, 1.0, 0, 5.0),
    ("conversation", 3): ("intent_classified", 3, 1.0, 0, 7.0),
    ("conversation", 4): ("workflow_started", 3, 1.0, 0, 8.0),
    ("conversation", 5): ("workflow_completed", 2, 2 / 3, 1, 43230.0),
    # only web starts: u1 (completes at exactly t1 + 1 day) and u3 (s4)
    ("web_chat", 1): ("web_start", 2, 1.0, 0, 0.0),
    ("web_chat", 2): ("completed", 2, 1.0, 0, 43230.0),
}

# (date, creator_id): (conversations, avg_turns, workflow_completion_rate, rt_mean, rt_p50,
#                      rt_p95, automation_rate, cost_savings, sessions)
EXPECTED_CONVERSATIONS = {
    # s1, s2, s3: 2 sessions with 2 turns; s2 escalated; 2 workflows started, both
    # completed on 01-02 (they count on their start date)
    (D1, "c1"): (3, 2.0, 1.0, 200.0, 200.0, 290.0, 2 / 3, 8.0, 3),
    # s6 only (not a conversation); the two completions of workflows started on 01-01
    # count there, not here: no workflow started, rate null
    (D2, "c1"): (0, NULL, NULL, NULL, NULL, NULL, 1.0, 0.0, 1),
    (D3, "c1"): (1, 2.0, 1.0, 200.0, 200.0, 200.0, 1.0, 4.0, 1),
    # the anonymous conversation: counted, automated
    (D1, "c2"): (1, 2.0, 1.0, NULL, NULL, NULL, 1.0, 4.0, 1),
    (D2, "c2"): (0, NULL, NULL, NULL, NULL, NULL, NULL, 0.0, 0),
    (D3, "c2"): (0, NULL, NULL, NULL, NULL, NULL, NULL, 0.0, 0),
    (D1, "__all__"): (4, 2.0, 1.0, 200.0, 200.0, 290.0, 3 / 4, 12.0, 4),
    (D2, "__all__"): (0, NULL, NULL, NULL, NULL, NULL, 1.0, 0.0, 1),
    (D3, "__all__"): (1, 2.0, 1.0, 200.0, 200.0, 200.0, 1.0, 4.0, 1),
}

# (date, intent): (classifications, share, mean_confidence, low_confidence_rate)
EXPECTED_INTENTS = {
    (D1, "book_session"): (2, 2 / 3, 0.75, 0.5),
    (D1, "fallback"): (1, 1 / 3, 0.5, 1.0),
    (D3, "greeting"): (1, 1.0, 0.7, 0.0),
}

# date: (classifications, mean_confidence, low_confidence_rate, fallback_rate)
EXPECTED_NLU = {
    D1: (3, 2.0 / 3, 2 / 3, 1 / 3),
    D3: (1, 0.7, 0.0, 0.0),
}

# drop_off_point: (sessions, conversations): s2 fallback; s3 and s6 unknown
EXPECTED_DROP_OFF = {"fallback": (1, 1), "unknown": (2, 1)}


def _insert_events(con: duckdb.DuckDBPyConnection) -> None:
    for line, (session, event_type, ts, user, creator, extra) in enumerate(EVENTS, 1):
        con.execute(
            """
            INSERT INTO raw.events (event_id, event_type, is_known_event_type, event_ts,
                session_id, user_id, creator_id, channel, response_time_ms, confidence,
                intent, escalated_to_human, export_date, source_file, source_line,
                load_id, loaded_at, is_current)
            VALUES (?, ?, true, CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?, ?, ?,
                    CAST(? AS DATE), ?, ?, ?, ?, true)
            """,
            [f"e{line:02d}", event_type, ts, session, user, creator, extra.get("channel"),
             extra.get("response_time_ms"), extra.get("confidence"), extra.get("intent"),
             extra.get("escalated_to_human"), EXPORT_DATE,
             f"events/{EXPORT_DATE}/part-0.ndjson", line, f"load-{EXPORT_DATE}", LOADED_AT],
        )


def _dbt_build(tmp: Path) -> None:
    dbt_build(tmp, _dbt_vars(), ["+conversation_daily", "+intent_daily", "+nlu_daily",
                                 "+session_drop_off", "+funnel_steps"])


def _assert_rows(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, exp in expected.items():
        got = actual[key]
        assert len(got) == len(exp), (key, got, exp)
        for g, e in zip(got, exp, strict=True):
            if e is None or isinstance(e, str):
                assert g == e, (key, got, exp)
            else:
                assert g == pytest.approx(e), (key, got, exp)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return raw_warehouse(monkeypatch, tmp_path / "warehouse.duckdb", _insert_events)


def test_conversation_nlu_and_funnel_marts(warehouse: Path, tmp_path: Path) -> None:
    _dbt_build(tmp_path)
    # default configuration (dbt-duckdb may keep its instance of the file open)
    with duckdb.connect(str(warehouse)) as con:
        sessions = {r[0]: r[1:] for r in con.execute(
            """
            SELECT session_id, user_id, turns, is_conversation, is_completed, is_escalated,
                   drop_off_point, duration_s
            FROM intermediate.int_sessions
            """
        ).fetchall()}
        assert sessions == {
            "s1": ("u1", 2, True, True, False, None, 86401.0),
            "s2": ("u2", 2, True, False, True, "fallback", 86401.0),
            "s3": ("u3", 0, True, False, False, "unknown", 0.0),
            "s4": ("u3", 2, True, True, False, None, 120.0),
            "s5": (None, 2, True, True, False, None, 6.0),
            "s6": ("u1", 0, False, False, False, "unknown", 0.0),
        }

        funnels = {(r[0], r[1]): r[2:] for r in con.execute(
            """
            SELECT funnel, step, step_name, users, conversion_rate, dropoff_users,
                   median_seconds_to_step
            FROM marts.funnel_steps WHERE creator_id = '__all__'
            """
        ).fetchall()}
        _assert_rows(funnels, EXPECTED_FUNNELS)
        # per creator: c1 served u1, u2 and u3 (the same funnels); c2 only the anonymous
        # session: no identified events, so no rows of its own
        by_creator = {(r[0], r[1], r[2]): r[3] for r in con.execute(
            "SELECT creator_id, funnel, step, users FROM marts.funnel_steps "
            "WHERE creator_id <> '__all__'").fetchall()}
        assert by_creator == {("c1", f, k): v[1] for (f, k), v in EXPECTED_FUNNELS.items()}
        assert con.execute(
            "SELECT DISTINCT conversion_window_days FROM marts.funnel_steps"
        ).fetchall() == [(1,)]
        assert con.execute(
            "SELECT step_filters FROM marts.funnel_steps WHERE funnel = 'web_chat' AND step = 1"
        ).fetchone()[0] == '{"channel": "web"}'

        conversations = {(r[0], r[1]): r[2:] for r in con.execute(
            """
            SELECT "date", creator_id, conversations, avg_turns, workflow_completion_rate,
                   response_time_ms_mean, response_time_ms_p50, response_time_ms_p95,
                   automation_rate, cost_savings, sessions
            FROM marts.conversation_daily
            """
        ).fetchall()}
        _assert_rows(conversations, EXPECTED_CONVERSATIONS)
        # workflow runs count on their start date (s1 and s2 complete on 01-02)
        assert con.execute(
            "SELECT session_id, start_date, completed_date, is_completed "
            "FROM intermediate.int_workflow_runs ORDER BY session_id"
        ).fetchall() == [("s1", D1, D2, True), ("s2", D1, D2, True), ("s4", D3, D3, True),
                         ("s5", D1, D1, True)]
        assert con.execute(
            "SELECT \"date\", workflows_started, workflows_completed FROM marts.conversation_daily "
            "WHERE creator_id = '__all__' ORDER BY 1"
        ).fetchall() == [(D1, 3, 3), (D2, 0, 0), (D3, 1, 1)]

        intents = {(r[0], r[1]): r[2:] for r in con.execute(
            """
            SELECT "date", intent, classifications, share, mean_confidence,
                   low_confidence_rate
            FROM marts.intent_daily WHERE creator_id = '__all__'
            """
        ).fetchall()}
        _assert_rows(intents, EXPECTED_INTENTS)
        # per creator: shares within the creator's day (c2: the anonymous session)
        intents_by_creator = {(r[0], r[1], r[2]): r[3:] for r in con.execute(
            """
            SELECT creator_id, "date", intent, classifications, share, mean_confidence,
                   low_confidence_rate
            FROM marts.intent_daily WHERE creator_id <> '__all__'
            """
        ).fetchall()}
        _assert_rows(intents_by_creator, {
            ("c1", D1, "book_session"): (1, 0.5, 0.9, 0.0),
            ("c1", D1, "fallback"): (1, 0.5, 0.5, 1.0),
            ("c1", D3, "greeting"): (1, 1.0, 0.7, 0.0),
            ("c2", D1, "book_session"): (1, 1.0, 0.6, 1.0),
        })

        nlu = {r[0]: r[1:] for r in con.execute(
            """
            SELECT "date", classifications, mean_confidence, low_confidence_rate,
                   fallback_rate
            FROM marts.nlu_daily WHERE creator_id = '__all__'
            """
        ).fetchall()}
        _assert_rows(nlu, EXPECTED_NLU)
        nlu_by_creator = {(r[0], r[1]): r[2:] for r in con.execute(
            """
            SELECT creator_id, "date", classifications, mean_confidence, low_confidence_rate,
                   fallback_rate
            FROM marts.nlu_daily WHERE creator_id <> '__all__'
            """
        ).fetchall()}
        _assert_rows(nlu_by_creator, {
            ("c1", D1): (2, 0.7, 0.5, 0.5),
            ("c1", D3): (1, 0.7, 0.0, 0.0),
            ("c2", D1): (1, 0.6, 1.0, 0.0),
        })

        drop_off = {r[0]: r[1:] for r in con.execute(
            "SELECT drop_off_point, sessions, conversations FROM marts.session_drop_off "
            "WHERE creator_id = '__all__'"
        ).fetchall()}
        assert drop_off == EXPECTED_DROP_OFF
        # every dropped session is c1's (s5, c2's, ended): share within the creator
        assert con.execute(
            "SELECT creator_id, drop_off_point, sessions, share FROM marts.session_drop_off "
            "WHERE creator_id <> '__all__' ORDER BY ALL"
        ).fetchall() == [("c1", "fallback", 1, 1 / 3), ("c1", "unknown", 2, 2 / 3)]

        # documented in the database too (COMMENT ON, for BI tools)
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' AND "
            "table_name IN ('conversation_daily', 'intent_daily', 'nlu_daily', "
            "'session_drop_off', 'funnel_steps') AND comment IS NOT NULL"
        ).fetchone() == (5,)
