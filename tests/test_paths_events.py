"""Paths and events for analysts (metrics.md v2 "Paths"; issue 17, second half).

- the typed settings (``metrics.paths``, ``metrics.published_data_keys``) and their
  one-line errors, and what dbt gets from them;
- on a small generated warehouse with planted free text and emails: marts.path_edges
  agrees with the pandas reference (bench/reference_pandas.py), its GX invariants pass
  and fail on a tampered copy; marts.events keeps every event and no free text or email
  reaches it, the serving database or the Parquet files (partitioned by event_date);
- the partitioned Parquet export on its own: partitions replaced whole, no leftovers.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import event
from tests.dbt_support import dbt_build, isolate_dbt_env
from warehouse.settings import SettingsError, load_settings, parse_settings

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)

# strings planted in the raw events: none may leave the raw layer
PLANTED_EMAIL = "planted.person@example.org"
PLANTED_TEXT = "Plantedmessage about my divorce"
PLANTED = (PLANTED_EMAIL, PLANTED_TEXT, "Plantedcomment call me", "Plantedtopfield")


# --- settings -------------------------------------------------------------------------


def test_paths_default_and_reach_dbt_as_a_var():
    settings = parse_settings({})
    paths = settings.dbt_vars()["paths"]
    assert [p["name"] for p in paths] == ["after_conversation_start", "after_lesson_started"]
    assert paths[0] == {
        "name": "after_conversation_start", "direction": "after", "steps": 5,
        "label": "data.intent",
        "anchor": {"any_of": [{"event_type": "conversation_start", "filters": []}]}}
    assert paths[1]["label"] == "event_type"
    keys = settings.dbt_vars()["published_data_keys"]
    assert "intent" in keys and not {"message", "comment", "value"} & set(keys)


@pytest.mark.parametrize(("raw", "expected"), [
    ({"paths": [{"name": "p", "anchor": "lesson_started", "label": "data.comment"}]},
     "data.comment is free text"),
    ({"paths": [{"name": "p", "anchor": "lesson_started", "label": "data.secret"}]},
     "label data.secret is not one of metrics.published_data_keys"),
    ({"paths": [{"name": "p", "anchor": "lesson_started", "label": "topic"}]},
     "event_type or data.<key>"),
    ({"paths": [{"name": "p", "anchor": "lesson_started", "direction": "around"}]},
     "`metrics.paths[0] (p).direction` = 'around'"),
    ({"paths": [{"name": "p", "anchor": "lesson_started", "steps": 0}]},
     "`metrics.paths[0] (p).steps`"),
    ({"paths": [{"name": "p"}]}, "`metrics.paths[0] (p).anchor` is required"),
    ({"paths": [{"name": "p", "anchor": "lesson_started", "stpes": 3}]}, "did you mean `steps`?"),
    ({"paths": [{"name": "p", "anchor": "lesson_started"},
                {"name": "p", "anchor": "lesson_completed"}]},
     "path 'p' is defined twice"),
    ({"published_data_keys": ["intent", "message"]}, "data.message is free text"),
])
def test_bad_path_settings_fail_in_one_line(raw, expected):
    with pytest.raises(SettingsError) as info:
        parse_settings({"metrics": raw}, source="s.yaml")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


# --- a generated warehouse with planted personal data ----------------------------------


def _reference():
    spec = importlib.util.spec_from_file_location(
        "reference_pandas", REPO / "bench" / "reference_pandas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_pandas", module)
    spec.loader.exec_module(module)
    return sys.modules["reference_pandas"]


def _planted_events(day: str) -> list[dict]:
    """Free text and an email in every place the contract allows one (and one it does
    not list), for one user's conversation."""
    base = {"session_id": "s_planted", "user_id": "u_planted", "creator_id": "c_planted"}
    return [
        event("pl1", f"{day}T09:00:00Z", "conversation_start", **base),
        event("pl2", f"{day}T09:00:05Z", "user_message", **base, data={"text_length": 30}),
        event("pl3", f"{day}T09:00:06Z", "entity_extracted", **base,
              data={"entity": "email", "value": PLANTED_EMAIL}),
        event("pl4", f"{day}T09:00:07Z", "error", **base,
              data={"error_code": "E1", "message": f"{PLANTED_TEXT} {PLANTED_EMAIL}"}),
        event("pl5", f"{day}T09:00:08Z", "user_feedback", **base,
              data={"rating": 1, "comment": f"Plantedcomment call me {PLANTED_EMAIL}"}),
        event("pl6", f"{day}T09:00:09Z", "custom", **base,
              data={"name": "form_sent", "contact": PLANTED_EMAIL, "note": PLANTED_TEXT}),
        event("pl7", f"{day}T09:00:10Z", "intent_classified", **base,
              data={"intent": "billing_question"}, note="Plantedtopfield"),
    ]


