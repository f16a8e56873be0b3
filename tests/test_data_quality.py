"""The data-quality suites: each passes on clean generated data and fails on data planted
to break it, naming the table, the expectation and the observed value; the publish gate
refuses while a blocking expectation fails; the HTML summary is inert."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from data_quality import store
from data_quality.html_summary import render
from data_quality.mart_suites import MART_SUITES
from data_quality.outcomes import BLOCKING, WARNING, Outcome, failures
from data_quality.privacy import validate_no_personal_data
from data_quality.raw_suites import (
    EVENTS_SQL,
    batch_label,
    day_batches,
    events_suite,
    multi_day_ids,
    validate_events,
    validate_platform,
    validate_volume,
)
from ingest.schema import PLATFORM_ENTITIES, all_ddl
from orchestration.assets.quality import check_result
from orchestration.partitions import run_export_days
from warehouse.settings import DataQualitySettings

CFG = DataQualitySettings()


@pytest.fixture
def warehouse(demo_warehouse: Path):
    """A connection to a private copy of the demo warehouse."""
    con = duckdb.connect(str(demo_warehouse))
    yield con
    con.close()


def export_days(con) -> list[date]:
    return [d for (d,) in con.execute(
        "SELECT DISTINCT export_date FROM raw.events ORDER BY 1").fetchall()]


def only_failed(outcomes: list[Outcome]) -> list[Outcome]:
    return failures(outcomes)


def test_every_suite_passes_on_clean_generated_data(warehouse):
    """Also the guard against an engine that silently fails everything (GX over SQL)."""
    days = export_days(warehouse)
    outcomes = validate_events(warehouse, days, CFG) + validate_volume(warehouse, days, CFG)
    for entity in PLATFORM_ENTITIES:
        outcomes += validate_platform(warehouse, entity.name, days, CFG)
    raw_count = len(outcomes)
    for name, suite in MART_SUITES.items():
        outcomes += suite.run(warehouse)
        outcomes += validate_no_personal_data(warehouse, "marts", name)
    assert raw_count > 60 and len(outcomes) > 180
    assert [o.message() for o in outcomes[:raw_count] if not o.passed] == []
    # the marts pass too, but for a documented warning (content engagements can exceed
    # impressions: docs/metrics.md); workflow_completion_rate is in [0, 1] by construction
    assert [o.message() for o in outcomes if not o.passed and o.severity == BLOCKING] == []
    assert {o.columns for o in outcomes if not o.passed} <= {"engagement_rate"}


def test_a_duplicate_event_id_fails_the_events_suite(warehouse):
    day = export_days(warehouse)[-1]
    warehouse.execute(
        "INSERT INTO raw.events SELECT * FROM raw.events "
        "WHERE is_current AND export_date = ? LIMIT 1", [day])
    failed = only_failed(validate_events(warehouse, [day], CFG))
    assert [(o.table_name, o.expectation, o.severity, o.unexpected_count) for o in failed] == [
        ("raw.events", "expect_column_values_to_be_unique", BLOCKING, 2)]
    assert failed[0].batch == day.isoformat()
    assert "raw.events [" in failed[0].message() and "observed 2 of" in failed[0].message()


def test_an_out_of_range_value_fails_the_events_suite(warehouse):
    day = export_days(warehouse)[-1]
    warehouse.execute(
        "UPDATE raw.events SET confidence = 1.5 WHERE event_id = (SELECT min(event_id) "
        "FROM raw.events WHERE is_current AND export_date = ?)", [day])
    failed = only_failed(validate_events(warehouse, [day], CFG))
    assert [(o.columns, o.examples) for o in failed] == [("confidence", "[1.5]")]


def test_the_events_frame_computed_once_gives_the_same_outcomes(warehouse):
    """The events suite's frame (the current copies of some export days' ids) is computed
    once into a temporary table: its outcomes, failures and examples included, are those
    of the frame's SQL read directly, on the pandas path and on the SQL-counted one."""
    days = export_days(warehouse)
    warehouse.execute(
        "UPDATE raw.events SET confidence = 1.5 WHERE event_id IN (SELECT event_id "
        "FROM raw.events WHERE is_current AND export_date = ? ORDER BY event_id LIMIT 2)",
        [days[-1]])
    warehouse.execute(
        "INSERT INTO raw.events SELECT * FROM raw.events "
        "WHERE is_current AND export_date = ? LIMIT 1", [days[0]])
    suite = events_suite(CFG)
    assert suite.materialize
    with multi_day_ids(warehouse, days):
        for threshold in (None, 0):  # pulled into pandas; counted in SQL
            once = suite.run(warehouse, {"days": days}, "all", threshold)
            direct = replace(suite, materialize=False).run(
                warehouse, {"days": days}, "all", threshold)
            assert once == direct
            assert {(o.columns, o.unexpected_count) for o in once if not o.passed} == {
                ("confidence", 2), ("event_id", 2)}
    assert warehouse.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_dq_%'"
    ).fetchone()[0] == 0


