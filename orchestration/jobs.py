"""Jobs: the same asset graph the CLI, the schedule and the sensor run."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.alerts import alert_assets
from orchestration.assets.dbt import dbt_models
from orchestration.assets.freshness import export_freshness
from orchestration.assets.ingest import ingest_assets
from orchestration.assets.ml import ml_assets, train_models, user_features
from orchestration.assets.quality import raw_quality_checks
from orchestration.assets.reports import (
    daily_reports,
    monthly_reports,
    quarterly_reports,
    weekly_reports,
)
from orchestration.assets.serving import serving_database
from orchestration.partitions import export_days

raw_selection = dg.AssetSelection.assets(*ingest_assets)
dbt_selection = dg.AssetSelection.assets(dbt_models)
# every ml asset; training retrains only when its models are older than retrain_every_days
ml_selection = dg.AssetSelection.assets(*ml_assets)
training_selection = dg.AssetSelection.assets(user_features, train_models)
publish_selection = dg.AssetSelection.assets(serving_database)
daily_report_selection = dg.AssetSelection.assets(daily_reports)
weekly_report_selection = dg.AssetSelection.assets(weekly_reports)
period_report_selection = dg.AssetSelection.assets(monthly_reports, quarterly_reports)
alerts_selection = dg.AssetSelection.assets(*alert_assets)
# what every run that changes the marts or ml tables ends with (the reports and alerts
# run only downstream of passed blocking checks; the publish copies them)
outputs_selection = (daily_report_selection | weekly_report_selection | alerts_selection
                     | publish_selection)
# the raw layer's checks without loading anything: days that failed (or were never
# validated) are validated again, and their blocking checks still gate dbt
raw_checks_selection = dg.AssetSelection.checks(raw_quality_checks)
# how late each entity's newest export day is (a warning); refresh_job has it with the
# raw assets
freshness_selection = dg.AssetSelection.checks(export_freshness)

# run failure retries (the Dagster daemon retries a failed run from its failed steps, at
# most twice; `insights ui` runs the daemon, and its dagster.yaml enables run retries)
RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}

refresh_job = dg.define_asset_job(
    "refresh_job",
    tags=RETRY_TAGS,
    selection=raw_selection | dbt_selection | ml_selection | outputs_selection,
    partitions_def=export_days,
    description="Load export days (one or a range), rebuild every dbt model downstream, "
    "check them, score the ml tables, render the daily and weekly reports, evaluate the "
    "alerts and publish the serving database.",
)

transform_job = dg.define_asset_job(
    "transform_job",
    tags=RETRY_TAGS,
    selection=(raw_checks_selection | freshness_selection | dbt_selection | ml_selection
               | outputs_selection),
    description="Validate the raw layer again (failed or unvalidated export days), rebuild "
    "the dbt models (staging, intermediate, marts), run their tests and checks, score the "
    "ml tables, render the reports, evaluate the alerts and publish the serving database.",
)

ml_training_job = dg.define_asset_job(
    "ml_training_job",
    tags=RETRY_TAGS,
    selection=training_selection | weekly_report_selection | publish_selection,
    config={"ops": {"ml_train_models": {"config": {"force": True}}}},
    description="Retrain the churn, goal success and LTV models on fresh feature snapshots, "
    "render the weekly report and publish.",
)

ml_scoring_job = dg.define_asset_job(
    "ml_scoring_job",
    tags=RETRY_TAGS,
    selection=(ml_selection - dg.AssetSelection.assets(train_models))
    | daily_report_selection | alerts_selection | publish_selection,
    description="Score and analyse with the published models: predictions, forecast, "
    "anomalies, segments, experiments, drivers, insights; then render the "
    "daily report, evaluate the alerts and publish the serving database.",
)

period_reports_job = dg.define_asset_job(
    "period_reports_job",
    tags=RETRY_TAGS,
    selection=period_report_selection | publish_selection,
    description="Render the monthly and quarterly reports (the last complete calendar "
    "month and quarter on or before the as-of date) and publish.",
)

freshness_job = dg.define_asset_job(
    "freshness_job",
    selection=freshness_selection,
    description="Flag late exports: every entity's newest complete export day is recent "
    "and loaded (a warning, recorded in ops.data_quality).",
)
