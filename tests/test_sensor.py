"""The landing sensor evaluated by Dagster: run requests for completed days, then quiet."""

from __future__ import annotations

import dagster as dg

from orchestration.resources import LandingResource
from orchestration.sensors import landing_sensor

from .conftest import event


def test_sensor_requests_each_completed_day_once(tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-02-01", "a.ndjson", [event("a", "2026-02-01T00:00:00Z")])
    write_events(landing, "2026-02-02", "a.ndjson", [event("b", "2026-02-02T00:00:00Z")],
                 complete=False)
    resources = {"landing": LandingResource(path=str(landing))}
    ctx = dg.build_sensor_context(resources=resources)
    requests = [r for r in landing_sensor(ctx) if isinstance(r, dg.RunRequest)]
    assert [r.partition_key for r in requests] == ["2026-02-01"]
    cursor = ctx.cursor
    ctx = dg.build_sensor_context(resources=resources, cursor=cursor)
    assert not [r for r in landing_sensor(ctx) if isinstance(r, dg.RunRequest)]
    (landing / "events" / "2026-02-02" / "_SUCCESS").touch()
    ctx = dg.build_sensor_context(resources=resources, cursor=cursor)
    requests = [r for r in landing_sensor(ctx) if isinstance(r, dg.RunRequest)]
    assert [r.partition_key for r in requests] == ["2026-02-02"]
