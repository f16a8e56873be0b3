"""The incremental funnel attempts equal a full refresh.

int_funnel_attempts rebuilds each funnel's attempts from that funnel's own window on (the
changed days moved back by its window, or to the start of the sessions they touch), keeps
a shorter-window funnel's attempts before its own start as built, and numbers the rebuilt
ones after the user's earlier events or attempts. Generated exports (seed 5, 100
users, 40 days) are loaded in two steps with a ``dbt build`` of the funnel models after
each; the window of the second build starts weeks after the first day, so attempts on
both sides of it exist. Then:

1. the incremental tables equal a ``--full-refresh`` (every funnel order: the ordered fast
   path numbered by attempts, and the strict, any-order and session funnels numbered by
   events); the two builds before it run in batches of users (a small
   ``duckdb_batch_events``: macros/user_batches.sql), the full refresh in one statement;
2. a configured funnel without events (and so without attempts) keeps the builds
   incremental;
3. a new funnel whose events lie before its window (with more steps than any other: one
   more reached_at column), then a changed definition (a funnel's window), make the next
   incremental build rebuild every attempt, equal to a full refresh with those
   definitions.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingest.landing import scan_landing
from sample_exports import generate_exports
from tests.dbt_support import isolate_dbt_env
from tests.test_incremental import MODELS_ONLY, _load, _same_rows
from tests.test_incremental import _build as build
from warehouse.db import connect
from warehouse.settings import load_settings

SELECT = ("--select", "@int_funnel_attempts", *MODELS_ONLY)
FUNNEL_TABLES = ("intermediate.int_funnel_attempts", "marts.funnel_steps",
                 "marts.funnel_breakdowns", "marts.funnel_trends",
                 "marts.funnel_time_to_convert")


NO_EVENTS_FUNNEL = {
    "name": "no_events",
    "steps": [
        {"name": "never", "selector": {"any_of": [{
            "event_type": "intent_classified",
            "filters": [{"field": "intent", "op": "in", "value": ["no_such_intent"]}]}]}},
        {"name": "user_message", "event_type": "user_message"}],
}


def _build(tmp: Path, dbt_vars: dict, *extra: str) -> None:
    """test_incremental's in-process build of the funnel models and their upstream."""
    build(tmp, dbt_vars, *SELECT, *extra)


