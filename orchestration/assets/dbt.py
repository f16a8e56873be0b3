"""The dbt models as one Dagster multi-asset over the project of
:mod:`orchestration.dbt_project`: ``dbt build`` of the selected models and their tests,
with the incremental window of the run, after fitting ``ml.bkt_params`` (the one ml table
a dbt model reads) from the raw layer."""

import importlib.metadata
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test
from packaging import version

from data_quality.checks import BlockingFailure, revalidate_ml_table
from ingest.state import record_build, unbuilt_loads
from models_ml import pipeline
from orchestration.batched_tests import batched_tests, exclude_args, run_batched
from orchestration.dbt_args import (
    build_args,
    incremental_start_date,
    window_start,
)
from orchestration.dbt_project import (
    KEEP_INVOCATIONS,
    dbt_connection_info,
    dbt_project,
    ensure_manifest,
    incremental_keys,
    translator,
)
from orchestration.dbt_target import (
    adopt_partial_parse,
    keep_partial_parse,
    prune_invocations,
    seed_partial_parse,
)
from orchestration.keys import BKT_PARAMS_KEY, dbt_key
from orchestration.resources import WarehouseResource
from warehouse.db import connect, connect_with
from warehouse.failpoints import failpoint
from warehouse.settings import (
    DBT_PROJECT_DIR,
    ENV_INCREMENTAL_START,
    ENV_WAREHOUSE,
    Settings,
    export_duckdb_env,
    load_settings,
)

INCREMENTAL_KEYS = incremental_keys(ensure_manifest())


# the dbt model that reads ml.bkt_params: when it is built, the parameters are fitted first
BKT_READER = dbt_key("intermediate", "int_bkt_params")


