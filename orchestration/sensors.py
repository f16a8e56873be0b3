"""The landing sensor: a new or changed complete export day starts a refresh run."""

from __future__ import annotations

import json

import dagster as dg

from ingest.landing import scan_landing
from orchestration.jobs import refresh_job
from orchestration.planning import plan_requests
from orchestration.resources import LandingResource


@dg.sensor(
    job=refresh_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts refresh_job for each export day that completed (_SUCCESS) or changed.",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    wanted, new_cursor = plan_requests(scan_landing(landing.root), cursor)
    for day in wanted:
        yield dg.RunRequest(partition_key=day, run_key=f"{day}:{new_cursor[day]}")
    if not wanted:
        yield dg.SkipReason("no new or changed complete export day")
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