def _tables(warehouse: Path) -> dict[str, list[tuple]]:
    """Each funnel table's rows, its columns in name order (a column that an incremental
    build adds goes last; a full refresh puts it in its place)."""
    con = connect(warehouse)
    try:
        out = {}
        for name in FUNNEL_TABLES:
            columns = sorted(r[0] for r in con.execute(f"DESCRIBE {name}").fetchall())
            listed = ", ".join(f'"{c}"' for c in columns)
            out[name] = con.execute(f"SELECT {listed} FROM {name} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def _window_starts(tmp: Path) -> list[str]:
    """The window starts in the last build's int_funnel_attempts, earliest first: the
    model's (every row from it on replaced), then the funnels' own ([]: a full build)."""
    sql = (tmp / "dbt_target" / "compiled" / "insights_warehouse" / "models"
           / "intermediate" / "int_funnel_attempts.sql").read_text()
    return sorted(set(re.findall(r"event_date >= cast\('(\d{4}-\d{2}-\d{2})' as date\)", sql)))


def _batches(tmp: Path) -> int:
    """The batches of users the last build of int_funnel_attempts was compiled for (1: one
    statement); that every batch ran shows in the tables equal to a full refresh."""
    sql = (tmp / "dbt_target" / "compiled" / "insights_warehouse" / "models"
           / "intermediate" / "int_funnel_attempts.sql").read_text()
    found = re.findall(r"insights_user_batches=(\d+)", sql)
    return int(found[0]) if found else 1


def _copies_its_input(tmp: Path) -> bool:
    """Whether the last build of int_funnel_attempts copied its input once for all its
    batches (macros/user_batches.sql user_batch_source) instead of reading it per batch."""
    sql = (tmp / "dbt_target" / "compiled" / "insights_warehouse" / "models"
           / "intermediate" / "int_funnel_attempts.sql").read_text()
    return "insights_user_batch_input=" in sql


def _funnel_start(tmp: Path, funnel: str) -> str:
    """The window start of one funnel in the last (incremental) build: where its kept
    attempts end, or the model's start when it has none kept."""
    sql = (tmp / "dbt_target" / "compiled" / "insights_warehouse" / "models"
           / "intermediate" / "int_funnel_attempts.sql").read_text()
    found = re.findall(
        rf"funnel = '{funnel}'\s+and not entry_date >= cast\('([0-9-]+)' as date\)", sql)
    return found[0] if found else _window_starts(tmp)[0]


def _write_span_session(landing: Path, day: date, late_export: date) -> None:
    """A booking session of user u_span: conversation_start and a booking intent on
    ``day`` (exported that day), the completed workflow the day before ``late_export``
    (exported then, late)."""
    session = {"session_id": "s_span", "user_id": "u_span", "creator_id": "c_span",
               "channel": "web"}
    done = late_export - timedelta(days=1)
    files = {
        day: [{"event_id": "span-1", "event_type": "conversation_start",
               "timestamp": f"{day}T12:00:00Z", **session},
              {"event_id": "span-2", "event_type": "intent_classified",
               "timestamp": f"{day}T12:01:00Z", "data": {"intent": "book_session"}, **session}],
        late_export: [{"event_id": "span-3", "event_type": "workflow_completed",
                       "timestamp": f"{done}T12:00:00Z", **session}],
    }
    for export, events in files.items():
        folder = landing / "events" / export.isoformat()
        assert (folder / "_SUCCESS").exists(), folder
        (folder / "span.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("funnel_landing")
    generate_exports(root, seed=5, users=100, days=40)
    return root


def test_incremental_funnel_attempts_equal_full_refresh(
        landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    warehouse = tmp_path / "warehouse.duckdb"
    isolate_dbt_env(monkeypatch, warehouse)
    settings_vars = load_settings().dbt_vars()
    # a configured funnel whose first step never occurs (lesson funnels on a platform
    # without lessons): no attempts, yet the builds stay incremental
    settings_vars["funnels"] = [*settings_vars["funnels"], NO_EVENTS_FUNNEL]
    orders = {f.get("order", "ordered") for f in settings_vars["funnels"]}
    windows = {str(f.get("window")) for f in settings_vars["funnels"]}
    assert {"ordered", "strict", "any"} <= orders and "session" in windows, settings_vars
    lookback = int(settings_vars["incremental_lookback_days"])
    complete = sorted({d.export_date for d in scan_landing(landing, ("events",)) if d.complete})
    first, rest = complete[:-3], complete[-3:]
    # one long session: its first two booking steps twelve days before the new export days,
    # its completed workflow in the last of them (sent late): the session funnel's
    # window must reach back to the session's first day, days before the day before the
    # changed days, where it would start otherwise
    span_start = min(rest) - timedelta(days=12)
    _write_span_session(landing, span_start, rest[-1])

    # batches of users: the first build reads ~9k identified events in batches of ~1k,
    # copied once into a table ordered by batch (from six batches on: user_batch_source);
    # the second a window of a few thousand in batches of ~3k, each read from stg_events
    batched = {**settings_vars, "duckdb_batch_events": 1_000}
    _load(warehouse, landing, first)
    _build(tmp_path, batched)
    assert _window_starts(tmp_path) == []
    assert _batches(tmp_path) >= 6
    assert _copies_its_input(tmp_path)
    # the compiled SQL run alone (a client, dbt show: no batch chosen) gives every user
    compiled = (tmp_path / "dbt_target" / "compiled" / "insights_warehouse" / "models"
                / "intermediate" / "int_funnel_attempts.sql").read_text()
    con = connect(warehouse)
    try:
        alone = con.execute(f"SELECT count(*) FROM ({compiled})").fetchone()[0]
        built = con.execute(
            "SELECT count(*) FROM intermediate.int_funnel_attempts").fetchone()[0]
    finally:
        con.close()
    assert alone == built > 0

    _load(warehouse, landing, rest)
    run_vars = {**settings_vars, "duckdb_batch_events": None,
                "incremental_start_date": (min(rest) - timedelta(days=lookback)).isoformat()}
    _build(tmp_path, {**run_vars, "duckdb_batch_events": 3_000})
    assert 2 <= _batches(tmp_path) < 6
    assert not _copies_its_input(tmp_path)
    starts = _window_starts(tmp_path)
    assert starts, "the funnel attempts were rebuilt in full"
    # each funnel from its own window: the 14-day funnels from the earliest start, the
    # one-hour, session and 7-day funnels later
    assert len(starts) >= 3, starts
    # the session funnel's own start: the long session's first day, not the day before
    # the changed days
    session_funnel = next(f["name"] for f in settings_vars["funnels"]
                          if f.get("window") == "session")
    assert _funnel_start(tmp_path, session_funnel) <= span_start.isoformat(), starts
    start = starts[0]
    incremental = _tables(warehouse)
    con = connect(warehouse)
    try:
        before, after, seq_before, seq_after = con.execute(
            "SELECT count(*) FILTER (WHERE entry_date < ?),"
            " count(*) FILTER (WHERE entry_date >= ?),"
            " max(attempt_seq) FILTER (WHERE entry_date < ?),"
            " max(attempt_seq) FILTER (WHERE entry_date >= ?)"
            " FROM intermediate.int_funnel_attempts", [date.fromisoformat(start)] * 4).fetchone()
    finally:
        con.close()
    assert before and after, (start, before, after)
    # the short-window funnels' attempts between the model's start and theirs were copied
    # as built, not rebuilt: there are some, and the full refresh below must agree
    con = connect(warehouse)
    try:
        kept = con.execute(
            "SELECT count(*) FROM intermediate.int_funnel_attempts WHERE entry_date >= ?"
            " AND entry_date < ? AND funnel NOT IN ('conversation', 'learning')",
            [date.fromisoformat(starts[0]), date.fromisoformat(starts[1])]).fetchone()[0]
    finally:
        con.close()
    assert kept > 0, starts
    # the rebuilt attempts continue their users' numbering
    assert seq_after > seq_before
    assert "no_events" not in {r[0] for r in incremental["intermediate.int_funnel_attempts"]}

    _build(tmp_path, run_vars, "--full-refresh")
    assert _batches(tmp_path) == 1
    full = _tables(warehouse)
    differing = [n for n in FUNNEL_TABLES if not _same_rows(incremental[n], full[n])]
    assert not differing, differing

    # a new funnel (more steps than any other: one more reached_at column) whose first
    # step occurs before its window: the next incremental build rebuilds every attempt
    changed = copy.deepcopy(run_vars)
    longest = max(len(f["steps"]) for f in changed["funnels"])
    changed["funnels"].append({
        "name": "long_conversation",
        "steps": [{"name": f"message_{i}", "event_type": "user_message"}
                  for i in range(1, longest + 2)]})
    _build(tmp_path, changed)
    assert _window_starts(tmp_path) == [], "a new funnel was built incrementally"
    rebuilt = _tables(warehouse)
    _build(tmp_path, changed, "--full-refresh")
    full = _tables(warehouse)
    differing = [n for n in FUNNEL_TABLES if not _same_rows(rebuilt[n], full[n])]
    assert not differing, differing
    con = connect(warehouse)
    try:
        columns = [r[0] for r in con.execute(
            "DESCRIBE intermediate.int_funnel_attempts").fetchall()]
    finally:
        con.close()
    assert f"reached_at_{longest + 1}" in columns

    # a changed definition (the learning funnel's window): every attempt again
    for funnel in changed["funnels"]:
        if funnel["name"] == "learning":
            funnel["window"] = {"days": 2}
    _build(tmp_path, changed)
    assert _window_starts(tmp_path) == [], "a changed definition was built incrementally"
