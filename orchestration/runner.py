"""Run the Dagster jobs in this process, recorded in the Dagster instance the UI reads.

The CLI's ``run`` and ``demo`` come here: they execute ``refresh_job`` (one run per
contiguous range of export days) and ``transform_job`` exactly as the schedule and the
sensor do, not a second code path.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._utils.error import SerializableErrorInfo

from orchestration.planning import RunPlan
from warehouse.settings import ENV_DAGSTER_HOME, env_path

log = logging.getLogger(__name__)

DAGSTER_YAML_HEADER = "# Written by `insights`"
DAGSTER_YAML = f"""\
{DAGSTER_YAML_HEADER}: one run at a time (DuckDB allows one writer), no telemetry, runs
# recorded in Dagster's SQLite files through one engine per file
# (orchestration/dagster_storage.py). A file without the first line is the user's own and
# is left as it is.
concurrency:
  runs:
    max_concurrent_runs: 1
run_retries:
  enabled: true
  max_retries: 0  # per job: the jobs' dagster/max_retries tag (2)
telemetry:
  enabled: false
event_log_storage:
  module: orchestration.dagster_storage
  class: PooledSqliteEventLogStorage
  config: {{}}
"""


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default data/dagster_home) with a dagster.yaml, exported to the env."""
    home = env_path(ENV_DAGSTER_HOME)
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    # written when missing, and rewritten when an earlier `insights` wrote it
    if not cfg.exists() or (cfg.read_text().startswith(DAGSTER_YAML_HEADER)
                            and cfg.read_text() != DAGSTER_YAML):
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


@dataclass(frozen=True)
class StepFailure:
    """A step of a run that failed, and the first line of its error."""

    step: str
    error: str


@dataclass
class RunOutcome:
    run_id: str
    job: str
    success: bool
    partition_range: tuple[date, date] | None = None
    failures: list[StepFailure] = field(default_factory=list)  # empty when it succeeded


# "dagster._core.errors.DagsterAssetCheckFailedError: ..." -> "DagsterAssetCheckFailedError: ..."
_QUALIFIED = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")
_MAX_ERROR = 300
# Dagster wraps an exception raised in user code in this error; its cause is the one to show
_WRAPPER = "DagsterExecutionStepExecutionError"


_DBT_ERRORS = "Errors parsed from dbt logs:"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(message: str) -> str:
    """Pure: the first line of an error message, without the exception's module path; a
    first line that ends in ':' (Dagster's "1 blocking asset check failed ...:") takes the
    next line with it, which names what failed."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    if not lines:
        return "(no error message)"
    # dagster-dbt's error starts with the whole dbt command; the failing node follows
    # "Errors parsed from dbt logs:" (e.g. "533 of 560 FAIL 65 assert_...")
    parsed = next((i for i, ln in enumerate(lines) if ln.startswith(_DBT_ERRORS)), None)
    if parsed is not None and parsed + 1 < len(lines):
        line = _ANSI.sub("", lines[parsed + 1])
        return "dbt: " + (line if len(line) <= _MAX_ERROR else line[: _MAX_ERROR - 3] + "...")
    first = _QUALIFIED.sub("", lines[0])
    if first.endswith(":") and len(lines) > 1:
        first = f"{first} {lines[1]}"
    return first if len(first) <= _MAX_ERROR else first[: _MAX_ERROR - 3] + "..."


def _root_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    while error.cls_name == _WRAPPER and error.cause is not None:
        error = error.cause
    return error


def step_failures(instance: dg.DagsterInstance, run_id: str) -> list[StepFailure]:
    """The failed steps of a run with their first error line, from the run's event log in
    the Dagster instance (what the UI shows), in the order they failed. A run that failed
    outside any step (a resource that could not start, say) gives its run failure."""
    found: list[StepFailure] = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is None:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:  # dg.Failure: its description
            message = user.description
        elif data.error is not None:
            message = _root_error(data.error).message
        else:
            message = record.message
        found.append(StepFailure(event.step_key or "?", error_line(message)))
    if found:
        return found
    for record in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        error: SerializableErrorInfo | None = getattr(data, "error", None)
        message = _root_error(error).message if error is not None else record.message
        found.append(StepFailure("(run)", error_line(message)))
    return found


def run_tags(freshness_reference: str | None) -> dict[str, str]:
    """Tags of every run the CLI starts: its trigger, and the freshness reference when one
    is asked for (the export_freshness check reads it; it overrides the setting)."""
    from orchestration.assets.freshness import FRESHNESS_REFERENCE_TAG

    tags = {"insights/trigger": "cli"}
    if freshness_reference is not None:
        tags[FRESHNESS_REFERENCE_TAG] = freshness_reference
    return tags


def execute(
    plan: RunPlan, *, reload: bool = False, log_level: str = "INFO",
    freshness_reference: str | None = None,
) -> list[RunOutcome]:
    """Run refresh_job for each range of the plan; transform_job alone when nothing is new.

    ``freshness_reference`` (``clock`` or ``data``) goes to the runs as a tag: the
    ``export_freshness`` check (in both jobs) judges against it instead of the setting."""
    ensure_dagster_home()
    from orchestration.definitions import defs

    instance = dg.DagsterInstance.get()
    tags = run_tags(freshness_reference)
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
                    **tags,
                },
                raise_on_error=False,
            )
            outcomes.append(_outcome(instance, result, job.name, (first, last)))
            if not result.success:
                break
    else:
        job = defs.resolve_job_def("transform_job")  # judges freshness too
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags=tags, raise_on_error=False)
        outcomes.append(_outcome(instance, result, job.name, None))
    return outcomes


def _outcome(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, job: str,
             partition_range: tuple[date, date] | None) -> RunOutcome:
    failures = [] if result.success else step_failures(instance, result.run_id)
    return RunOutcome(result.run_id, job, result.success, partition_range, failures)
