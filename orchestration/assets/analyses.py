"""Custom analyses as Dagster assets: one asset ``analyses/<name>`` per ``*.yaml`` file
of the analyses folder (INSIGHTS_ANALYSES_DIR, default ``<repo>/analyses``), read when
the definitions load, plus one job and one schedule per schedule kind (daily at 09:00,
weekly on Monday at 09:00, in the reporting time zone).

Each asset runs its SQL on a read-only connection to the serving database (after the
publish: it depends on ``serving/database`` and on the marts/ml tables it names) and
writes ``<reports>/analyses/<name>/<as_of>.html`` and ``.csv``. A broken query fails that
asset alone with a dg.Failure naming the file and the DuckDB error.

A file that cannot be parsed or lacks fields never breaks loading the definitions: it
becomes an asset that fails with the file's problem when it runs (and says so in its
description), scheduled daily so the problem shows up in the runs, and a warning is
logged when the definitions load.
"""


import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from orchestration.keys import SERVING_KEY, analysis_key, table_key
from orchestration.resources import ReportsResource, ServingResource
from reports.custom import (
    SCHEDULES,
    AnalysisError,
    AnalysisSpec,
    QueryResult,
    load_analysis,
    run_query,
)
from reports.custom import write_analysis as write_analysis_files
from warehouse.settings import MetricsSettings, Settings, load_settings

log = logging.getLogger(__name__)

ANALYSES_GROUP = "analyses"
CRON = {"daily": "0 9 * * *", "weekly": "0 9 * * 1"}
BROKEN_SCHEDULE = "daily"


def analysis_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def as_of_date(metrics: MetricsSettings, serving: Path | None = None) -> date:
    """The data's as-of date: metrics.as_of_date when fixed, else the serving database's
    (``reports.content.as_of_date``: the last day of the marts), else today in the
    reporting time zone (no serving database yet)."""
    if metrics.as_of_date is not None:
        return metrics.as_of_date
    if serving is not None and serving.exists():
        from reports.content import as_of_date as data_as_of

        try:
            with duckdb.connect(str(serving), read_only=True) as con:
                found = data_as_of(con)
        except duckdb.Error as exc:
            log.warning("as-of date of %s not read (%s); using today", serving, exc)
            found = None
        if found is not None:
            return found
    return datetime.now(ZoneInfo(metrics.reporting_timezone)).date()


def run_analysis(spec: AnalysisSpec, serving: Path, reports_root: Path,
                 settings: Settings) -> tuple[QueryResult, date, Path, Path]:
    """Run one analysis now on the serving database and write its files, named by the
    data's as-of date; duckdb.Error or AnalysisError when the query or the files fail."""
    limits = settings.duckdb
    result = run_query(serving, spec.sql, max_rows=spec.max_rows, timeout_s=spec.timeout_s,
                       threads=limits.threads, memory_limit=limits.memory_limit)
    as_of = as_of_date(settings.metrics, serving)
    html_path, csv_path = write_analysis_files(spec, result, reports_root, as_of)
    return result, as_of, html_path, csv_path


def _asset_for(spec: AnalysisSpec) -> dg.AssetsDefinition:
    deps = [SERVING_KEY, *(table_key(t) for t in spec.tables)]
    description = (spec.description or f"Custom analysis {spec.name}") + (
        f" (file {spec.source.name}, {spec.schedule}; result in "
        f"<reports>/analyses/{spec.name}/)")

    @dg.asset(
        key=analysis_key(spec.name),
        deps=deps,
        group_name=ANALYSES_GROUP,
        kinds={"duckdb", "sql"},
        description=description,
        tags={"schedule": spec.schedule},
    )
    def _analysis(context: dg.AssetExecutionContext, serving: ServingResource,
                  reports: ReportsResource) -> dg.MaterializeResult:
        settings = load_settings()
        try:
            result, as_of, html_path, csv_path = run_analysis(
                spec, Path(serving.file), Path(reports.root), settings)
        except duckdb.Error as exc:
            raise dg.Failure(
                description=f"analysis file {spec.source}: the query failed: "
                f"{type(exc).__name__}: {exc}",
                metadata={"file": str(spec.source)},
            ) from exc
        except AnalysisError as exc:
            raise dg.Failure(description=str(exc), metadata={"file": str(spec.source)}) from exc
        if result.truncated:
            context.log.warning(f"analysis {spec.name}: result cut at {spec.max_rows} rows")
        return dg.MaterializeResult(metadata={
            "file": str(spec.source),
            "rows": len(result.rows),
            "truncated": result.truncated,
            "as_of": as_of.isoformat(),
            "html": dg.MetadataValue.path(str(html_path)),
            "csv": dg.MetadataValue.path(str(csv_path)),
        })

    return _analysis


