"""Run the Dagster jobs in this process, recorded in the Dagster instance the UI reads.

The CLI's ``run`` and ``demo`` come here: they execute ``refresh_job`` (one run per
contiguous range of export days) and ``transform_job`` exactly as the schedule and the
sensor do, not a second code path.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.planning import RunPlan
from warehouse.settings import ENV_DAGSTER_HOME, env_path

log = logging.getLogger(__name__)

DAGSTER_YAML = """\
# Written by `insights`: one run at a time (DuckDB allows one writer), no telemetry.
concurrency:
  runs:
    max_concurrent_runs: 1
run_retries:
  enabled: true
  max_retries: 0  # per job: the jobs' dagster/max_retries tag (2)
telemetry:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default data/dagster_home) with a dagster.yaml, exported to the env."""
    home = env_path(ENV_DAGSTER_HOME)
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DAGSTER_YAML)
    os.environ[ENV_DAGSTER_HOME] = str(home)
    return home


def _run_config(reload: bool, log_level: str) -> dict:
    from orchestration.assets.ingest import ingest_assets

    cfg: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if reload:
        cfg["ops"] = {
            a.op.name: {"config": {"reload": True}} for a in ingest_assets
        }
    return cfg


@dataclass
class RunOutcome:
    run_id: str
    job: str
    success: bool
    partition_range: tuple[date, date] | None = None


def execute(
    plan: RunPlan, *, reload: bool = False, log_level: str = "INFO"
) -> list[RunOutcome]:
    """Run refresh_job for each range of the plan; transform_job alone when nothing is new."""
    ensure_dagster_home()
    from orchestration.definitions import defs

    instance = dg.DagsterInstance.get()
    outcomes: list[RunOutcome] = []
    if plan.ranges:
        job = defs.resolve_job_def("refresh_job")
        for first, last in plan.ranges:
            log.info("refresh_job for export days %s .. %s", first, last)
            result = job.execute_in_process(
                instance=instance,
                run_config=_run_config(reload, log_level),
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
                    "insights/trigger": "cli",
                },
                raise_on_error=False,
            )
            outcomes.append(RunOutcome(result.run_id, job.name, result.success, (first, last)))
            if not result.success:
                break
    else:
        job = defs.resolve_job_def("transform_job")
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={"insights/trigger": "cli"},
            raise_on_error=False,
        )
        outcomes.append(RunOutcome(result.run_id, job.name, result.success))
    return outcomes