# the events suite's frame by its definition: the current copies, from the batch's first
# day on, of the ids found on the batch's days (one semi-join over every later day)
FRAME_BY_DEFINITION = """
WITH batch_ids AS (
    SELECT DISTINCT event_id FROM raw.events WHERE export_date IN (SELECT unnest($days::DATE[]))
)
SELECT e.event_id, e.export_date
FROM raw.events AS e SEMI JOIN batch_ids AS b ON e.event_id = b.event_id
WHERE e.is_current AND e.export_date >= list_min($days::DATE[])
"""


def test_the_events_frame_searches_later_days_only_for_ids_on_two_days(warehouse):
    """The frame reads the batch's days, and later days only for the ids with copies on two
    export days: the same rows as its definition, for batches of one day, of days with a
    gap, and of every day, with an id sent again later (its later copy current), an id
    current on two days (a broken invariant the unique check must see) and a duplicate
    within one day."""
    days = export_days(warehouse)
    first, second, gap, last = days[0], days[1], days[3], days[-1]

    def some_id(day: date, n: int) -> str:
        return warehouse.execute(
            "SELECT event_id FROM raw.events WHERE is_current AND export_date = ? "
            "ORDER BY event_id LIMIT 1 OFFSET ?", [day, n]).fetchone()[0]

    resent, twice_current, duplicated = some_id(first, 0), some_id(second, 1), some_id(gap, 2)
    copy = ("INSERT INTO raw.events SELECT * REPLACE (CAST(? AS DATE) AS export_date, "
            "{current} AS is_current) FROM raw.events WHERE event_id = ? AND is_current")
    warehouse.execute(copy.format(current="true"), [last, resent])
    warehouse.execute("UPDATE raw.events SET is_current = false "
                      "WHERE event_id = ? AND export_date = ?", [resent, first])
    warehouse.execute(copy.format(current="true"), [last, twice_current])
    warehouse.execute(copy.format(current="true"), [gap, duplicated])

    def frame(sql: str, batch: list[date]) -> list[tuple]:
        return sorted(warehouse.execute(
            f"SELECT event_id, export_date FROM ({sql})", {"days": batch}).fetchall())

    with multi_day_ids(warehouse, days):
        for batch in ([first], [second], [first, gap], [gap], [last], days):
            assert frame(EVENTS_SQL, batch) == frame(FRAME_BY_DEFINITION, batch), batch
        assert (resent, last) in frame(EVENTS_SQL, [first])
        assert (twice_current, last) in frame(EVENTS_SQL, [second])
    failed = only_failed(validate_events(warehouse, [second], CFG))
    assert [(o.columns, o.unexpected_count) for o in failed] == [("event_id", 2)]


@pytest.mark.parametrize(
    ("mart", "plant", "column"),
    [
        ("conversation_daily",
         "UPDATE marts.conversation_daily SET automation_rate = 1.25 "
         "WHERE (date, creator_id) IN (SELECT (date, creator_id) FROM marts.conversation_daily "
         "WHERE automation_rate IS NOT NULL LIMIT 1)", "automation_rate"),
        ("engagement_daily",
         "UPDATE marts.engagement_daily SET dau = wau + 1 "
         "WHERE (date, creator_id) = (SELECT (max(date), '__all__') FROM marts.engagement_daily)",
         "wau, dau"),
        ("funnel_steps",
         "UPDATE marts.funnel_steps SET users = users + 1000 WHERE step = 3",
         "previous_step_users, users"),
        ("retention_cohorts",
         "UPDATE marts.retention_cohorts SET cohort_size = cohort_size + 1 WHERE period = 1",
         "cohort_size_drift"),
        ("revenue_daily",
         "UPDATE marts.revenue_daily SET net_revenue = net_revenue + 1 "
         "WHERE (date, currency, creator_id) IN (SELECT (date, currency, creator_id) "
         "FROM marts.revenue_daily WHERE currency = 'EUR' AND creator_id = '__all__' "
         "LIMIT 1)", "net_revenue_gap"),
        ("topic_mastery",
         "UPDATE marts.topic_mastery SET mastery = -0.1 "
         "WHERE (user_id, topic) IN (SELECT (user_id, topic) FROM marts.topic_mastery LIMIT 1)",
         "mastery"),
    ],
)
def test_a_broken_invariant_fails_its_mart_suite(warehouse, mart, plant, column):
    assert only_failed(MART_SUITES[mart].run(warehouse)) == []
    warehouse.execute(plant)
    failed = [o for o in only_failed(MART_SUITES[mart].run(warehouse)) if o.columns == column]
    assert failed, column
    assert failed[0].severity == BLOCKING and failed[0].table_name == f"marts.{mart}"
    assert failed[0].unexpected_count and failed[0].unexpected_count >= 1


