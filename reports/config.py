"""The ``reports:`` section of config/settings.yaml, parsed into a frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ReportsConfig:
    per_creator: bool = True          # render a report per creator besides the overall one
    max_creators: int = 20            # at most this many creators (most active first)
    top_insights: int = 5             # insights shown per report
    engagement_days: int = 60         # days of DAU/WAU/MAU in the engagement chart
    retention_cohorts: int = 8        # most recent cohorts in the retention table
    top_intents: int = 10             # intents listed in the intent section
    anomaly_days: int = 14            # anomalies of this many days before the as-of date
    max_anomalies: int = 20
    forecast_days: int = 30           # forecast horizon shown
    max_failures: int = 20            # failed data-quality checks listed

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "per_creator" and (not isinstance(value, int) or value < 0):
                raise ValueError(f"reports.{f.name} must be a non-negative integer")

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ReportsConfig:
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown reports settings {sorted(unknown)}")
        if "per_creator" in raw:
            raw["per_creator"] = bool(raw["per_creator"])
        return cls(**raw)


def load_config() -> ReportsConfig:
    from orchestration.settings import load_settings

    return ReportsConfig.from_dict(load_settings().reports)
