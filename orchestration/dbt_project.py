"""The dbt project as Dagster sees it: the ``DbtProject``, its manifest (parsed under a
file lock when missing or stale) and the translator from dbt nodes to asset keys.

dbt sources ``raw.<table>`` map to the ingest assets' keys ``raw/<table>``; models are
keyed ``<schema>/<model>`` (staging, intermediate, marts); dbt data tests on models are
asset checks of their models.
"""

from __future__ import annotations

import contextvars
import fcntl
import json
import logging
import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from orchestration.dbt_args import parse_args
from orchestration.executables import dbt_executable
from orchestration.keys import dbt_key
from warehouse.settings import DBT_PROJECT_DIR, ENV_WAREHOUSE, load_settings

log = logging.getLogger(__name__)

# dbt invocation folders kept in dbt_project/target for debugging (~12 MB each)
KEEP_INVOCATIONS = 10

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    prepare_project_cli_args=parse_args(load_settings().dbt_vars()),
)


class _Preparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer, with dbt found beside this interpreter (its own looks on
    PATH only, which cron and systemd do not give the venv)."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            self._prepare_project_cli_args, target_path=project.target_path).wait()
        self._invalidate_seeds_in_partial_parse(project)


_preparer = _Preparer(prepare_project_cli_args=parse_args(load_settings().dbt_vars()))


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
            _preparer.prepare(project)
    return manifest


def dbt_connection_info(warehouse: Path,
                        project: DbtProject = dbt_project) -> list[tuple[str, Any]] | None:
    """dbt's connection info of the project's profile rendered for ``warehouse`` in this
    process's environment: the pairs a dbt started now would hash into its parse's state
    check (orchestration/dbt_target.py). None when dbt cannot render the profile here."""
    from dbt import flags
    from dbt.config.runtime import load_profile
    from dbt_common.context import set_invocation_context

    def render() -> list[tuple[str, Any]]:
        set_invocation_context({**os.environ, ENV_WAREHOUSE: str(warehouse)})
        flags.set_from_args(Namespace(profiles_dir=str(project.profiles_dir)), None)
        profile = load_profile(str(project.project_dir), {})
        return list(profile.credentials.connection_info())

    saved = flags.get_flags()
    try:  # in a copy of the context: the invocation context is dbt's, per invocation
        return contextvars.copy_context().run(render)
    except Exception as exc:  # any failure: dbt parses all, as before
        log.debug("dbt's profile could not be rendered for %s: %s", warehouse, exc)
        return None
    finally:
        flags.set_flags(saved)


class InsightsDbtTranslator(DagsterDbtTranslator):
    """Sources keep ``<source>/<table>`` (= the ingest assets); models get ``<schema>/<name>``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dbt_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get(
            "schema", "main"
        )
        return dbt_key(schema, dbt_resource_props["name"])

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


def incremental_keys(manifest_path: Path) -> frozenset[dg.AssetKey]:
    """The asset keys of the incremental models."""
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return frozenset(
        translator.get_asset_key(n) for n in nodes
        if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental"
    )
