"""Schedules: the daily refresh of the previous export day, ML scoring and training."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.jobs import ml_scoring_job, ml_training_job, refresh_job
from orchestration.settings import load_settings


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


ml_training_schedule = dg.ScheduleDefinition(
    name="ml_training_schedule",
    job=ml_training_job,
    cron_schedule="0 3 * * 1",
    execution_timezone=load_settings().reporting_timezone,
    description="Every Monday at 03:00 (reporting time zone): retrain the ML models.",
)

ml_scoring_schedule = dg.ScheduleDefinition(
    name="ml_scoring_schedule",
    job=ml_scoring_job,
    cron_schedule="0 8 * * *",
    execution_timezone=load_settings().reporting_timezone,
    description="Every day at 08:00 (reporting time zone, after the refresh): score with the "
    "published models and rerun the analyses.",
)
