"""The landing sensor: export days that completed or changed start a refresh run."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from ingest.landing import ExportDay, scan_landing
from ingest.state import needs_load
from orchestration.jobs import refresh_job
from orchestration.partitions import export_days
from orchestration.planning import contiguous_ranges, plan_requests, read_loaded
from orchestration.resources import LandingResource, WarehouseResource
from warehouse.locking import WriterBusyError, run_in_progress


def range_request(first: str, last: str, fingerprint: str) -> dg.RunRequest:
    """One refresh run for the export days first..last (one dbt build for all of them)."""
    if first == last:
        return dg.RunRequest(partition_key=first, run_key=f"{first}:{fingerprint}")
    return dg.RunRequest(
        run_key=f"{first}..{last}:{fingerprint}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )


@dg.sensor(
    job=refresh_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts refresh_job for the export days that completed (_SUCCESS) or changed "
    "and that the warehouse has not loaded with these very files, one run per contiguous "
    "range: started over a loaded warehouse (`insights ui` the first time), it requests "
    "nothing. While an `insights run` is in progress, or a run is writing the warehouse, it "
    "skips the tick and keeps its cursor, so the days are requested at a later tick.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingResource, warehouse: WarehouseResource
):
    holder = run_in_progress(warehouse.file)
    if holder:
        yield dg.SkipReason(
            f"a run is in progress ({holder}); new export days wait for the next tick"
        )
        return
    try:
        # no waiting: a writer holds the lock for a whole load or dbt build
        loaded = read_loaded(warehouse.file, holder="landing_sensor (reading what is loaded)",
                             timeout_s=0.0)
    except (WriterBusyError, duckdb.Error) as exc:
        yield dg.SkipReason(
            f"cannot read what the warehouse has loaded now ({str(exc).splitlines()[0]}); "
            "the export days wait for the next tick"
        )
        return
    root = landing.root

    def needs(day: ExportDay) -> bool:
        return needs_load(root, day, loaded)

    cursor = json.loads(context.cursor) if context.cursor else {}
    wanted, new_cursor = plan_requests(scan_landing(root), cursor, needs)
    outside = [d for d in wanted if not export_days.has_partition_key(d)]
    for day in outside:
        context.log.warning(
            f"export day {day} is outside the export-day partitions (ingest.first_export_date "
            "in the settings, or a date in the future); not loaded"
        )
    days = [date.fromisoformat(d) for d in wanted if d not in outside]
    for first, last in contiguous_ranges(days):
        lo, hi = first.isoformat(), last.isoformat()
        parts = "|".join(new_cursor[d] for d in wanted if lo <= d <= hi)
        fingerprint = hashlib.sha256(parts.encode()).hexdigest()[:12]
        yield range_request(first.isoformat(), last.isoformat(), fingerprint)
    if not days:
        yield dg.SkipReason("no export day that is new or changed against the warehouse")
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
