"""Retention version 2, selectors, active events as a setting, coverage and the
stickiness distribution (metrics.md v2; issue 16).

- the typed settings (``Selector``, ``RetentionDefinition``, ``metrics.active_events``)
  and what dbt gets from them;
- the one selector macro ``selector_predicate`` compiled by dbt and run on DuckDB rows;
- on a small generated warehouse: marts.retention and marts.stickiness_distribution
  agree with the pandas reference (bench/reference_pandas.py), and retention_cohorts
  equals the signup -> any activity, first_time, on definitions, weekly and monthly.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
from pathlib import Path

import duckdb
import pytest

from tests.dbt_support import DBT_PROJECT_DIR, dbt_build, isolate_dbt_env
from warehouse.settings import (
    RetentionDefinition,
    Selector,
    SettingsError,
    load_settings,
    parse_settings,
)

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


# --- settings -------------------------------------------------------------------------


def test_selector_shorthands_normalize_to_any_of():
    one = {"any_of": [{"event_type": "lesson_started", "filters": []}]}
    assert Selector.model_validate("lesson_started").model_dump() == one
    assert Selector.model_validate({"event_type": "lesson_started"}).model_dump() == one
    assert Selector.model_validate([{"event_type": "lesson_started"}]).model_dump() == one
    custom = Selector.model_validate({"event_type": "custom", "filters": [
        {"field": "data.name", "op": "in", "value": ["quiz_done", "quiz_passed"]}]})
    assert custom.any_of[0].filters[0].value == ["quiz_done", "quiz_passed"]


@pytest.mark.parametrize(("raw", "message"), [
    ({"field": "data.name", "op": "in", "value": "x"}, "needs a non-empty list"),
    ({"field": "topic", "op": "eq", "value": ["a"]}, "takes one value"),
    ({"field": "topic", "op": "is_null", "value": "yes"}, "true (is null) or false"),
    ({"field": "topic", "op": "gt"}, "needs a value"),
    ({"field": "user_id", "op": "eq", "value": "u1"}, "cannot filter on field"),
    ({"field": "data.bad-key", "op": "eq", "value": 1}, "cannot filter on field"),
    ({"field": "topic", "op": "like", "value": "x"}, "Input should be"),
])
def test_bad_selector_filters_are_refused(raw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Selector.model_validate({"event_type": "lesson_started", "filters": [raw]})


def test_retention_definitions_validate_and_reach_dbt_as_a_var():
    settings = parse_settings({})
    names = [d.name for d in settings.metrics.retention]
    assert names == ["signup_any_weekly", "signup_any_weekly_unbounded",
                     "lesson_started_completed_weekly", "conversation_brackets"]
    var = settings.dbt_vars()["retention"]
    assert var[0] == {"name": "signup_any_weekly", "start": "signup", "return": "any_active",
                      "grain": "week", "mode": "on", "cohort": "first_time"}
    assert var[3]["brackets"] == [[1, 1], [2, 7], [8, 30]]
    assert var[2]["start"] == {"any_of": [{"event_type": "lesson_started", "filters": []}]}
    # the `return` key (a Python keyword) is read and written under its own name
    d = RetentionDefinition.model_validate(
        {"name": "x", "start": "lesson_started", "return": "lesson_completed"})
    assert d.as_var()["return"] == {"any_of": [{"event_type": "lesson_completed",
                                                "filters": []}]}
    assert settings.dbt_vars()["active_events"][:2] == ["conversation_start", "user_message"]


@pytest.mark.parametrize(("raw", "expected"), [
    ({"metrics": {"retention": [{"name": "x", "retrun": "any_active"}]}},
     "unknown setting `metrics.retention[0] (x).retrun` — did you mean `return`?"),
    ({"metrics": {"retention": [{"name": "x", "mode": "brackets"}]}}, "needs brackets"),
    ({"metrics": {"retention": [{"name": "x", "mode": "brackets",
                                 "brackets": [[3, 2]]}]}}, "a <= b"),
    ({"metrics": {"retention": [{"name": "x", "brackets": [[1, 2]]}]}},
     "only for mode brackets"),
    ({"metrics": {"retention": [{"name": "x", "cohort": "recurring"}]}},
     "signup start happens once"),
    ({"metrics": {"retention": [{"name": "x"}, {"name": "x"}]}}, "defined twice"),
    ({"metrics": {"active_events": []}}, "metrics.active_events"),
    # a typo in an event type would select nothing: refused, with the closest type
    ({"metrics": {"retention": [{"name": "x", "start": "lesson_strated"}]}},
     "`metrics.retention[0] (x).start.any_of[0].event_type` = 'lesson_strated': "
     "'lesson_strated' is not an event type of the contract — did you mean "
     "'lesson_started'?"),
    ({"metrics": {"retention": [{"name": "x", "return": {"event_type": "quiz_done"}}]}},
     "(custom events: event_type custom with a filter on data.name)"),
    ({"metrics": {"active_events": ["lesson_started", "goal_complete"]}},
     "`metrics.active_events[1]` = 'goal_complete': 'goal_complete' is not an event type"),
])
def test_bad_retention_settings_fail_in_one_line(raw, expected):
    with pytest.raises(SettingsError) as info:
        parse_settings(raw, source="s.yaml")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


# --- the selector macro -------------------------------------------------------------

EVENTS = [
    # event_id, event_type, topic, creator_id, data
    ("e1", "lesson_started", "math", "c1", '{"level": 3, "name": null}'),
    ("e2", "lesson_started", "art", "c1", '{"level": 7}'),
    ("e3", "lesson_started", None, "c2", "{}"),
    ("e4", "custom", None, "c1", '{"name": "quiz_done", "score": 0.9}'),
    ("e5", "custom", None, "c1", '{"name": "quiz_failed", "score": 0.2}'),
    ("e6", "user_message", "math", "c1", '{"flag": true}'),
    ("e7", "custom", None, "c2", None),
]

SELECTOR_CASES = [
    ("lesson_started", {"e1", "e2", "e3"}),
    ({"event_type": "lesson_started", "filters": [
        {"field": "topic", "op": "eq", "value": "math"}]}, {"e1"}),
    ({"event_type": "lesson_started", "filters": [
        {"field": "topic", "op": "not_in", "value": ["math"]}]}, {"e2"}),  # null: no match
    ({"event_type": "lesson_started", "filters": [
        {"field": "topic", "op": "is_null", "value": True}]}, {"e3"}),
    ({"event_type": "lesson_started", "filters": [
        {"field": "data.level", "op": "gte", "value": 3},
        {"field": "data.level", "op": "lt", "value": 7}]}, {"e1"}),
    ({"event_type": "lesson_started", "filters": [
        {"field": "data.level", "op": "gt", "value": 3}]}, {"e2"}),
    ({"event_type": "custom", "filters": [
        {"field": "data.name", "op": "eq", "value": "quiz_done"}]}, {"e4"}),
    ({"event_type": "custom", "filters": [
        {"field": "data.name", "op": "in", "value": ["quiz_done", "quiz_failed"]},
        {"field": "creator_id", "op": "eq", "value": "c1"}]}, {"e4", "e5"}),
    ({"event_type": "custom", "filters": [
        {"field": "data.score", "op": "lte", "value": 0.5}]}, {"e5"}),
    ({"event_type": "custom", "filters": [
        {"field": "data.name", "op": "is_null", "value": False}]}, {"e4", "e5"}),
    ({"event_type": "lesson_started", "filters": [
        {"field": "data.name", "op": "is_null", "value": True}]}, {"e1", "e2", "e3"}),
    ({"event_type": "user_message", "filters": [
        {"field": "data.flag", "op": "eq", "value": True}]}, {"e6"}),
    ({"any_of": [
        {"event_type": "lesson_started", "filters": [
            {"field": "topic", "op": "in", "value": ["art", "o'brien"]}]},
        {"event_type": "custom", "filters": [
            {"field": "data.name", "op": "eq", "value": "quiz_done"}]}]}, {"e2", "e4"}),
]


def _compile_predicates(tmp: Path, selectors: list) -> list[str]:
    """selector_predicate of each selector, compiled by dbt (``compile --inline``)."""
    from dbt.cli.main import dbtRunner

    inline = " union all ".join(
        f"select {i} as i, '{{{{ insights_warehouse.selector_predicate(var('selectors')[{i}]) "
        f"| replace(\"'\", \"''\") }}}}' as predicate"
        for i in range(len(selectors)))
    result = dbtRunner().invoke([
        "compile", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
        str(DBT_PROJECT_DIR), "--target-path", str(tmp / "target"), "--log-path",
        str(tmp / "logs"), "--quiet",
        "--vars", json.dumps({**load_settings().dbt_vars(), "selectors": selectors}),
        "--inline", inline])
    assert result.exception is None and result.success, result.exception
    sql = result.result.results[0].node.compiled_code
    rows = duckdb.sql(sql).fetchall()
    return [p for _, p in sorted(rows)]


def test_selector_predicate_picks_the_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    isolate_dbt_env(monkeypatch, tmp_path / "w.duckdb")
    predicates = _compile_predicates(tmp_path, [s for s, _ in SELECTOR_CASES])
    con = duckdb.connect()
    con.execute("CREATE TABLE stg_events (event_id VARCHAR, event_type VARCHAR, "
                "topic VARCHAR, creator_id VARCHAR, event_data JSON)")
    con.executemany("INSERT INTO stg_events VALUES (?, ?, ?, ?, ?)", EVENTS)
    for (selector, expected), predicate in zip(SELECTOR_CASES, predicates, strict=True):
        picked = {r[0] for r in con.execute(
            f"SELECT event_id FROM stg_events WHERE {predicate}").fetchall()}
        assert picked == expected, (selector, predicate)


def test_a_bad_selector_fails_compilation_naming_the_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    from dbt.cli.main import dbtRunner

    isolate_dbt_env(monkeypatch, tmp_path / "w.duckdb")
    result = dbtRunner().invoke([
        "compile", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
        str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"), "--log-path",
        str(tmp_path / "logs"), "--quiet",
        "--vars", json.dumps({**load_settings().dbt_vars(), "selectors": [
            {"event_type": "x", "filters": [{"field": "topic", "op": "in", "value": "a"}]}]}),
        "--inline", "select {{ insights_warehouse.selector_predicate(var('selectors')[0]) }}"])
    assert not result.success
    assert "in on topic needs a non-empty list" in capsys.readouterr().out


# --- marts on a generated warehouse ---------------------------------------------------


def _reference():
    spec = importlib.util.spec_from_file_location(
        "reference_pandas", REPO / "bench" / "reference_pandas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_pandas", module)
    spec.loader.exec_module(module)
    return sys.modules["reference_pandas"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """A small generated warehouse (60 users, 24 days from 2026-01-01, a Thursday: the
    first week is partial), built with the shipped definitions plus a monthly one."""
    from ingest.batch import load_entity_days
    from ingest.landing import landing_entities, scan_landing
    from ingest.loader import ensure_schema
    from sample_exports import generate_exports
    from warehouse.db import connect

    tmp = tmp_path_factory.mktemp("retention_v2")
    landing, warehouse = tmp / "landing", tmp / "warehouse.duckdb"
    generate_exports(landing, seed=16, users=60, days=24, faults=False)
    days = sorted({d.export_date for d in scan_landing(landing, ("events",)) if d.complete})
    con = connect(warehouse)
    try:
        ensure_schema(con)
        for entity in landing_entities():
            batch = load_entity_days(con, landing, entity, days, info=log.debug)
            assert not batch.failed_messages, batch.failed_messages
    finally:
        con.close()
    dbt_vars = load_settings().dbt_vars()
    dbt_vars["retention"] = [*dbt_vars["retention"], {
        "name": "signup_any_monthly", "start": "signup", "return": "any_active",
        "grain": "month", "mode": "on", "cohort": "first_time"}]
    with pytest.MonkeyPatch.context() as mp:
        isolate_dbt_env(mp, warehouse)
        dbt_build(tmp, dbt_vars, ["+retention", "+retention_cohorts",
                                  "+stickiness_distribution"])
    return warehouse, dbt_vars


def test_retention_and_stickiness_agree_with_the_pandas_reference(generated):
    warehouse, dbt_vars = generated
    con = duckdb.connect(str(warehouse))
    con.execute("SET TimeZone = 'UTC'")
    out = _reference().compare_v2(con, dbt_vars)
    assert set(out["definitions"]) == {"signup_any_weekly", "signup_any_weekly_unbounded"}
    for name, result in out["marts"].items():
        assert result["rows_mart"] > 0, name
        assert result["mismatches"] == 0, (name, result["examples"])
    # coverage: the first week (from Thursday 01-01) is partial, so its cells are null
    nulls = con.execute("""
        SELECT count(*) FILTER (WHERE retained_users IS NULL AND period_start < DATE '2026-01-05'),
               count(*) FILTER (WHERE period_start < DATE '2026-01-05')
        FROM marts.retention WHERE definition = 'signup_any_weekly'""").fetchone()
    assert nulls[0] == nulls[1] > 0
    assert con.execute("SELECT count(*) FROM marts.stickiness_distribution "
                       "WHERE period_start < DATE '2026-01-05'").fetchone()[0] == 0


def test_retention_cohorts_equal_the_signup_definitions_weekly_and_monthly(generated):
    warehouse, _ = generated
    con = duckdb.connect(str(warehouse))
    for grain, definition in (("week", "signup_any_weekly"), ("month", "signup_any_monthly")):
        v1 = con.execute("""
            SELECT cohort_start, period, cohort_size, retained_users, retention_rate, is_covered
            FROM marts.retention_cohorts WHERE cohort_grain = ? ORDER BY ALL""",
                         [grain]).fetchall()
        v2 = con.execute("""
            SELECT cohort_start, period, cohort_size, retained_users, retention_rate, is_covered
            FROM marts.retention WHERE definition = ? AND creator_id = '__all__'
            ORDER BY ALL""", [definition]).fetchall()
        assert v1 and v1 == v2, grain
        assert any(r[3] is None and r[5] is False for r in v1), grain  # nulls outside coverage
    on = con.execute("""
        SELECT count(*) FROM marts.retention a JOIN marts.retention b
          USING (cohort_grain, cohort_start, creator_id, period)
        WHERE a.definition = 'signup_any_weekly' AND b.definition = 'signup_any_weekly_unbounded'
          AND b.retained_users < a.retained_users""").fetchone()[0]
    assert on == 0