def test_personal_data_checks_run_together_give_each_marts_own_outcomes(
        warehouse, monkeypatch):
    """``run_personal_checks`` validates every mart's frame in one GX validation: the
    outcomes are those of each mart checked alone (its own row count), on clean marts
    and with personal data planted in one (then each frame is validated alone)."""
    from data_quality import engine
    from data_quality.checks import run_personal_checks

    validations = []
    real = engine.gx_results
    monkeypatch.setattr(engine, "gx_results",
                        lambda frame, *a, **k: validations.append(len(frame)) or real(
                            frame, *a, **k))
    marts = sorted(MART_SUITES)
    together = run_personal_checks(warehouse, "marts", marts)
    assert len(validations) == 1 and validations[0] > len(marts)
    alone = {m: validate_no_personal_data(warehouse, "marts", m) for m in marts}
    assert {m: outcomes for m, (outcomes, _) in together.items()} == alone
    assert all(o.passed for outcomes in alone.values() for o in outcomes)
    assert len({outcomes[0].element_count for outcomes in alone.values()}) > 5

    email = warehouse.execute(
        "SELECT email FROM raw.users WHERE email IS NOT NULL LIMIT 1").fetchone()[0]
    warehouse.execute(
        "UPDATE marts.goal_progress SET goal_type = ? "
        "WHERE goal_id = (SELECT min(goal_id) FROM marts.goal_progress)", [email])
    validations.clear()
    together = run_personal_checks(warehouse, "marts", marts)
    assert len(validations) == 1 + len(marts)  # the stack failed: each frame alone
    alone = {m: validate_no_personal_data(warehouse, "marts", m) for m in marts}
    assert {m: outcomes for m, (outcomes, _) in together.items()} == alone
    assert {m for m, (outcomes, _) in together.items() if only_failed(outcomes)} == {
        "goal_progress"}
    assert {o.columns for o in only_failed(together["goal_progress"][0])} == {
        "email_values", "email_like_values"}


def test_personal_data_in_a_mart_fails_without_being_shown(warehouse):
    email, name = warehouse.execute(
        "SELECT email, display_name FROM raw.users WHERE email IS NOT NULL LIMIT 1").fetchone()
    assert only_failed(validate_no_personal_data(warehouse, "marts", "goal_progress")) == []
    warehouse.execute(
        "UPDATE marts.goal_progress SET goal_type = ? "
        "WHERE goal_id = (SELECT min(goal_id) FROM marts.goal_progress)", [email])
    warehouse.execute("ALTER TABLE marts.goal_progress ADD COLUMN display_name VARCHAR")
    warehouse.execute(
        "UPDATE marts.goal_progress SET status = ? "
        "WHERE goal_id = (SELECT max(goal_id) FROM marts.goal_progress)", [name])
    failed = only_failed(validate_no_personal_data(warehouse, "marts", "goal_progress"))
    assert {(o.columns, o.severity) for o in failed} == {
        ("personal_column_name", BLOCKING), ("email_values", BLOCKING),
        ("email_like_values", BLOCKING),
        # a display name can be an ordinary word: reported, not blocking
        ("display_name_values", WARNING)}
    assert all(o.examples is None for o in failed)
    text = " ".join(o.message() for o in failed)
    assert "goal_type" in text and "display_name" in text and "status" in text
    assert email not in text and name not in text


