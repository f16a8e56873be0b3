"""dbt models as Dagster assets, over one DbtProject, lineage joined to the raw assets.

dbt sources ``raw.<table>`` map to the ingest assets' keys ``raw/<table>``; models are
keyed ``<schema>/<model>`` (staging, intermediate, marts). dbt data tests become asset
checks.
"""



import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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

from orchestration.dbt_args import (
    ENV_INCREMENTAL_START,
    build_args,
    incremental_start_date,
    parse_args,
)
from orchestration.resources import WarehouseResource
from orchestration.settings import (
    DBT_PROJECT_DIR,
    ENV_WAREHOUSE,
    export_duckdb_env,
    load_settings,
)

log = logging.getLogger(__name__)

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


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when its manifest is missing or older than its sources."""
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        project.project_dir
    ):
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
        # the run's window goes by environment, not --vars: a var that changes every run
        # would make dbt parse the whole project again each time (seconds per run)
        start = incremental_start_date(
            context.run.tags, int(dbt_vars.get("incremental_lookback_days", 7))
        )
        with _environment(ENV_INCREMENTAL_START, start or ""):
            yield from dbt.cli(build_args(dbt_vars), context=context).stream()


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
