"""Lifetime value: revenue of a paying user in one currency over the next horizon.

The label window is the configured horizon (90 days) or, when the data is shorter, the
longest window that still leaves training snapshots; predictions are scaled to the
horizon by days (and the registry records the label window used). Baseline: the user's
run rate so far (net revenue to date / days since signup, at least one window) times
the window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

LTV_FEATURES = ("revenue_to_date", "charges_in_currency", "days_since_first_charge",
                "days_since_last_charge", "refunds_in_currency", "active_days_28",
                "events_28", "sessions_28", "days_since_last_active", "tenure_days",
                "goals_completed", "plan_pro", "plan_team")


def run_rate(frame: pd.DataFrame, window_days: int) -> np.ndarray:
    """Net revenue to date per day of tenure (at least one window), times the window."""
    days = np.maximum(frame["tenure_days"].to_numpy(dtype=float), float(window_days))
    return np.maximum(frame["revenue_to_date"].to_numpy(dtype=float), 0) / days * window_days


def regressor(seed: int, n_estimators: int, learning_rate: float,
              max_depth: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="squared_error", max_iter=n_estimators, learning_rate=learning_rate,
        max_depth=max_depth, early_stopping=False, random_state=seed,
    )


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if len(y) == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "rows": 0}
    total = float(y.sum())
    return {
        "mae": float(np.mean(np.abs(y - pred))),
        "rmse": float(np.sqrt(np.mean((y - pred) ** 2))),
        "total_actual": total,
        "total_predicted": float(pred.sum()),
        "rows": len(y),
    }