def test_a_duplicate_key_fails_the_platform_suite(warehouse):
    warehouse.execute("INSERT INTO raw.users SELECT * FROM raw.users WHERE is_current LIMIT 1")
    failed = only_failed(validate_platform(warehouse, "users", [], CFG))
    assert [(o.table_name, o.expectation) for o in failed] == [
        ("raw.users", "expect_column_values_to_be_unique")]


def _volume_warehouse(path: Path, counts: list[int], first: date) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    for ddl in all_ddl():
        con.execute(ddl)
    for i, n in enumerate(counts):
        day = first + timedelta(days=i)
        con.execute(
            """
            INSERT INTO raw.events (event_id, event_type, is_known_event_type, event_ts,
                session_id, export_date, source_file, source_line, load_id, loaded_at,
                is_current)
            SELECT ? || '-' || i, 'user_message', true, ?::TIMESTAMP, 's', ?, 'f', i, 'l',
                   now()::TIMESTAMP, true
            FROM range(?) t(i)
            """,
            [day.isoformat(), day, day, n],
        )
    return con


def test_a_volume_drop_fails_the_volume_suite(tmp_path: Path):
    first = date(2026, 1, 5)
    weekly = [100, 120, 110, 90, 100, 40, 30]  # a weekly pattern, weekends low
    con = _volume_warehouse(tmp_path / "v.duckdb", weekly * 4 + [100, 12], first)
    days = [first + timedelta(days=28), first + timedelta(days=29)]
    outcomes = validate_volume(con, days, CFG)
    assert len(outcomes) == 1 and not outcomes[0].passed
    assert outcomes[0].severity == WARNING  # volume_blocking is false by default
    assert outcomes[0].unexpected_count == 1  # the Tuesday at 12 vs a median of 120
    assert "0.1" in outcomes[0].examples
    # the same day at its usual level passes; a first week without history is not judged
    con.execute("DELETE FROM raw.events WHERE export_date = ?", [days[1]])
    assert validate_volume(con, [days[1]], CFG)[0].passed is False  # an empty day: ratio 0
    assert validate_volume(con, [first, days[0]], CFG)[0].passed
    con.close()


def test_day_batches_respect_the_row_limit(tmp_path: Path):
    first = date(2026, 1, 5)
    con = _volume_warehouse(tmp_path / "b.duckdb", [600, 300, 100, 1200, 100], first)
    days = [first + timedelta(days=i) for i in range(5)]
    batches = day_batches(con, days, max_rows=1000)
    assert batches == [days[0:3], [days[3]], [days[4]]]
    assert batch_label(days[0:3]) == "2026-01-05..2026-01-07 (3 days)"
    con.close()


