"""The landing sensor and the daily schedule evaluated by Dagster."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from orchestration.resources import LandingResource, WarehouseResource
from orchestration.schedules import daily_refresh_schedule
from orchestration.sensors import landing_sensor
from warehouse.locking import run_lock

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