EXTRA_PATHS = [
    # before a completed workflow, labelled by the workflow; anchors: two alternatives
    {"name": "before_workflow_done", "direction": "before", "steps": 3,
     "label": "data.workflow",
     "anchor": {"any_of": [
         {"event_type": "workflow_completed", "filters": []},
         {"event_type": "lesson_completed",
          "filters": [{"field": "data.quality", "op": "gte", "value": 0.5}]}]}},
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """A small generated warehouse (60 users, 20 days) with planted personal data,
    built for path_edges and events with the shipped paths plus EXTRA_PATHS."""
    from ingest.batch import load_entity_days
    from ingest.landing import landing_entities, scan_landing
    from ingest.loader import ensure_schema
    from sample_exports import generate_exports
    from warehouse.db import connect

    tmp = tmp_path_factory.mktemp("paths_events")
    landing, warehouse = tmp / "landing", tmp / "warehouse.duckdb"
    generate_exports(landing, seed=17, users=60, days=20, faults=False)
    days = sorted({d.export_date for d in scan_landing(landing, ("events",)) if d.complete})
    day = days[3].isoformat()
    planted = b"\n".join(json.dumps(e).encode() for e in _planted_events(day)) + b"\n"
    # a `data` object that repeats keys (JSON allows it; a dict cannot hold it): every copy
    # of an unlisted key must go, the listed key's copies stay
    repeated = json.dumps(event("pl8", f"{day}T09:00:11Z", "custom", session_id="s_planted",
                                user_id="u_planted", creator_id="c_planted",
                                data={"name": "dup_sent", "note": "placeholder"}))
    planted += repeated.replace(
        '"note": "placeholder"',
        f'"note": "{PLANTED_TEXT}", "name": "dup_again", "note": "{PLANTED_EMAIL}"').encode()
    planted += b"\n"
    (landing / "events" / day / "planted.ndjson").write_bytes(planted)
    con = connect(warehouse)
    try:
        ensure_schema(con)
        for entity in landing_entities():
            batch = load_entity_days(con, landing, entity, days, info=log.debug)
            assert not batch.failed_messages, batch.failed_messages
    finally:
        con.close()
    dbt_vars = load_settings().dbt_vars()
    dbt_vars["paths"] = [*dbt_vars["paths"], *EXTRA_PATHS]
    with pytest.MonkeyPatch.context() as mp:
        isolate_dbt_env(mp, warehouse)
        dbt_build(tmp, dbt_vars, ["+path_edges", "+events"])
    return tmp, warehouse, dbt_vars


def test_path_edges_agree_with_the_pandas_reference(generated):
    _, warehouse, dbt_vars = generated
    con = duckdb.connect(str(warehouse))
    con.execute("SET TimeZone = 'UTC'")
    out = _reference().compare_paths(con, dbt_vars)
    assert out["paths"] == ["after_conversation_start", "after_lesson_started",
                            "before_workflow_done"]
    assert out["rows_mart"] > 50 and out["mismatches"] == 0, out["examples"]
    by_path = dict(con.execute("""
        SELECT path, count(DISTINCT step) FROM marts.path_edges
        WHERE creator_id = '__all__' GROUP BY path""").fetchall())
    assert set(by_path) == set(out["paths"]) and min(by_path.values()) >= 3
    # labels by data field where the event has it, by event type elsewhere
    labels = {s for (s,) in con.execute(
        "SELECT DISTINCT target FROM marts.path_edges WHERE path = 'after_conversation_start'"
    ).fetchall()}
    assert any(x.startswith("intent:") for x in labels) and "user_message" in labels
    assert "intent_classified" not in labels and "end" in labels
    # step 1 of all creators: every user with an anchor event, once
    step_one, anchored = con.execute("""
        SELECT (SELECT sum(users) FROM marts.path_edges WHERE path = 'after_lesson_started'
                AND step = 1 AND creator_id = '__all__'),
               (SELECT count(DISTINCT user_id) FROM staging.stg_events
                WHERE event_type = 'lesson_started' AND user_id IS NOT NULL)""").fetchall()[0]
    assert step_one == anchored > 0


def test_path_edges_gx_invariants_pass_and_catch_a_broken_flow(generated):
    from data_quality.checks import INVARIANTS, run_mart_check

    _, warehouse, _ = generated
    con = duckdb.connect(str(warehouse))
    try:
        outcomes = run_mart_check(con, "path_edges", INVARIANTS)
        assert len(outcomes) >= 6 and all(o.passed for o in outcomes), [
            (o.description, o.observed) for o in outcomes if not o.passed]
        con.execute("BEGIN TRANSACTION")  # tampered, then rolled back
        # more users leave a step-2 node than came into it at step 1
        changed = con.execute("""
            UPDATE marts.path_edges SET users = users + 1000
            WHERE (path, creator_id, step, source, target) = (
                SELECT (path, creator_id, step, source, target) FROM marts.path_edges
                WHERE step = 2 AND path = 'after_conversation_start'
                ORDER BY ALL LIMIT 1)""").fetchall()
        assert changed == [(1,)]
        failed = [o.description for o in run_mart_check(con, "path_edges", INVARIANTS)
                  if not o.passed]
        con.execute("ROLLBACK")
    finally:
        con.close()
    assert any("came into that source" in d for d in failed), failed


def test_events_mart_keeps_every_event_and_no_free_text(generated):
    from data_quality.checks import PERSONAL, run_mart_check

    _, warehouse, _ = generated
    con = duckdb.connect(str(warehouse))
    try:
        assert con.execute("SELECT count(*) FROM marts.events").fetchall() == con.execute(
            "SELECT count(*) FROM staging.stg_events").fetchall()
        columns = {c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name = 'events'").fetchall()}
        assert {"user_id", "creator_id", "session_id", "event_type", "event_ts", "intent",
                "data"} <= columns
        assert not columns & {"error_message", "feedback_comment", "entity_value",
                              "anonymous_id", "raw_user_id", "extra_fields", "source_file"}
        row = con.execute("SELECT data::VARCHAR FROM marts.events WHERE event_id = 'pl6'"
                          ).fetchall()
        assert json.loads(row[0][0]) == {"name": "form_sent"}
        repeated = con.execute("SELECT data::VARCHAR FROM marts.events WHERE event_id = 'pl8'"
                               ).fetchall()
        assert repeated == [('{"name":"dup_sent","name":"dup_again"}',)]
        assert all(o.passed for o in run_mart_check(con, "events", PERSONAL))
    finally:
        con.close()


def test_no_planted_text_reaches_the_serving_database_or_the_parquet_files(generated):
    from serving.publish import publish

    tmp, warehouse, _ = generated
    con = duckdb.connect(str(warehouse))
    try:
        # control: the planted strings are in the raw layer, where they may be
        raw = con.execute("SELECT string_agg(CAST(e AS VARCHAR), ' ') FROM raw.events e "
                          "WHERE event_id LIKE 'pl%'").fetchall()[0][0]
        assert all(s in raw for s in PLANTED)
        result = publish(con, tmp / "serving.duckdb", parquet_dir=tmp / "parquet")
    finally:
        con.close()
    assert {"marts.events", "marts.path_edges"} <= set(result.tables)
    serving = duckdb.connect(str(tmp / "serving.duckdb"), read_only=True)
    try:
        tables = serving.execute("SELECT schema_name, table_name FROM duckdb_tables()"
                                 ).fetchall()
        for schema, table in tables:
            for needle in PLANTED:
                hits = serving.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" t '
                    "WHERE contains(CAST(t AS VARCHAR), ?)", [needle]).fetchall()[0][0]
                assert hits == 0, (schema, table, needle)
        files = sorted((tmp / "parquet").rglob("*.parquet"))
        partitions = sorted((tmp / "parquet" / "marts" / "events").glob("event_date=*"))
        days = serving.execute("SELECT count(DISTINCT event_date) FROM marts.events"
                               ).fetchall()[0][0]
        assert len(partitions) == days > 10
        for path in files:
            for needle in PLANTED:
                hits = serving.execute(
                    f"SELECT count(*) FROM read_parquet('{path}') t "
                    "WHERE contains(CAST(t AS VARCHAR), ?)", [needle]).fetchall()[0][0]
                assert hits == 0, (path, needle)
        parts = tmp / "parquet" / "marts" / "events" / "*" / "*.parquet"
        assert serving.execute(f"SELECT count(*) FROM read_parquet('{parts}')").fetchall() == (
            serving.execute("SELECT count(*) FROM marts.events").fetchall())
    finally:
        serving.close()


# --- the partitioned Parquet export ----------------------------------------------------


def test_partitioned_export_replaces_the_partitions_whole(tmp_path: Path):
    from serving.publish import export_parquet

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.events AS SELECT range AS n, "
                "DATE '2026-01-01' + CAST(range % 3 AS INTEGER) AS event_date FROM range(30)")
    con.execute("CREATE TABLE marts.small AS SELECT 1 AS x")
    tables = [("marts", "events"), ("marts", "small")]
    written = export_parquet(con, tables, tmp_path)
    assert written == [tmp_path / "marts" / "events", tmp_path / "marts" / "small.parquet"]
    folders = sorted(p.name for p in (tmp_path / "marts" / "events").iterdir())
    assert folders == ["event_date=2026-01-01", "event_date=2026-01-02",
                       "event_date=2026-01-03"]
    files = list((tmp_path / "marts" / "events").rglob("*.parquet"))
    assert files and all(f.stat().st_mode & 0o777 == 0o640 for f in files)
    glob = tmp_path / "marts" / "events" / "*" / "*.parquet"
    # the partition column is inside the files too (tools that ignore hive paths)
    assert con.execute(f"SELECT count(*), count(DISTINCT event_date) FROM read_parquet("
                       f"'{glob}', hive_partitioning = false)").fetchall() == [(30, 3)]
    con.execute("DELETE FROM marts.events WHERE event_date = DATE '2026-01-02'")
    export_parquet(con, tables, tmp_path)
    assert sorted(p.name for p in (tmp_path / "marts" / "events").iterdir()) == [
        "event_date=2026-01-01", "event_date=2026-01-03"]
    assert [p.name for p in (tmp_path / "marts").iterdir() if p.name.startswith(".")] == []
    # a table no longer published loses its folder
    export_parquet(con, [("marts", "small")], tmp_path)
    assert sorted(p.name for p in (tmp_path / "marts").iterdir()) == ["small.parquet"]
