"""Schedules: the daily refresh of the previous export day."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.jobs import refresh_job


@dg.schedule(
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    name="daily_refresh_schedule",
    description="Every day at 06:00 UTC: load the previous export day (if complete and new or "
    "changed) and rebuild everything downstream.",
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(partition_key=day, run_key=f"daily-{day}")
