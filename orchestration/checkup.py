"""``insights check``: everything a run needs, validated without running anything.

Each check returns :class:`Finding` rows (ok, warning or problem, one line each): the
settings (typed, every key and value), the landing folder (export days found, complete
or not, none before ``ingest.first_export_date``), the analysts' analysis files, and the
dbt project (``dbt parse`` into a scratch target folder: it compiles no SQL against the
warehouse and writes nothing into it).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ingest.landing import scan_landing
from orchestration.dbt_args import parse_args
from orchestration.executables import dbt_executable
from reports.custom import AnalysisError, load_analysis
from warehouse.settings import DBT_PROJECT_DIR, Settings, SettingsError, load_settings

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass(frozen=True)
class Finding:
    area: str
    status: str
    message: str


def check_settings() -> tuple[Settings | None, list[Finding]]:
    try:
        settings = load_settings()
    except SettingsError as exc:
        return None, [Finding("settings", PROBLEM, str(exc))]
    return settings, [Finding("settings", OK, f"{settings.source}: valid")]


def check_landing(settings: Settings) -> list[Finding]:
    root = settings.require_paths().landing
    if not root.is_dir():
        return [Finding("landing", PROBLEM, f"no landing folder at {root} "
                        "(set INSIGHTS_LANDING_DIR, or run `insights generate`)")]
    days = scan_landing(root)
    if not days:
        return [Finding("landing", PROBLEM, f"no export days in {root}")]
    complete = [d for d in days if d.complete]
    out = [Finding("landing", OK, f"{root}: {len(complete)} complete export day folders "
                   f"({min(d.export_date for d in days)} .. {max(d.export_date for d in days)})")]
    incomplete = len(days) - len(complete)
    if incomplete:
        out.append(Finding("landing", WARNING, f"{incomplete} export day folders without "
                           "_SUCCESS (not loaded until complete)"))
    first = settings.ingest.first_export_date
    early = sorted({d.export_date for d in days if d.export_date < first})
    if early:
        out.append(Finding("landing", PROBLEM, f"{len(early)} export days before "
                           f"ingest.first_export_date {first} (e.g. {early[0]}): they cannot "
                           "be loaded"))
    return out


def check_analyses(settings: Settings) -> list[Finding]:
    paths = settings.require_paths()
    folder = paths.analyses
    if not folder.is_dir():
        return [Finding("analyses", OK, f"no analyses folder at {folder}")]
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")
                   and not p.name.startswith("."))
    out: list[Finding] = []
    names: dict[str, Path] = {}
    for path in files:
        try:
            spec = load_analysis(path, paths.analyses_max_rows)
        except AnalysisError as exc:
            out.append(Finding("analyses", PROBLEM, str(exc)))
            continue
        if spec.name in names:
            out.append(Finding("analyses", PROBLEM, f"analysis file {path}: name "
                               f"{spec.name!r} is already used by {names[spec.name].name}"))
        names[spec.name] = path
    if not any(f.status == PROBLEM for f in out):
        out.append(Finding("analyses", OK, f"{len(files)} analysis files in {folder}: valid"))
    return out


def check_dbt_project(settings: Settings) -> list[Finding]:
    with tempfile.TemporaryDirectory(prefix="insights-check-") as scratch:
        cmd = [dbt_executable(), *parse_args(settings.dbt_vars()), "--project-dir",
               str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path",
               scratch, "--log-path", scratch]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [Finding("dbt", PROBLEM, f"dbt parse could not run: {exc}")]
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
        return [Finding("dbt", PROBLEM, f"dbt parse failed: {first}")]
    return [Finding("dbt", OK, f"{DBT_PROJECT_DIR}: parses with the settings' vars")]


def run_checks(*, dbt: bool = True) -> list[Finding]:
    """Every check; the later ones only when the settings load."""
    settings, findings = check_settings()
    if settings is None:
        return findings
    findings += check_landing(settings)
    findings += check_analyses(settings)
    if dbt:
        findings += check_dbt_project(settings)
    return findings