def test_failing_days_are_validated_again_until_they_pass(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    for ddl in all_ddl():
        con.execute(ddl)
    bad = Outcome("raw.events", "raw.events", "2026-01-06..2026-01-07 (2 days)", "e", "c",
                  "d", BLOCKING, False, "x")
    ok = Outcome("raw.events", "raw.events", "2026-01-05", "e", "c", "d", BLOCKING, True, "x")
    days = [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]
    store.record(con, [ok, bad], asset_key="raw/events", check_name="gx", run_id="r1",
                 days=days)
    assert store.failing_days(con, "raw/events", "gx") == days[1:]
    assert [o.columns for o in store.blocking_failures(con)] == ["c"]
    good = Outcome("raw.events", "raw.events", "2026-01-06..2026-01-07 (2 days)", "e", "c",
                   "d", BLOCKING, True, "x")
    store.record(con, [good], asset_key="raw/events", check_name="gx", run_id="r2",
                 days=days[1:])
    assert store.failing_days(con, "raw/events", "gx") == []
    assert store.blocking_failures(con) == []
    con.close()


def test_run_export_days_from_partition_tags():
    assert run_export_days({}) == []
    assert run_export_days({"dagster/partition": "2026-01-05"}) == [date(2026, 1, 5)]
    assert run_export_days({
        "dagster/asset_partition_range_start": "2026-01-05",
        "dagster/asset_partition_range_end": "2026-01-07",
    }) == [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]


def test_check_severity_follows_the_failed_expectations():
    key = dg.AssetCheckKey(dg.AssetKey(["marts", "x"]), "gx_invariants")
    warn = Outcome("s", "t", "", "e", "c", "d", WARNING, False, "1 of 2 rows")
    block = Outcome("s", "t", "", "e", "c2", "d", BLOCKING, False, "1 of 2 rows")
    ok = Outcome("s", "t", "", "e", "c3", "d", BLOCKING, True, "0 of 2 rows")
    assert check_result(key, [ok], blocking=True, seconds=0).passed
    only_warn = check_result(key, [ok, warn], blocking=True, seconds=0)
    assert not only_warn.passed and only_warn.severity == dg.AssetCheckSeverity.WARN
    blocked = check_result(key, [warn, block], blocking=True, seconds=0)
    assert blocked.severity == dg.AssetCheckSeverity.ERROR
    assert blocked.description.startswith("t: e(c2) failed")
    assert check_result(key, [block], blocking=False, seconds=0).severity == (
        dg.AssetCheckSeverity.WARN)


def test_the_html_summary_escapes_what_came_from_data():
    page = render(
        [("marts/x", "gx", "failed", 1, 1, date(2026, 1, 1))],
        [("marts.x", "", "expect", "c", "d", BLOCKING, False, "<script>alert(1)</script>",
          '["<img src=x onerror=alert(1)>\u202e"]')],
        generated_at=__import__("datetime").datetime(2026, 1, 1),
    )
    assert "<script>alert" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # defence in depth, as in the reports: a CSP without scripts, bidi overrides made visible
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "\u202e" not in page and "[U+202E]" in page


def test_the_publish_refuses_while_a_blocking_check_fails(warehouse, tmp_path: Path):
    """The serving asset itself, materialized alone after a failed mart validation."""
    from orchestration.assets.serving import PublishBlocked, serving_database
    from orchestration.resources import ServingResource, WarehouseResource

    def validate_nlu(con):  # both checks of the mart, as mart_quality_checks runs them
        fingerprint = store.table_fingerprint(con, "marts", "nlu_daily")
        store.record(con, MART_SUITES["nlu_daily"].run(con), asset_key="marts/nlu_daily",
                     check_name="gx_invariants", run_id=None, fingerprint=fingerprint)
        store.record(con, validate_no_personal_data(con, "marts", "nlu_daily"),
                     asset_key="marts/nlu_daily", check_name="no_personal_data", run_id=None,
                     fingerprint=fingerprint)

    warehouse.execute("UPDATE marts.nlu_daily SET fallback_rate = 2.0")
    validate_nlu(warehouse)
    path = Path(warehouse.execute("SELECT path FROM duckdb_databases() "
                                  "WHERE database_name = current_database()").fetchone()[0])
    warehouse.close()
    serving = tmp_path / "serving.duckdb"
    resources = {"warehouse": WarehouseResource(path=str(path)),
                 "serving": ServingResource(path=str(serving))}
    with pytest.raises(PublishBlocked) as err:
        dg.materialize([serving_database], resources=resources, raise_on_error=True)
    message = err.value.description
    assert "marts.nlu_daily" in message
    assert "expect_column_values_to_be_between(fallback_rate)" in message
    assert "observed" in message and "e.g. [2.0" in message
    assert not serving.exists()
    # fixed but not validated again: the mart changed since its checks saw it
    con = duckdb.connect(str(path))
    con.execute("UPDATE marts.nlu_daily SET fallback_rate = 0.1")
    con.close()
    with pytest.raises(PublishBlocked) as err:
        dg.materialize([serving_database], resources=resources, raise_on_error=True)
    assert "marts.nlu_daily: changed since its latest validation" in err.value.description
    assert "fallback_rate) failed" in err.value.description  # the failed result still counts
    # validated again: the publish goes through
    con = duckdb.connect(str(path))
    validate_nlu(con)
    con.close()
    assert dg.materialize([serving_database], resources=resources).success
    reader = duckdb.connect(str(serving), read_only=True)
    assert reader.execute("SELECT max(fallback_rate) FROM marts.nlu_daily").fetchone()[0] == 0.1
    reader.close()


def test_the_gate_refuses_unvalidated_loads_and_changed_tables(warehouse):
    from data_quality.gate import publish_blockers

    def blockers():
        return publish_blockers(warehouse, entities=["events", "users"],
                                marts=list(MART_SUITES), ml_tables=[])

    assert blockers() == []  # the demo run validated everything it published
    day = export_days(warehouse)[-1]
    # a reload whose check never ran (crashed, or the asset was materialized alone)
    warehouse.execute(
        "INSERT INTO raw.load_audit SELECT * REPLACE ('reload-x' AS load_id, "
        "finished_at + INTERVAL 1 HOUR AS finished_at) FROM raw.load_audit "
        "WHERE entity = 'events' AND export_date = ?", [day])
    assert blockers() == [
        f"raw.events: export days loaded but not validated since their latest load: {day}"]
    assert store.unvalidated_days(warehouse, "events", "gx_contract") == [day]
    warehouse.execute("DELETE FROM raw.load_audit WHERE load_id = 'reload-x'")
    # a mart rebuilt after its checks
    warehouse.execute("DELETE FROM marts.session_drop_off WHERE drop_off_point = "
                      "(SELECT min(drop_off_point) FROM marts.session_drop_off)")
    assert blockers() == ["marts.session_drop_off: changed since its latest validation"]
    warehouse.execute("DROP TABLE marts.session_drop_off")
    assert blockers() == ["marts.session_drop_off: missing"]


def test_the_publish_replaces_the_file_atomically_and_drops_a_stale_wal(warehouse, tmp_path):
    from serving.publish import publish

    target = tmp_path / "serving.duckdb"
    publish(warehouse, target)
    reader = duckdb.connect(str(target), read_only=True)  # holds the old version open
    before = reader.execute("SELECT count(*) FROM marts.nlu_daily").fetchone()[0]
    (tmp_path / "serving.duckdb.wal").write_bytes(b"stale wal of a crashed client")
    (tmp_path / ".serving.duckdb.dead.tmp").write_bytes(b"a killed publish")
    # a publish whose process was killed: removed
    (tmp_path / f".serving.duckdb.{_ended_pid()}-{'a' * 32}.tmp").write_bytes(b"killed")
    # a publish under way in a live process (this one) to the same file: left alone
    live = tmp_path / f".serving.duckdb.{os.getpid()}-{'b' * 32}.tmp"
    live.write_bytes(b"another publish writing")
    warehouse.execute("DELETE FROM marts.nlu_daily WHERE creator_id = '__all__' AND date = "
                      "(SELECT min(date) FROM marts.nlu_daily)")
    publish(warehouse, target)
    assert reader.execute("SELECT count(*) FROM marts.nlu_daily").fetchone()[0] == before
    reader.close()
    fresh = duckdb.connect(str(target), read_only=True)
    assert fresh.execute("SELECT count(*) FROM marts.nlu_daily").fetchone()[0] == before - 1
    fresh.close()
    assert not (tmp_path / "serving.duckdb.wal").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".serving")] == [live.name]
    assert target.stat().st_mode & 0o777 == 0o640


