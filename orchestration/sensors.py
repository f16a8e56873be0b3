"""The landing sensor: a new or changed complete export day starts a refresh run."""

from __future__ import annotations

import json
from collections.abc import Iterable

import dagster as dg

from ingest.landing import ExportDay, scan_landing
from orchestration.jobs import refresh_job
from orchestration.resources import LandingResource


def plan_requests(
    days: Iterable[ExportDay], cursor: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Pure: which export days to request (a new or changed fingerprint), and the new cursor.

    The cursor maps ``<export date>`` to a fingerprint of every complete entity folder
    of that day; incomplete folders are not part of it, so ``_SUCCESS`` arriving changes it.
    """
    per_day: dict[str, list[str]] = {}
    for day in days:
        if day.complete:
            per_day.setdefault(day.export_date.isoformat(), []).append(
                f"{day.entity}:{day.fingerprint()}"
            )
    new_cursor = {d: "|".join(sorted(parts)) for d, parts in per_day.items()}
    wanted = sorted(d for d, fp in new_cursor.items() if cursor.get(d) != fp)
    return wanted, new_cursor


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
