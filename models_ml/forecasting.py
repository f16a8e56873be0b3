"""Daily forecasts with weekly seasonality: ETS (statsmodels) against the seasonal naive.

Both methods give a point forecast with 80% and 95% intervals. A backtest holds out the
last ``backtest_days`` of the history, forecasts them from the rest and scores each
method by MASE (scaled by the in-sample seasonal naive error); the method with the lower
MASE is refit on the whole history and published.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from models_ml.metrics import mase

SEASON = 7
LEVELS = (0.80, 0.95)


@dataclass
class Forecast:
    method: str
    mean: np.ndarray
    lower: dict[float, np.ndarray]
    upper: dict[float, np.ndarray]


def seasonal_naive(y: np.ndarray, horizon: int, season: int = SEASON) -> Forecast:
    """Repeat the last season; intervals from the seasonal differences' spread, widening
    with the number of seasons ahead."""
    y = np.asarray(y, dtype=float)
    last = y[-season:]
    mean = np.array([last[i % season] for i in range(horizon)])
    diffs = y[season:] - y[:-season]
    sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    k = np.arange(horizon) // season + 1
    half = {lv: norm.ppf(0.5 + lv / 2) * sigma * np.sqrt(k) for lv in LEVELS}
    return Forecast("seasonal_naive", mean, {lv: mean - h for lv, h in half.items()},
                    {lv: mean + h for lv, h in half.items()})


def _fit_ets(y: np.ndarray, season: int) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True, seasonal="add",
                     seasonal_periods=season)
    return model.fit(disp=False, maxiter=200)


def ets(y: np.ndarray, horizon: int, season: int = SEASON) -> Forecast:
    """Additive-error ETS with a damped additive trend and additive weekly seasonality;
    intervals from the model's analytic prediction variance."""
    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = _fit_ets(y, season)
        pred = fit.get_prediction(start=len(y), end=len(y) + horizon - 1)
        mean = np.asarray(pred.predicted_mean, dtype=float)
        lower, upper = {}, {}
        for lv in LEVELS:
            frame = pred.summary_frame(alpha=1 - lv)
            lower[lv] = frame["pi_lower"].to_numpy(dtype=float)
            upper[lv] = frame["pi_upper"].to_numpy(dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError("ETS produced a non-finite forecast")
    return Forecast("ets", mean, lower, upper)


def ets_mean(y: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    """The point forecast of :func:`ets` alone (the same fit and numbers, without the
    prediction intervals a backtest does not score)."""
    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.asarray(_fit_ets(y, season).forecast(horizon), dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError("ETS produced a non-finite forecast")
    return mean


def seasonal_naive_mean(y: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    return seasonal_naive(y, horizon, season).mean


METHODS = {"ets": ets, "seasonal_naive": seasonal_naive}
#: the point forecast of each method, what the backtest scores
POINT_METHODS = {"ets": ets_mean, "seasonal_naive": seasonal_naive_mean}


def backtest(y: np.ndarray, holdout: int, season: int = SEASON) -> dict[str, float]:
    """MASE of each method forecasting the last ``holdout`` points from the rest."""
    y = np.asarray(y, dtype=float)
    hist, actual = y[:-holdout], y[-holdout:]
    out = {}
    for name, fn in POINT_METHODS.items():
        try:
            out[name] = mase(actual, fn(hist, holdout, season), hist, season)
        except Exception:  # a method that cannot fit this series loses the comparison
            out[name] = float("inf")
    return out


@dataclass
class SeriesResult:
    forecast: Forecast
    backtest_mase: dict[str, float]
    chosen: str


def forecast_series(y: np.ndarray, horizon: int, holdout: int, season: int = SEASON,
                    non_negative: bool = True) -> SeriesResult:
    """Backtest both methods, refit the better on the whole series, forecast ``horizon``."""
    scores = backtest(y, holdout, season)
    chosen = min(scores, key=lambda k: (scores[k], k != "seasonal_naive"))
    try:
        fc = METHODS[chosen](y, horizon, season)
    except Exception:
        chosen, fc = "seasonal_naive", seasonal_naive(y, horizon, season)
    if non_negative:
        fc = Forecast(fc.method, np.maximum(fc.mean, 0),
                      {k: np.maximum(v, 0) for k, v in fc.lower.items()},
                      {k: np.maximum(v, 0) for k, v in fc.upper.items()})
    return SeriesResult(fc, scores, chosen)


def complete_daily(frame: pd.DataFrame, date_col: str, value_col: str,
                   end: pd.Timestamp) -> pd.Series:
    """A daily series from the first date to ``end``, missing days as 0."""
    s = frame.set_index(pd.to_datetime(frame[date_col]))[value_col].astype(float)
    idx = pd.date_range(s.index.min(), end, freq="D")
    return s.reindex(idx, fill_value=0.0)