def _read_state(warehouse: Path, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(con, *args)`` on a short connection (the caller holds the writer lock)."""
    if not warehouse.exists():
        return None
    con = connect(warehouse)
    try:
        return fn(con, *args)
    finally:
        con.close()


def fit_bkt_params(con: Any, settings: Settings, run_id: str) -> dict[str, Any]:
    """ml.bkt_params, fitted from the raw layer's exercise attempts before dbt reads it
    (int_bkt_params), then validated like every published ml table: the one ml table dbt
    reads is written by the dbt step itself, so the flow stays raw -> dbt -> ml and dbt
    builds in one step."""
    with pipeline.compute_threads(settings.ml.threads):
        summary = pipeline.fit_bkt_params(con, settings.ml, settings.metrics.bkt_defaults())
    failpoint("dbt.bkt_params.written")
    try:
        revalidate_ml_table(con, "bkt_params", run_id)
    except BlockingFailure as exc:
        raise dg.Failure(description=str(exc)) from None
    return summary


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
    # A selection of some models (a subset materialized from the UI, say) runs only the
    # tests whose parents are all selected or already built (dbt's default, eager, would
    # run e.g. a relationships test with one parent not built yet).
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    settings = load_settings()
    export_duckdb_env(settings.duckdb)
    with warehouse.write_lock(holder=f"run {context.run_id} (dbt)"):
        dbt_vars = settings.dbt_vars()
        lookback = settings.metrics.incremental_lookback_days
        # the run's window goes by environment, not --vars: a var that changes every run
        # would make dbt parse the whole project again each time (seconds per run)
        start = incremental_start_date(context.run.tags, lookback)
        incremental = not INCREMENTAL_KEYS.isdisjoint(context.selected_asset_keys)
        loads_up_to = None
        if BKT_READER in context.selected_asset_keys:
            fitted = _read_state(warehouse.file, fit_bkt_params, settings, context.run_id)
            context.log.info(f"ml.bkt_params fitted before the build: {fitted}")
        if incremental:
            unbuilt, loads_up_to = _read_state(warehouse.file, unbuilt_loads) or (None, None)
            start = window_start(start, unbuilt, lookback)
            context.log.info(f"incremental models rebuild from {start or 'their latest day'}"
                             f" (earliest export day loaded since their last build: {unbuilt})")
        project_target = dbt_project.project_dir / dbt_project.target_path
        target = project_target / f"dbt_models-{context.run_id[:7]}-{uuid.uuid4().hex[:7]}"
        if not seed_partial_parse(target, project_target, warehouse.file):
            adopt_partial_parse(target, project_target, warehouse.file, dbt_connection_info)
        with _environment(ENV_INCREMENTAL_START, start or ""):
            invocation = dbt.cli([*build_args(dbt_vars), *exclude_args()], context=context,
                                 target_path=target)
            for event in invocation.stream():
                yield event
                if isinstance(event, dg.Output | dg.AssetMaterialization):
                    failpoint("dbt.after_model")  # a model built, dbt building the next
        yield from _batched_checks(context, invocation, warehouse.file, settings)
        if incremental:
            _read_state(warehouse.file, record_build, context.run_id, loads_up_to)
        keep_partial_parse(invocation.target_path, project_target, warehouse.file)
        prune_invocations(project_target, keep=KEEP_INVOCATIONS)


def _batched_checks(context: dg.AssetExecutionContext, invocation: Any,
                    warehouse_file: Path, settings: Settings) -> Iterator[dg.AssetCheckResult]:
    """The batched tests (orchestration/batched_tests.py) of the models this run built, as
    the asset checks dagster-dbt would have reported; a failed ``error`` test fails the
    step after every result is reported, as a failed dbt test fails ``dbt build``."""
    manifest = json.loads((Path(invocation.target_path) / "manifest.json").read_text())
    selected = context.selected_asset_check_keys
    keys = {}
    tests = []
    for test in batched_tests(manifest):
        key = get_asset_check_key_for_test(manifest, translator, test.unique_id, dbt_project)
        if key is not None and key in selected:
            keys[test.unique_id] = key
            tests.append(test)
    if not tests:
        return
    # read-write, as every connection of this process to the warehouse (DuckDB refuses a
    # second configuration of an open file); the step holds the writer lock
    con = connect_with(warehouse_file, settings.duckdb)
    try:
        outcomes = run_batched(lambda sql: con.execute(sql).fetchall(), tests)
    finally:
        con.close()
    for o in outcomes:
        yield dg.AssetCheckResult(
            asset_key=keys[o.test.unique_id].asset_key,
            check_name=keys[o.test.unique_id].name,
            passed=o.passed,
            severity=(dg.AssetCheckSeverity.WARN if o.test.severity == "warn"
                      else dg.AssetCheckSeverity.ERROR),
            metadata={"unique_id": o.test.unique_id, "batched": True,
                      "failures": -1 if o.failures is None else o.failures,
                      **({"error": o.error} if o.error else {})},
        )
    failed = [o for o in outcomes if o.fails_the_build]
    context.log.info(f"{len(outcomes)} dbt tests counted in {len({t.model_id for t in tests})}"
                     f" model queries: {len(failed)} failed")
    if failed:
        raise dg.Failure(description="dbt tests failed: " + "; ".join(
            f"{o.test.unique_id.split('.')[2]} ({o.error or f'{o.failures} failing rows'})"
            for o in failed[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else ""))


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


bkt_params_spec = dg.AssetSpec(
    BKT_PARAMS_KEY,
    group_name="ml",
    kinds={"python", "duckdb"},
    description="ml.bkt_params: BKT parameters fitted by EM per topic with enough attempts, "
    "from the exercise attempts of raw.events; written by the dbt step before it builds "
    "(int_bkt_params reads it; topic_mastery keeps the defaults for other topics).",
)


class InsightsDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, except for two start-up costs of every invocation:

    - the version of a dbt installed beside this interpreter is read from its package's
      metadata: dagster-dbt runs ``dbt --version`` for it on every run (a second Python
      start-up importing dbt, ~2 s CPU);
    - no dbt adapter is opened in this process (dagster-dbt loads the profile and project
      and registers the adapter: ~1.7 s on each run's first invocation). It serves only
      ``fetch_row_counts`` and ``fetch_column_metadata`` on the event stream, which these
      assets do not call; the dbt process opens its own.
    """

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            try:
                return version.parse(importlib.metadata.version("dbt-core"))
            except importlib.metadata.PackageNotFoundError:
                pass
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]


def dbt_resource() -> DbtCliResource:
    """dbt beside this interpreter, else on PATH: `insights` started by its full path
    (cron, systemd, pipx) has no venv on PATH, and dagster-dbt looks only there."""
    from orchestration.executables import dbt_executable

    return InsightsDbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                                  dbt_executable=dbt_executable())
