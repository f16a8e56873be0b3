"""The one place for settings: ``config/settings.yaml`` plus environment variables.

Paths come from environment variables (one variable per path, read by the Dagster
resources, the CLI and dbt's ``profiles.yml`` alike), with defaults under ``data/`` of
the current directory. Metric settings come from the YAML file and reach dbt as vars.

| variable | default | what |
|---|---|---|
| INSIGHTS_SETTINGS | <repo>/config/settings.yaml | the settings file |
| INSIGHTS_WAREHOUSE | data/warehouse.duckdb | the DuckDB warehouse (one writer at a time) |
| INSIGHTS_LANDING_DIR | data/landing | the landing folder of raw exports |
| DAGSTER_HOME | data/dagster_home | where Dagster records runs (the UI reads it) |
| INSIGHTS_REPORTS_DIR | data/reports | reports and the data-quality summary (HTML) |
| INSIGHTS_SERVING_DB | data/serving.duckdb | the read-only copy BI tools connect to |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "config" / "settings.yaml"

ENV_SETTINGS = "INSIGHTS_SETTINGS"
ENV_WAREHOUSE = "INSIGHTS_WAREHOUSE"
ENV_LANDING = "INSIGHTS_LANDING_DIR"
ENV_DAGSTER_HOME = "DAGSTER_HOME"
ENV_REPORTS = "INSIGHTS_REPORTS_DIR"
ENV_SERVING = "INSIGHTS_SERVING_DB"

PATH_DEFAULTS = {
    ENV_WAREHOUSE: Path("data") / "warehouse.duckdb",
    ENV_LANDING: Path("data") / "landing",
    ENV_DAGSTER_HOME: Path("data") / "dagster_home",
    ENV_REPORTS: Path("data") / "reports",
    ENV_SERVING: Path("data") / "serving.duckdb",
}


@dataclass(frozen=True)
class DuckDBSettings:
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None


@dataclass(frozen=True)
class IngestSettings:
    first_export_date: date = date(2025, 1, 1)
    future_tolerance_days: int = 1


@dataclass(frozen=True)
class DataQualitySettings:
    """Thresholds of the data-quality suites (data_quality/); see config/settings.yaml."""

    max_reject_rate: float = 0.05
    reject_rate_min_lines: int = 100
    volume_band_low: float = 0.5
    volume_band_high: float = 2.0
    volume_history_weeks: int = 4
    volume_min_history: int = 2
    volume_blocking: bool = False
    max_days_late: int = 7
    max_unknown_event_type_share: float = 0.01
    max_rows_per_batch: int = 1_000_000
    freshness_max_lag_days: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.max_reject_rate <= 1:
            raise ValueError("data_quality.max_reject_rate must be in [0, 1]")
        if not 0 < self.volume_band_low <= 1 <= self.volume_band_high:
            raise ValueError("data_quality.volume_band_low <= 1 <= volume_band_high, both > 0")
        if self.volume_history_weeks < 1 or self.volume_min_history < 1:
            raise ValueError("data_quality.volume_history_weeks and volume_min_history >= 1")
        if self.max_rows_per_batch < 1000:
            raise ValueError("data_quality.max_rows_per_batch must be at least 1000")


@dataclass(frozen=True)
class Settings:
    metrics: dict[str, Any] = field(default_factory=dict)
    ingest: IngestSettings = IngestSettings()
    duckdb: DuckDBSettings = DuckDBSettings()
    data_quality: DataQualitySettings = DataQualitySettings()
    ml: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)  # parsed by reports.config
    alerts: dict[str, Any] = field(default_factory=dict)  # parsed by alerts.config
    source: Path | None = None

    @property
    def reporting_timezone(self) -> str:
        return str(self.metrics.get("reporting_timezone", "UTC"))

    def dbt_vars(self) -> dict[str, Any]:
        """The vars every dbt invocation gets: the metric settings, flat."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.metrics.items()}


def parse_settings(raw: dict[str, Any], source: Path | None = None) -> Settings:
    """Settings from the parsed YAML document (pure; unit-tested)."""
    raw = raw or {}
    unknown = set(raw) - {"metrics", "ingest", "duckdb", "data_quality", "ml", "reports",
                          "alerts"}
    if unknown:
        raise ValueError(f"unknown settings sections {sorted(unknown)} in {source}")
    ingest_raw = dict(raw.get("ingest") or {})
    if "first_export_date" in ingest_raw and not isinstance(ingest_raw["first_export_date"], date):
        ingest_raw["first_export_date"] = date.fromisoformat(str(ingest_raw["first_export_date"]))
    return Settings(
        metrics=dict(raw.get("metrics") or {}),
        ingest=IngestSettings(**ingest_raw),
        duckdb=DuckDBSettings(**(raw.get("duckdb") or {})),
        data_quality=DataQualitySettings(**(raw.get("data_quality") or {})),
        ml=dict(raw.get("ml") or {}),
        reports=dict(raw.get("reports") or {}),
        alerts=dict(raw.get("alerts") or {}),
        source=source,
    )


def settings_path() -> Path:
    return Path(os.environ.get(ENV_SETTINGS) or DEFAULT_SETTINGS_FILE)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Settings:
    with path.open(encoding="utf-8") as fh:
        return parse_settings(yaml.safe_load(fh), path)


def load_settings() -> Settings:
    """The settings file in force (cached until the file changes)."""
    path = settings_path()
    return _load(path, path.stat().st_mtime_ns)


def env_path(name: str) -> Path:
    """An absolute path from its environment variable, or its default under ``data/``."""
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else PATH_DEFAULTS[name].resolve()


DUCKDB_ENV = {
    "threads": "INSIGHTS_DUCKDB_THREADS",
    "memory_limit": "INSIGHTS_DUCKDB_MEMORY_LIMIT",
    "temp_directory": "INSIGHTS_DUCKDB_TEMP_DIR",
}


def export_duckdb_env(limits: DuckDBSettings) -> None:
    """DuckDB limits of the settings file, for dbt's profiles.yml (which reads them)."""
    for attr, name in DUCKDB_ENV.items():
        value = getattr(limits, attr)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)


def export_path_defaults() -> None:
    """Put the resolved default paths into the environment, so subprocesses (dbt) and
    Dagster resources read the same files as this process."""
    for name in PATH_DEFAULTS:
        os.environ[name] = str(env_path(name))
