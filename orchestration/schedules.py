"""Schedules: the daily refresh of the latest export day."""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import refresh_job

daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    refresh_job,
    hour_of_day=6,
    minute_of_hour=0,
    name="daily_refresh_schedule",
    description="Every day at 06:00 UTC: load the previous export day (if complete) and rebuild.",
)
