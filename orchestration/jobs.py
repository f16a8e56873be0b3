"""Jobs: the same asset graph the CLI, the schedule and the sensor run."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import dbt_models
from orchestration.assets.ingest import ingest_assets
from orchestration.assets.serving import serving_database
from orchestration.partitions import export_days

raw_selection = dg.AssetSelection.assets(*ingest_assets)
dbt_selection = dg.AssetSelection.assets(dbt_models)
publish_selection = dg.AssetSelection.assets(serving_database)

refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=raw_selection | dbt_selection | publish_selection,
    partitions_def=export_days,
    description="Load export days (one or a range), rebuild every dbt model downstream, "
    "check them and publish the serving database.",
)

transform_job = dg.define_asset_job(
    "transform_job",
    selection=dbt_selection | publish_selection,
    description="Rebuild the dbt models (staging, intermediate, marts), run their tests and "
    "checks, and publish the serving database.",
)