def _ended_pid() -> int:
    """The process id of a child that has ended and been reaped (no process has it now)."""
    for _ in range(5):
        proc = subprocess.Popen(["true"])
        proc.wait()
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return proc.pid
    raise AssertionError("every ended child's process id was taken again at once")


def test_a_large_frame_validated_by_column_group_gives_the_same_outcomes():
    """validate_frame splits a large frame by the columns each expectation reads (and
    reads nullable integers as numpy for the between checks): the outcomes, failing
    examples included, are those of one validation of the whole frame."""
    import pandas as pd

    from data_quality import expect as ex
    from data_quality.engine import validate_frame

    n = 400
    frame = pd.DataFrame({
        "id": [f"e{i % 397}" for i in range(n)],  # three duplicated ids
        "kind": ["a", "b", "zz", None] * (n // 4),
        "count": pd.array([None if i % 5 == 0 else i - 3 for i in range(n)], dtype="Int64"),
        "whole": pd.array(list(range(n)), dtype="Int64"),
        "score": [i / n for i in range(n)],
        "low": list(range(n)),
        "high": [i + (-1 if i == 7 else 1) for i in range(n)],
    })

    def expectations() -> list:
        return [
            ex.not_null("id"), ex.unique("id"), ex.in_set("kind", ("a", "b"), warning=True),
            ex.non_negative("count"), ex.between("count", None, 300, warning=True),
            ex.between("whole", 5, None), ex.rate("score"), ex.at_least("high", "low"),
            ex.row_count(n, "every row"), ex.unique_key(("id", "kind")),
        ]

    whole = validate_frame(frame, expectations(), suite="s", table="t", split_min_rows=10**9)
    split = validate_frame(frame, expectations(), suite="s", table="t", split_min_rows=1)
    assert split == whole
    failed = {o.columns: o for o in whole if not o.passed}
    assert set(failed) == {"id", "kind", "count", "whole", "high, low"}
    assert failed["whole"].examples == "[0, 1, 2, 3, 4]"  # ints, not floats
