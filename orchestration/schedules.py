"""Schedules, all in the reporting time zone (``metrics.reporting_timezone``).

- daily_refresh_schedule, 06:00 daily: refresh_job for the previous export day (load,
  marts, scoring, daily and weekly reports, alerts, publish).
- freshness_schedule, 07:00 daily: freshness_job flags exports that are late (a warning).
- ml_scoring_schedule, 08:00 daily: ml_scoring_job (rescore with the published models,
  reports, alerts, publish).
- ml_training_schedule, 03:00 Mondays: ml_training_job (retrain, weekly report, publish).
- period_reports_schedule, 09:00 on the 1st of each month: period_reports_job (the
  monthly and quarterly reports of the last complete month and quarter, publish).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.jobs import (
    freshness_job,
    ml_scoring_job,
    ml_training_job,
    period_reports_job,
    refresh_job,
)
from warehouse.settings import load_settings

REPORTING_TZ = load_settings().reporting_timezone


def previous_day_request(scheduled: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The export day before the scheduled time's date (in the reporting time zone)."""
    day = (scheduled.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(partition_key=day, run_key=f"daily-{day}")


@dg.schedule(
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone=REPORTING_TZ,
    name="daily_refresh_schedule",
    description="Every day at 06:00 (reporting time zone): load the previous export day (if "
    "complete and new or changed), rebuild everything downstream, render the reports and "
    "publish.",
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return previous_day_request(context)


freshness_schedule = dg.ScheduleDefinition(
    name="freshness_schedule",
    job=freshness_job,
    cron_schedule="0 7 * * *",
    execution_timezone=REPORTING_TZ,
    description="Every day at 07:00 (reporting time zone, an hour after the refresh): flag "
    "entities whose newest complete export day is late or not loaded.",
)

ml_training_schedule = dg.ScheduleDefinition(
    name="ml_training_schedule",
    job=ml_training_job,
    cron_schedule="0 3 * * 1",
    execution_timezone=REPORTING_TZ,
    description="Every Monday at 03:00 (reporting time zone): retrain the ML models, render "
    "the weekly report and publish.",
)

ml_scoring_schedule = dg.ScheduleDefinition(
    name="ml_scoring_schedule",
    job=ml_scoring_job,
    cron_schedule="0 8 * * *",
    execution_timezone=REPORTING_TZ,
    description="Every day at 08:00 (reporting time zone, after the refresh): score with the "
    "published models, rerun the analyses, render the reports and publish.",
)

period_reports_schedule = dg.ScheduleDefinition(
    name="period_reports_schedule",
    job=period_reports_job,
    cron_schedule="0 9 1 * *",
    execution_timezone=REPORTING_TZ,
    description="On the 1st of each month at 09:00 (reporting time zone, after the day's "
    "refresh and scoring): render the monthly and quarterly reports and publish.",
)

schedules = [daily_refresh_schedule, freshness_schedule, ml_training_schedule,
             ml_scoring_schedule, period_reports_schedule]