def _broken_asset(name: str, source: Path, problem: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=analysis_key(name),
        deps=[SERVING_KEY],
        group_name=ANALYSES_GROUP,
        kinds={"duckdb", "sql"},
        description=f"BROKEN analysis file {source.name}: {problem}",
        tags={"schedule": BROKEN_SCHEDULE, "broken": "true"},
    )
    def _broken(context: dg.AssetExecutionContext) -> None:
        raise dg.Failure(description=problem, metadata={"file": str(source)})

    return _broken


def _safe_name(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", stem.lower()).strip("_") or "analysis"
    base = base if base[0].isalpha() else f"a_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


@dataclass(frozen=True)
class AnalysesDefinitions:
    assets: list[dg.AssetsDefinition]
    jobs: list[UnresolvedAssetJobDefinition]
    schedules: list[dg.ScheduleDefinition]
    by_schedule: dict[str, list[dg.AssetKey]]


def build_analyses(folder: Path | None = None, timezone: str | None = None
                   ) -> AnalysesDefinitions:
    """Assets, jobs and schedules of every analysis file in ``folder`` (default: the
    settings' analyses folder, INSIGHTS_ANALYSES_DIR)."""
    settings = load_settings()
    paths = settings.require_paths()
    folder = paths.analyses if folder is None else folder
    tz = timezone or settings.reporting_timezone
    assets: list[dg.AssetsDefinition] = []
    by_schedule: dict[str, list[dg.AssetKey]] = {kind: [] for kind in SCHEDULES}
    sources: dict[str, Path] = {}
    for path in analysis_files(folder):
        try:
            spec = load_analysis(path, paths.analyses_max_rows)
            if spec.name in sources:
                raise AnalysisError(f"analysis file {path}: name {spec.name!r} is already "
                                    f"used by {sources[spec.name].name}")
        except AnalysisError as exc:
            name = _safe_name(f"{path.stem}_broken" if path.stem in sources else path.stem,
                              set(sources))
            log.warning("custom analysis %s is broken (asset analyses/%s will fail): %s",
                        path, name, exc)
            sources[name] = path
            assets.append(_broken_asset(name, path, str(exc)))
            by_schedule[BROKEN_SCHEDULE].append(analysis_key(name))
            continue
        sources[spec.name] = path
        assets.append(_asset_for(spec))
        by_schedule[spec.schedule].append(analysis_key(spec.name))
    jobs: list[UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for kind in SCHEDULES:
        keys = by_schedule[kind]
        if not keys:
            continue
        job = dg.define_asset_job(
            f"analyses_{kind}_job",
            selection=dg.AssetSelection.assets(*keys),
            description=f"The {kind} custom analyses (files in {folder}).",
        )
        when = "every day at 09:00" if kind == "daily" else "every Monday at 09:00"
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(
            name=f"analyses_{kind}_schedule",
            job=job,
            cron_schedule=CRON[kind],
            execution_timezone=tz,
            description=f"Custom analyses, {when} ({tz}), on the published serving database.",
        ))
    return AnalysesDefinitions(assets, jobs, schedules, by_schedule)


_built = build_analyses()
analysis_assets = _built.assets
analysis_jobs = _built.jobs
analysis_schedules = _built.schedules
