"""Schedules in the reporting time zone, and the freshness check that flags late exports."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from data_quality.freshness import freshness_outcomes
from orchestration.schedules import previous_day_request, schedules
from warehouse.settings import load_settings

from .conftest import event


def test_every_schedule_runs_its_job_in_the_reporting_time_zone():
    from orchestration.definitions import defs
    from warehouse.settings import load_settings

    tz = load_settings().reporting_timezone
    by_name = {s.name: (s.job_name, s.cron_schedule, s.execution_timezone) for s in schedules}
    assert by_name == {
        "daily_refresh_schedule": ("refresh_job", "0 6 * * *", tz),
        "freshness_schedule": ("freshness_job", "0 7 * * *", tz),
        "ml_scoring_schedule": ("ml_scoring_job", "0 8 * * *", tz),
        "ml_training_schedule": ("ml_training_job", "0 3 * * 1", tz),
        "period_reports_schedule": ("period_reports_job", "0 9 1 * *", tz),
    }
    for name in by_name:  # every schedule's job exists in the one Definitions object
        assert defs.resolve_job_def(by_name[name][0]).name == by_name[name][0]
    for job in ("refresh_job", "transform_job", "ml_training_job", "ml_scoring_job"):
        assert defs.resolve_job_def(job).tags["dagster/max_retries"] == "2"


def test_the_previous_day_is_the_reporting_time_zones_day():
    """06:00 in Berlin on 10 March is 05:00 UTC: the day before is 9 March either way; at
    00:30 Berlin time on 10 March (still 9 March in UTC) the previous day is 9 March."""
    berlin = ZoneInfo("Europe/Berlin")
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 10, 0, 30, tzinfo=berlin))
    assert previous_day_request(ctx).partition_key == "2026-03-09"
    assert previous_day_request(ctx).run_key == "daily-2026-03-09"
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 1, 6, 0, tzinfo=ZoneInfo("America/Denver")))
    assert previous_day_request(ctx).partition_key == "2026-02-28"


def test_freshness_flags_late_and_unloaded_exports():
    today = date(2026, 3, 10)
    out = freshness_outcomes(
        today,
        latest_complete={"events": date(2026, 3, 9), "users": date(2026, 3, 5)},
        latest_loaded={"events": date(2026, 3, 8), "users": date(2026, 3, 5)},
        entities=["events", "users", "payments"],
        max_lag_days=1,
    )
    failed = {(o.table_name, o.expectation) for o in out if not o.passed}
    assert failed == {
        ("landing/events", "expect_complete_exports_to_be_loaded"),  # 9th complete, not loaded
        ("landing/users", "expect_export_to_be_fresh"),  # 5 days old
        ("landing/payments", "expect_export_to_be_fresh"),  # nothing at all
    }
    late = next(o for o in out if o.table_name == "landing/users" and not o.passed)
    assert "2026-03-05 (5 days old)" in late.observed
    assert all(o.severity == "warning" for o in out)


def test_the_freshness_job_records_a_warning_and_does_not_fail(tmp_path, write_events):
    from orchestration.definitions import defs
    from orchestration.resources import LandingResource, ReportsResource, WarehouseResource

    landing = tmp_path / "landing"
    write_events(landing, "2026-02-01", "a.ndjson", [event("e1", "2026-02-01T00:00:00Z")])
    warehouse = tmp_path / "wh.duckdb"
    job = defs.resolve_job_def("freshness_job")
    result = job.execute_in_process(resources={
        "warehouse": WarehouseResource(path=str(warehouse)),
        "landing": LandingResource(path=str(landing)),
        "reports": ReportsResource(path=str(tmp_path / "reports")),
    }, raise_on_error=False)
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute(
        "SELECT table_name, expectation, passed FROM ops.data_quality_latest "
        "WHERE check_name = 'export_freshness' AND table_name = 'landing/events' ORDER BY 2"
    ).fetchall()
    con.close()
    assert rows == [("landing/events", "expect_complete_exports_to_be_loaded", False),
                    ("landing/events", "expect_export_to_be_fresh", False)]
    assert (tmp_path / "reports" / "data_quality" / "index.html").exists()


def test_the_reference_is_today_or_the_newest_export_day_loaded():
    from data_quality.freshness import Reference, reference_for

    today, newest = date(2026, 12, 4), date(2026, 3, 1)
    assert reference_for("clock", today, newest) == Reference("clock", today)
    assert reference_for("data", today, newest) == Reference("data", newest)
    assert reference_for("data", today, None) == Reference("clock", today)  # nothing loaded
    out = freshness_outcomes(today, {"events": newest}, {"events": newest}, ["events"],
                             max_lag_days=1, reference=Reference("data", newest))
    fresh = next(o for o in out if o.expectation == "expect_export_to_be_fresh")
    assert fresh.passed and "(0 days old)" in fresh.observed
    assert "against the newest export day loaded, 2026-03-01" in fresh.description


def _freshness_run(tmp_path, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs
    from orchestration.resources import LandingResource, ReportsResource, WarehouseResource

    return defs.resolve_job_def("freshness_job").execute_in_process(resources={
        "warehouse": WarehouseResource(path=str(tmp_path / "wh.duckdb")),
        "landing": LandingResource(path=str(tmp_path / "landing")),
        "reports": ReportsResource(path=str(tmp_path / "reports")),
    }, tags=tags, raise_on_error=False)


def _events_freshness(warehouse) -> tuple[bool, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT passed, observed FROM ops.data_quality_latest WHERE check_name = "
            "'export_freshness' AND table_name = 'landing/events' "
            "AND expectation = 'expect_export_to_be_fresh'").fetchone()
    finally:
        con.close()


def _report_ages(warehouse, as_of: date) -> tuple[dict[str, int], list[str]]:
    from reports.content import freshness_section

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        section = freshness_section(con, as_of)
    finally:
        con.close()
    [table] = section.tables
    return {row[0]: row[2] for row in table.rows}, section.notes


def test_the_run_tag_judges_old_exports_against_the_data_and_the_report_agrees(
        tmp_path, write_events):
    """An export day months old by the clock: a run tagged with the data reference finds
    it fresh (0 days old), an untagged run (the setting, clock) late; the reports'
    freshness table shows the very age the latest check judged, whatever its as-of date."""
    from ingest.batch import load_entity_days
    from ingest.loader import ensure_schema

    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    day = date(2026, 2, 1)
    write_events(landing, day.isoformat(), "a.ndjson", [event("e1", "2026-02-01T00:00:00Z")])
    con = duckdb.connect(str(warehouse))
    ensure_schema(con)
    load_entity_days(con, landing, "events", [day])
    con.close()

    assert _freshness_run(tmp_path, {"insights/freshness_reference": "data"}).success
    passed, observed = _events_freshness(warehouse)
    assert passed and observed == "newest complete export day 2026-02-01 (0 days old)"
    ages, notes = _report_ages(warehouse, as_of=date(2026, 1, 20))
    assert ages == {"events": 0}
    assert "the newest export day loaded, 2026-02-01" in notes[0]

    assert _freshness_run(tmp_path, {}).success  # the setting: the clock
    today = datetime.now(ZoneInfo(load_settings().reporting_timezone)).date()
    age = (today - day).days
    passed, observed = _events_freshness(warehouse)
    assert not passed and observed == f"newest complete export day 2026-02-01 ({age} days old)"
    ages, notes = _report_ages(warehouse, as_of=day)
    assert ages == {"events": age}
    assert f"today, {today.isoformat()}" in notes[0]
