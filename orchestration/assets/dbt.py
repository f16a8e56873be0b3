"""dbt models as Dagster assets, over one DbtProject, lineage joined to the raw assets.

dbt sources ``raw.<table>`` map to the ingest assets' keys ``raw/<table>``; models are
keyed ``<schema>/<model>`` (staging, intermediate, marts). dbt data tests become asset
checks.
"""



import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from ingest.loader import connect
from orchestration.dbt_args import (
    ENV_INCREMENTAL_START,
    build_args,
    incremental_start_date,
    parse_args,
)
from orchestration.dbt_target import keep_partial_parse, prune_invocations
from orchestration.failpoints import failpoint
from orchestration.resources import WarehouseResource
from orchestration.settings import (
    DBT_PROJECT_DIR,
    ENV_WAREHOUSE,
    export_duckdb_env,
    load_settings,
)

log = logging.getLogger(__name__)

# dbt invocation folders kept in dbt_project/target for debugging (~12 MB each)
KEEP_INVOCATIONS = 10

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    prepare_project_cli_args=parse_args(load_settings().dbt_vars()),
)


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "snapshots", "tests", "analyses"):
        base = project_dir / folder
        if base.is_dir():
            for f in base.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        f = project_dir / name
        if f.exists():
            newest = max(newest, f.stat().st_mtime)
    settings_file = load_settings().source
    if settings_file is not None and settings_file.exists():
        newest = max(newest, settings_file.stat().st_mtime)
    return newest


def _manifest_stale(manifest: Path, project_dir: Path) -> bool:
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        project_dir)


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when its manifest is missing or older than its sources.

    Several processes may load the definitions at once (the webserver and the daemon, the
    test suite's workers): one parses, under a file lock, the others wait and then read
    the manifest it wrote instead of writing the same files at the same time."""
    manifest = project.manifest_path
    if not _manifest_stale(manifest, project.project_dir):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with (manifest.parent / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _manifest_stale(manifest, project.project_dir):
            log.info("parsing the dbt project (manifest missing or stale)")
            project.preparer.prepare(project)
    return manifest


class InsightsDbtTranslator(DagsterDbtTranslator):
    """Sources keep ``<source>/<table>`` (= the ingest assets); models get ``<schema>/<name>``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get(
            "schema", "main"
        )
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


# dbt tests on models are asset checks of their models. Source tests still run in
# `dbt build` but are not checks of the raw assets: Dagster exempts an asset that checks
# its upstream from being blocked by that upstream's blocking checks, and the raw
# layer's blocking checks (reconciliation, the GX contract suites) must stop dbt.
translator = InsightsDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=False
    )
)

ensure_manifest()


def incremental_keys(manifest_path: Path = dbt_project.manifest_path) -> frozenset[dg.AssetKey]:
    """The asset keys of the incremental models."""
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return frozenset(
        translator.get_asset_key(n) for n in nodes
        if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental"
    )


INCREMENTAL_KEYS = incremental_keys()

# The incremental models remember the newest load they were built from: a run rebuilds
# them from the earliest export day loaded since then (minus the lookback), so a day
# loaded by a run that was killed (or whose dbt step failed) before they were rebuilt is
# rebuilt by the next run, whatever that run loads itself (the run's own days, its
# partition tags, would leave out e.g. an old day reloaded by the killed run).
BUILDS_DDL = """
CREATE TABLE IF NOT EXISTS ops.dbt_incremental_builds (
    built_at TIMESTAMP NOT NULL,  -- UTC
    run_id VARCHAR,
    loads_up_to TIMESTAMP         -- the newest raw.load_audit.finished_at the build read
)
"""


def _table_exists(con: Any, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
        [schema, table]).fetchone()[0])


def unbuilt_loads(warehouse: Path) -> tuple[date | None, datetime | None]:
    """(the earliest export day loaded since the last completed build of the incremental
    models, None if none; the newest load). The caller holds the writer lock."""
    if not warehouse.exists():
        return None, None
    con = connect(warehouse)
    try:
        if not _table_exists(con, "raw", "load_audit"):
            return None, None
        built = None
        if _table_exists(con, "ops", "dbt_incremental_builds"):
            built = con.execute(
                "SELECT max(loads_up_to) FROM ops.dbt_incremental_builds").fetchone()[0]
        since = "" if built is None else "WHERE finished_at > ?"
        first = con.execute(f"SELECT min(export_date) FROM raw.load_audit {since}",
                            [] if built is None else [built]).fetchone()[0]
        newest = con.execute("SELECT max(finished_at) FROM raw.load_audit").fetchone()[0]
        return first, newest
    finally:
        con.close()


def record_build(warehouse: Path, run_id: str, loads_up_to: datetime | None) -> None:
    """The incremental models are built from every load up to ``loads_up_to``."""
    if loads_up_to is None:
        return
    con = connect(warehouse)
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS ops")
        con.execute(BUILDS_DDL)
        con.execute("INSERT INTO ops.dbt_incremental_builds VALUES (?, ?, ?)",
                    [datetime.now(UTC).replace(tzinfo=None), run_id, loads_up_to])
    finally:
        con.close()


def window_start(tag_start: str | None, unbuilt: date | None, lookback_days: int) -> str | None:
    """Pure: the earlier of the run's own window start and the earliest unbuilt export
    day minus the lookback (None: neither, the models use their latest day)."""
    starts = [s for s in (tag_start,) if s]
    if unbuilt is not None:
        starts.append((unbuilt - timedelta(days=lookback_days)).isoformat())
    return min(starts) if starts else None


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dbt_models",
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """Build the selected dbt models and run their tests (``dbt build``)."""
    # dbt's profiles.yml reads the same variable as the resource: one path, one file.
    os.environ[ENV_WAREHOUSE] = str(warehouse.file)
    # A run may build the dbt models in several steps (around ml/bkt_params and
    # ml/experiment_analysis, which dbt models read): a test runs in the step where all its
    # parents are selected or already built, never before (dbt's default, eager, would run
    # e.g. a relationships test with one parent not built yet).
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    settings = load_settings()
    export_duckdb_env(settings.duckdb)
    with warehouse.write_lock(holder=f"run {context.run_id} (dbt)"):
        dbt_vars = settings.dbt_vars()
        lookback = int(dbt_vars.get("incremental_lookback_days", 7))
        # the run's window goes by environment, not --vars: a var that changes every run
        # would make dbt parse the whole project again each time (seconds per run)
        start = incremental_start_date(context.run.tags, lookback)
        incremental = not INCREMENTAL_KEYS.isdisjoint(context.selected_asset_keys)
        loads_up_to = None
        if incremental:
            unbuilt, loads_up_to = unbuilt_loads(warehouse.file)
            start = window_start(start, unbuilt, lookback)
            context.log.info(f"incremental models rebuild from {start or 'their latest day'}"
                             f" (earliest export day loaded since their last build: {unbuilt})")
        with _environment(ENV_INCREMENTAL_START, start or ""):
            invocation = dbt.cli(build_args(dbt_vars), context=context)
            for event in invocation.stream():
                yield event
                if isinstance(event, dg.Output | dg.AssetMaterialization):
                    failpoint("dbt.after_model")  # a model built, dbt building the next
        if incremental:
            record_build(warehouse.file, context.run_id, loads_up_to)
        project_target = dbt_project.project_dir / dbt_project.target_path
        keep_partial_parse(invocation.target_path, project_target)
        prune_invocations(project_target, keep=KEEP_INVOCATIONS)


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``name=value`` in the environment for the dbt process started inside, then the
    previous value again: nothing leaks into later dbt invocations of this process."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR))
