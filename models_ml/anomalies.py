"""Anomalies: robust scores on the residuals of a seasonal decomposition (daily metrics)
and an isolation forest on each engaged user's recent week against their own baseline."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

SEASON = 7
#: STL seasonal smoother (odd, in periods): a weekly pattern that drifts slowly, so that a
#: one-day excursion stays in the residual instead of bending the seasonal component
SEASONAL_SMOOTHER = 29
MAD_SCALE = 1.4826  # MAD of a normal distribution = 0.6745 sigma


def robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD); zeros where the spread is zero."""
    x = np.asarray(x, dtype=float)
    med = np.nanmedian(x)
    mad = MAD_SCALE * np.nanmedian(np.abs(x - med))
    if not np.isfinite(mad) or mad == 0:
        # fall back to the mean absolute deviation (robust enough when most points are equal)
        mad = 1.2533 * np.nanmean(np.abs(x - med))
    if not np.isfinite(mad) or mad == 0:
        return np.zeros_like(x)
    return (x - med) / mad


def severity(score: np.ndarray, threshold: float) -> np.ndarray:
    """none below the threshold; low, medium, high at 1x, 1.5x, 2.5x the threshold."""
    a = np.abs(np.asarray(score, dtype=float))
    return np.select(
        [a >= 2.5 * threshold, a >= 1.5 * threshold, a >= threshold],
        ["high", "medium", "low"], default="none",
    )


def decompose(y: np.ndarray, season: int = SEASON) -> tuple[np.ndarray, np.ndarray]:
    """Expected value (trend + seasonal of a robust STL) and residuals of a daily series."""
    from statsmodels.tsa.seasonal import STL

    y = np.asarray(y, dtype=float)
    if len(y) < 2 * season + 1:
        med = np.full_like(y, np.nanmedian(y)) if len(y) else y
        return med, y - med
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = STL(y, period=season, seasonal=SEASONAL_SMOOTHER, robust=True).fit()
    expected = res.trend + res.seasonal
    return expected, y - expected


def series_anomalies(dates: pd.DatetimeIndex, y: np.ndarray, threshold: float,
                     season: int = SEASON) -> pd.DataFrame:
    """Per day: value, expected, robust score of the residual, direction and severity."""
    expected, resid = decompose(y, season)
    z = robust_z(resid)
    return pd.DataFrame({
        "date": pd.to_datetime(dates).date,
        "value": np.asarray(y, dtype=float),
        "expected": expected,
        "score": z,
        "direction": np.where(z >= 0, "up", "down"),
        "severity": severity(z, threshold),
    })


USER_BEHAVIOUR_COLUMNS = ("active_days_ratio", "events_ratio", "sessions_ratio",
                          "avg_session_ratio")


def user_behaviour_anomalies(frame: pd.DataFrame, contamination: float,
                             seed: int) -> pd.DataFrame:
    """Isolation forest on the ratios of the recent week to the user's weekly baseline.

    ``frame`` has per user: recent_* (last 7 days) and baseline_* (weekly means of the
    weeks before) of active_days, events, sessions, avg_session_minutes. Returns user_id,
    the ratios, the anomaly score (higher = more unusual), is_anomaly and direction (the
    recent week above or below the baseline in activity)."""
    out = frame[["user_id"]].copy()
    eps = 0.5
    for name, col in (("active_days_ratio", "active_days"), ("events_ratio", "events"),
                      ("sessions_ratio", "sessions"),
                      ("avg_session_ratio", "avg_session_minutes")):
        out[name] = np.log((frame[f"recent_{col}"] + eps) / (frame[f"baseline_{col}"] + eps))
    X = out[list(USER_BEHAVIOUR_COLUMNS)].to_numpy()
    if len(out) < 10:
        out["score"], out["is_anomaly"] = 0.0, False
    else:
        forest = IsolationForest(n_estimators=200, contamination=contamination,
                                 random_state=seed).fit(X)
        out["score"] = -forest.score_samples(X)
        out["is_anomaly"] = forest.predict(X) == -1
    out["direction"] = np.where(out["events_ratio"] >= 0, "up", "down")
    return out
