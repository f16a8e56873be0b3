"""The one Definitions object of Insights Warehouse (``dagster dev -w workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.alerts import alert_assets
from orchestration.assets.analyses import analysis_assets, analysis_jobs, analysis_schedules
from orchestration.assets.dbt import bkt_params_spec, dbt_models, dbt_resource
from orchestration.assets.freshness import export_freshness
from orchestration.assets.ingest import audit_specs, ingest_assets, landing_specs
from orchestration.assets.ml import ml_assets
from orchestration.assets.quality import quality_checks
from orchestration.assets.reports import report_assets
from orchestration.assets.serving import serving_database
from orchestration.jobs import (
    freshness_job,
    ml_scoring_job,
    ml_training_job,
    period_reports_job,
    refresh_job,
    transform_job,
)
from orchestration.resources import default_resources
from orchestration.schedules import schedules
from orchestration.sensors import landing_sensor
from warehouse.settings import export_path_defaults

export_path_defaults()

defs = dg.Definitions(
    assets=[
        *landing_specs(), *ingest_assets, *audit_specs(), dbt_models, bkt_params_spec,
        *ml_assets,
        *report_assets, *alert_assets, serving_database, *analysis_assets,
    ],
    asset_checks=[*quality_checks, export_freshness],
    jobs=[refresh_job, transform_job, ml_training_job, ml_scoring_job, freshness_job,
          period_reports_job, *analysis_jobs],
    schedules=[*schedules, *analysis_schedules],
    sensors=[landing_sensor],
    resources={**default_resources(), "dbt": dbt_resource()},
    executor=dg.in_process_executor,
)
