"""The landing sensor and the daily schedule evaluated by Dagster."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from ingest.batch import load_entity_days
from ingest.loader import ensure_schema
from orchestration.resources import LandingResource, WarehouseResource
from orchestration.schedules import daily_refresh_schedule
from orchestration.sensors import landing_sensor
from warehouse.db import connect
from warehouse.locking import run_lock, writer_lock

from .conftest import event

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def requests(ctx) -> list[dg.RunRequest]:
    return [r for r in landing_sensor(ctx) if isinstance(r, dg.RunRequest)]


def test_sensor_requests_completed_days_once_as_ranges(tmp_path, write_events):
    landing = tmp_path / "landing"
    for day in ("2026-02-01", "2026-02-02", "2026-02-04"):
        write_events(landing, day, "a.ndjson", [event(day, f"{day}T00:00:00Z")])
    write_events(landing, "2026-02-05", "a.ndjson", [event("e", "2026-02-05T00:00:00Z")],
                 complete=False)
    write_events(landing, "2019-01-01", "a.ndjson", [event("old", "2019-01-01T00:00:00Z")])
    resources = {
        "landing": LandingResource(path=str(landing)),
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
    }
    ctx = dg.build_sensor_context(resources=resources)
    first = requests(ctx)
    # one run per contiguous range; the incomplete day waits; a day before the first
    # partition is reported, not requested (and does not break the tick)
    assert [(r.partition_key, r.tags.get(RANGE_START), r.tags.get(RANGE_END)) for r in first] == [
        (None, "2026-02-01", "2026-02-02"),
        ("2026-02-04", None, None),
    ]
    cursor = ctx.cursor
    assert not requests(dg.build_sensor_context(resources=resources, cursor=cursor))
    (landing / "events" / "2026-02-05" / "_SUCCESS").touch()
    later = requests(dg.build_sensor_context(resources=resources, cursor=cursor))
    assert [r.partition_key for r in later] == ["2026-02-05"]


def test_daily_schedule_targets_the_previous_export_day():
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    )
    request = daily_refresh_schedule(ctx)
    assert request.partition_key == "2026-03-09"


def test_sensor_skips_while_a_run_is_in_progress_and_keeps_its_cursor(tmp_path, write_events):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_events(landing, "2026-02-01", "a.ndjson", [event("a", "2026-02-01T00:00:00Z")])
    resources = {
        "landing": LandingResource(path=str(landing)),
        "warehouse": WarehouseResource(path=str(warehouse)),
    }
    with run_lock(warehouse, holder="insights run, started in this test"):
        ctx = dg.build_sensor_context(resources=resources)
        ticks = list(landing_sensor(ctx))
        assert len(ticks) == 1 and isinstance(ticks[0], dg.SkipReason)
        assert "in progress" in ticks[0].skip_message
        assert "started in this test" in ticks[0].skip_message
        assert ctx.cursor is None
    # once the run has finished, the day that completed meanwhile is requested
    assert [r.partition_key for r in requests(dg.build_sensor_context(resources=resources))] == [
        "2026-02-01"
    ]


def _load(landing, warehouse, days: list[str]) -> None:
    """Load the events of these export days into the warehouse, as a run would."""
    con = connect(warehouse)
    try:
        ensure_schema(con)
        load_entity_days(con, landing, "events", [date.fromisoformat(d) for d in days])
    finally:
        con.close()


def test_sensor_started_over_a_loaded_warehouse_requests_nothing(tmp_path, write_events):
    """`insights ui` starts the sensor with an empty cursor: days the warehouse has loaded
    with these very files are not run again; a changed or new day is."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    for day in ("2026-02-01", "2026-02-02", "2026-02-03"):
        write_events(landing, day, "a.ndjson", [event(day, f"{day}T00:00:00Z")])
    _load(landing, warehouse, ["2026-02-01", "2026-02-02", "2026-02-03"])
    resources = {
        "landing": LandingResource(path=str(landing)),
        "warehouse": WarehouseResource(path=str(warehouse)),
    }
    ctx = dg.build_sensor_context(resources=resources)
    ticks = list(landing_sensor(ctx))
    assert [type(t) for t in ticks] == [dg.SkipReason], ticks
    cursor = ctx.cursor
    assert cursor  # the loaded days are remembered
    # a file of one day changes, and a new day completes: only those two are requested
    write_events(landing, "2026-02-02", "b.ndjson", [event("late", "2026-02-02T05:00:00Z")])
    write_events(landing, "2026-02-04", "a.ndjson", [event("new", "2026-02-04T00:00:00Z")])
    again = dg.build_sensor_context(resources=resources)  # a fresh cursor again
    assert [(r.partition_key, r.tags.get(RANGE_START)) for r in requests(again)] == [
        ("2026-02-02", None), ("2026-02-04", None)]


def test_sensor_skips_while_the_warehouse_is_being_written(tmp_path, write_events):
    """A run writing the warehouse holds its writer lock (and DuckDB refuses a read-only
    connection to the file meanwhile): the tick is skipped, the cursor kept."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_events(landing, "2026-02-01", "a.ndjson", [event("a", "2026-02-01T00:00:00Z")])
    _load(landing, warehouse, ["2026-02-01"])
    write_events(landing, "2026-02-02", "a.ndjson", [event("b", "2026-02-02T00:00:00Z")])
    resources = {
        "landing": LandingResource(path=str(landing)),
        "warehouse": WarehouseResource(path=str(warehouse)),
    }
    with writer_lock(warehouse, holder="run 1234 (dbt), in this test"):
        ctx = dg.build_sensor_context(resources=resources)
        ticks = list(landing_sensor(ctx))
        assert len(ticks) == 1 and isinstance(ticks[0], dg.SkipReason), ticks
        assert "run 1234 (dbt)" in ticks[0].skip_message
        assert ctx.cursor is None
    writer = duckdb.connect(str(warehouse))  # open read-write: a read-only open fails
    try:
        ctx = dg.build_sensor_context(resources=resources)
        ticks = list(landing_sensor(ctx))
        assert len(ticks) == 1 and isinstance(ticks[0], dg.SkipReason), ticks
        assert ctx.cursor is None
    finally:
        writer.close()
    assert [r.partition_key for r in requests(dg.build_sensor_context(resources=resources))] == [
        "2026-02-02"]
