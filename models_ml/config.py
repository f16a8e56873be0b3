"""The ``ml:`` section of config/settings.yaml as a typed object (defaults documented there)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class MLConfig:
    seed: int = 42
    threads: int = 1
    churn_horizon_days: int = 14
    churn_population_days: int = 28
    snapshot_every_days: int = 7
    min_history_days: int = 14
    test_snapshots: int = 1
    goal_success_window_days: int = 21
    risk_band_medium: float = 0.3
    risk_band_high: float = 0.6
    n_estimators: int = 150
    learning_rate: float = 0.05
    max_depth: int = 3
    calibration_folds: int = 3
    top_features: int = 3
    min_auc_margin: float = 0.0
    forecast_horizon_days: int = 30
    forecast_backtest_days: int = 14
    forecast_min_history_days: int = 28
    ltv_horizon_days: int = 90
    anomaly_threshold: float = 3.5
    anomaly_lookback_days: int = 90
    anomaly_min_volume: float = 30.0
    user_anomaly_min_active_days: int = 5
    user_anomaly_contamination: float = 0.05
    segments_k_min: int = 2
    segments_k_max: int = 6
    experiment_alpha: float = 0.05
    experiment_power: float = 0.8
    experiment_windows_days: tuple[int, ...] = (7, 14)
    bkt_min_attempts: int = 200
    bkt_em_iterations: int = 60
    retention_days: int = 30
    drivers_repeats: int = 5
    retrain_every_days: int = 7
    insights_min_significance: float = 0.9
    insights_max_per_creator: int = 10
    insights_recent_days: int = 7
    insights_pattern_weeks: int = 8

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> MLConfig:
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown ml settings {sorted(unknown)}")
        if "experiment_windows_days" in raw:
            raw["experiment_windows_days"] = tuple(int(x) for x in raw["experiment_windows_days"])
        return cls(**raw)

    def as_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
