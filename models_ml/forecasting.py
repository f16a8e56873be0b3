"""Daily forecasts with weekly seasonality: ETS, Theta (statsmodels) and the seasonal naive.

Each series is backtested from several rolling origins: every candidate forecasts the
``holdout`` days after each origin from the history before it and is scored by MASE
(scaled by the in-sample seasonal naive error). The candidate with the lowest mean MASE
is refit on the whole history; a candidate that does not beat the seasonal naive is not
published (the seasonal naive is, with a ``fallback_reason``). Prediction intervals come
from the chosen candidate's own backtest errors (empirical quantiles of the h-step errors),
not from a model's analytic variance, which the issue found far too narrow on real data.

Point forecasts of the fitted candidates (ETS, Theta) can be passed in by their content
(:func:`fit_key`: the method, every value of the history it is fitted on, the horizon and
the fitting libraries' versions) and are returned with each result: a daily run's rolling
origins are those of the run seven days before, one step further back, on history that no
longer changes, so a stored fit is the very forecast the fit would make again
(models_ml/fit_store.py keeps them between runs).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from models_ml.metrics import mase

log = logging.getLogger(__name__)

SEASON = 7
LEVELS = (0.80, 0.95)
#: half-width (in steps) of the window of horizons whose errors calibrate one step
ERROR_WINDOW = 3
#: errors wanted behind each interval (the window widens when origins are few)
MIN_ERRORS = 40
#: series fitted in the calling process before worker processes pay off: a worker takes
#: ~1.5 s to start (Python, statsmodels), a series ~0.1-0.4 s to backtest
SERIES_BEFORE_WORKERS = 16


@dataclass
class Forecast:
    method: str
    mean: np.ndarray
    lower: dict[float, np.ndarray]
    upper: dict[float, np.ndarray]


def seasonal_naive_mean(y: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    """Repeat the last season."""
    last = np.asarray(y, dtype=float)[-season:]
    return np.array([last[i % season] for i in range(horizon)])


def seasonal_naive(y: np.ndarray, horizon: int, season: int = SEASON) -> Forecast:
    """Repeat the last season; intervals from the seasonal differences' spread, widening
    with the number of seasons ahead (used only when no backtest is possible)."""
    y = np.asarray(y, dtype=float)
    mean = seasonal_naive_mean(y, horizon, season)
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


def ets_mean(y: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    """Additive-error ETS with a damped additive trend and additive weekly seasonality."""
    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.asarray(_fit_ets(y, season).forecast(horizon), dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError("ETS produced a non-finite forecast")
    return mean


def theta_mean(y: np.ndarray, horizon: int, season: int = SEASON) -> np.ndarray:
    """The standard Theta method (Assimakopoulos & Nikolopoulos 2000, statsmodels'
    ThetaModel) with multiplicative weekly deseasonalisation when the series is positive,
    additive otherwise."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = np.asarray(y, dtype=float)
    method = "multiplicative" if np.all(y > 0) else "additive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ThetaModel(y, period=season, deseasonalize=True, method=method).fit()
        mean = np.asarray(fit.forecast(horizon), dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError("Theta produced a non-finite forecast")
    return mean


PointMethod = Callable[[np.ndarray, int, int], np.ndarray]
#: the point forecast of each candidate, what the backtest scores
POINT_METHODS: dict[str, PointMethod] = {
    "ets": ets_mean, "theta": theta_mean, "seasonal_naive": seasonal_naive_mean}
METHODS = tuple(POINT_METHODS)
#: the candidates whose point forecasts are worth keeping between runs (a fit: tens of
#: milliseconds; the seasonal naive repeats a week)
FITTED = ("ets", "theta")
#: part of every fit key: a change of what a fit computes (the model's settings above)
#: must change it, so that no stored forecast of the old fit is reused
FIT_KEY_VERSION = "1"


@cache
def _fit_libraries() -> str:
    return "|".join(f"{name}={version(name)}" for name in ("numpy", "scipy", "statsmodels"))


def fit_key(method: str, history: np.ndarray, horizon: int, season: int = SEASON) -> str:
    """The content key of a candidate's point forecast: the method, the horizon and season,
    every value of the history (as float64 bytes) and the versions of the libraries that
    fit it. Equal keys mean the fit would return the same forecast."""
    digest = hashlib.sha256(
        f"{FIT_KEY_VERSION}|{_fit_libraries()}|{method}|{horizon}|{season}|".encode())
    digest.update(np.ascontiguousarray(history, dtype=float).tobytes())
    return digest.hexdigest()


class _Fits:
    """Point forecasts of one series' fits: those passed in (``known``, by fit key) are
    reused, the others computed; ``used`` holds every one this series needed."""

    def __init__(self, known: Mapping[str, np.ndarray] | None) -> None:
        self.known = known or {}
        self.used: dict[str, np.ndarray] = {}
        self.reused = 0

    def point(self, method: str, history: np.ndarray, horizon: int, season: int) -> np.ndarray:
        if method not in FITTED:
            return POINT_METHODS[method](history, horizon, season)
        key = fit_key(method, history, horizon, season)
        if key in self.used:
            return self.used[key]
        if key in self.known:
            self.reused += 1
            mean = np.asarray(self.known[key], dtype=float)
        else:
            mean = POINT_METHODS[method](history, horizon, season)
        self.used[key] = mean
        return mean


@dataclass
class Backtest:
    """Rolling-origin backtest: mean MASE and the h-step errors (origins x holdout) of
    each candidate that could fit every origin."""
    mase: dict[str, float]
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    origins: int = 0


def origins_that_fit(n: int, holdout: int, min_train: int, max_origins: int,
                     step: int = SEASON) -> int:
    """How many rolling origins (``step`` days apart, the last ``holdout`` days before the
    end) leave at least ``min_train`` days of history before the earliest one."""
    room = n - holdout - min_train
    return 0 if room < 0 else min(max_origins, room // step + 1)


def rolling_backtest(y: np.ndarray, holdout: int, origins: int, step: int = SEASON,
                     season: int = SEASON,
                     methods: Sequence[str] = METHODS, fits: _Fits | None = None) -> Backtest:
    """Forecast ``holdout`` days from each of ``origins`` rolling origins (the latest ends
    the series); MASE per origin averaged, errors (actual - forecast) kept per step.
    ``fits``: the point forecasts known already (by fit key), used instead of a fit."""
    y = np.asarray(y, dtype=float)
    fits = fits or _Fits(None)
    scores: dict[str, float] = {}
    errors: dict[str, np.ndarray] = {}
    for name in methods:
        per_origin, errs = [], []
        try:
            for k in range(origins):
                cut = len(y) - holdout - k * step
                hist, actual = y[:cut], y[cut:cut + holdout]
                f = fits.point(name, hist, holdout, season)
                per_origin.append(mase(actual, f, hist, season))
                errs.append(actual - f)
        except Exception:  # a candidate that cannot fit this series loses the comparison
            scores[name] = float("inf")
            continue
        scores[name] = float(np.mean(per_origin)) if per_origin else float("nan")
        errors[name] = np.vstack(errs) if errs else np.empty((0, holdout))
    return Backtest(scores, errors, origins)


def empirical_intervals(mean: np.ndarray, errors: np.ndarray,
                        levels: Sequence[float] = LEVELS,
                        window: int = ERROR_WINDOW) -> tuple[dict[float, np.ndarray],
                                                             dict[float, np.ndarray]]:
    """Intervals from backtest errors (origins x steps): step h uses the empirical
    quantiles of the errors at steps h-window..h+window (window widened to pool at least
    MIN_ERRORS errors); beyond the backtested steps,
    the last ``2*window+1`` steps' errors scaled by sqrt(h / last step). The quantiles
    take the finite-sample (split-conformal) correction, so few origins do not give
    intervals narrower than nominal."""
    mean = np.asarray(mean, dtype=float)
    errors = np.asarray(errors, dtype=float)
    steps = errors.shape[1]
    # few origins: pool more horizons so a 95% quantile rests on MIN_ERRORS errors
    window = max(window, int(np.ceil(MIN_ERRORS / max(1, errors.shape[0]) / 2)))
    lower = {lv: np.empty_like(mean) for lv in levels}
    upper = {lv: np.empty_like(mean) for lv in levels}
    for h in range(len(mean)):
        if h < steps:
            e = errors[:, max(0, h - window):min(steps, h + window + 1)].ravel()
            scale = 1.0
        else:
            e = errors[:, max(0, steps - 2 * window - 1):].ravel()
            scale = float(np.sqrt((h + 1) / steps))
        n = len(e)
        for lv in levels:
            # the split-conformal finite-sample correction: quantile (n+1)/n further out
            tail = min(1.0, (1 + lv) / 2 * (n + 1) / n)
            lo, hi = np.quantile(e, [1 - tail, tail])
            lower[lv][h] = mean[h] + scale * lo
            upper[lv][h] = mean[h] + scale * hi
    # the point forecast stays inside its intervals even when the backtest errors are
    # one-sided (a biased method): widening only, so coverage cannot drop
    for lv in levels:
        lower[lv] = np.minimum(lower[lv], mean)
        upper[lv] = np.maximum(upper[lv], mean)
    for inner, outer in pairwise(sorted(levels)):
        lower[outer] = np.minimum(lower[outer], lower[inner])
        upper[outer] = np.maximum(upper[outer], upper[inner])
    return lower, upper


def held_out_coverage(errors: np.ndarray, levels: Sequence[float] = LEVELS,
                      window: int = ERROR_WINDOW) -> dict[float, float]:
    """Leave-one-origin-out coverage of the empirical intervals: each origin's errors
    against intervals calibrated on the other origins' errors (NaN with one origin)."""
    errors = np.asarray(errors, dtype=float)
    k, steps = errors.shape if errors.ndim == 2 else (0, 0)
    if k < 2:
        return {lv: float("nan") for lv in levels}
    inside: dict[float, list[np.ndarray]] = {lv: [] for lv in levels}
    for i in range(k):
        lower, upper = empirical_intervals(np.zeros(steps), np.delete(errors, i, axis=0),
                                           levels, window)
        for lv in levels:
            inside[lv].append((errors[i] >= lower[lv]) & (errors[i] <= upper[lv]))
    return {lv: float(np.mean(np.concatenate(v))) for lv, v in inside.items()}


@dataclass
class SeriesResult:
    forecast: Forecast
    backtest_mase: dict[str, float]
    chosen: str
    #: the best candidate by backtest MASE (may differ from ``chosen`` after a fallback)
    best: str
    #: why the seasonal naive was published instead of a model ('' when it was not)
    fallback_reason: str
    origins: int
    #: leave-one-origin-out coverage of the published intervals per level
    coverage: dict[float, float] = field(default_factory=dict)
    #: the point forecasts of the fits this series needed, by fit key (to keep for later
    #: runs), and how many of them were passed in rather than fitted
    fits: dict[str, np.ndarray] = field(default_factory=dict)
    fits_reused: int = 0


def _clip(fc: Forecast) -> Forecast:
    return Forecast(fc.method, np.maximum(fc.mean, 0),
                    {k: np.maximum(v, 0) for k, v in fc.lower.items()},
                    {k: np.maximum(v, 0) for k, v in fc.upper.items()})


def forecast_series(y: np.ndarray, horizon: int, holdout: int, season: int = SEASON,
                    non_negative: bool = True, max_origins: int = 4,
                    min_train: int = 4 * SEASON,
                    methods: Sequence[str] = METHODS,
                    fits: Mapping[str, np.ndarray] | None = None) -> SeriesResult:
    """Backtest the candidates from rolling origins, refit the best on the whole series
    (the seasonal naive unless a model beats it), forecast ``horizon`` days with
    intervals calibrated on the chosen method's backtest errors. ``fits``: point forecasts
    known by fit key (:func:`fit_key`), used instead of fitting again; the result holds
    every one it needed."""
    y = np.asarray(y, dtype=float)
    known = _Fits(fits)
    origins = origins_that_fit(len(y), holdout, min_train, max_origins) if holdout else 0
    if origins == 0:
        fc = seasonal_naive(y, horizon, season)
        return SeriesResult(_clip(fc) if non_negative else fc, {}, "seasonal_naive",
                            "seasonal_naive", "history too short for a backtest", 0)
    if "seasonal_naive" not in methods:
        methods = (*methods, "seasonal_naive")
    bt = rolling_backtest(y, holdout, origins, SEASON, season, methods, known)
    finite = {k: v for k, v in bt.mase.items() if np.isfinite(v)}
    best = min(finite, key=lambda k: (finite[k], k != "seasonal_naive")) if finite \
        else "seasonal_naive"
    chosen, reason = best, ""
    naive = bt.mase.get("seasonal_naive", float("nan"))
    if best != "seasonal_naive" and not finite[best] < naive:
        chosen, reason = "seasonal_naive", "no model beat the seasonal naive in the backtest"
    elif best == "seasonal_naive" and len(methods) > 1:
        reason = "no model beat the seasonal naive in the backtest"
    try:
        mean = known.point(chosen, y, horizon, season)
    except Exception:
        chosen, reason = "seasonal_naive", f"{chosen} failed to fit the whole history"
        mean = seasonal_naive_mean(y, horizon, season)
    lower, upper = empirical_intervals(mean, bt.errors[chosen])
    fc = Forecast(chosen, mean, lower, upper)
    return SeriesResult(_clip(fc) if non_negative else fc, bt.mase, chosen, best, reason,
                        origins, held_out_coverage(bt.errors[chosen]), known.used,
                        known.reused)


#: the known point forecasts in a worker process of :func:`forecast_many` (its initializer)
_worker_fits: Mapping[str, np.ndarray] = {}


def _init_worker(fits: Mapping[str, np.ndarray]) -> None:
    global _worker_fits
    _worker_fits = fits


def _forecast_one(job: tuple[np.ndarray, int, int, dict[str, Any]]) -> SeriesResult:
    """One series of :func:`forecast_many` in a worker: one BLAS/OpenMP thread, as the
    calling step has (ml.threads), so the results are the same floats."""
    from threadpoolctl import threadpool_limits

    y, horizon, holdout, kwargs = job
    with threadpool_limits(limits=1):
        return forecast_series(y, horizon, holdout, fits=_worker_fits, **kwargs)


def forecast_many(series: Sequence[np.ndarray], horizon: int, holdout: int, *,
                  workers: int = 1, fits: Mapping[str, np.ndarray] | None = None,
                  **kwargs: Any) -> list[SeriesResult]:
    """:func:`forecast_series` of each series, in order. With ``workers`` > 1 and more
    than :data:`SERIES_BEFORE_WORKERS` series, the series are fitted side by side in that
    many fresh processes (spawned: the caller may hold a DuckDB connection and threads);
    each series' fit is independent and deterministic, so the results are identical.
    ``fits``: point forecasts known by fit key, handed to each process once."""
    fits = fits or {}
    jobs = [(np.asarray(y, dtype=float), horizon, holdout, kwargs) for y in series]
    if workers > 1 and len(jobs) > SERIES_BEFORE_WORKERS:
        n = min(workers, len(jobs))
        try:
            with ProcessPoolExecutor(max_workers=n,
                                     mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(fits,)) as pool:
                out = list(pool.map(_forecast_one, jobs,
                                    chunksize=max(1, len(jobs) // (4 * n))))
            log.info("forecast %d series in %d processes", len(jobs), n)
            return out
        except BrokenProcessPool as exc:
            # a spawned process re-imports the caller's __main__: not possible from an
            # interactive session or stdin; the same fits then run here
            log.warning("forecast worker processes failed to start (%s); fitting the %d "
                        "series in this process", exc, len(jobs))
    return [forecast_series(y, horizon, holdout, fits=fits, **kwargs) for y, *_ in jobs]


def complete_daily(frame: pd.DataFrame, date_col: str, value_col: str,
                   end: pd.Timestamp) -> pd.Series:
    """A daily series from the first date to ``end``, missing days as 0."""
    s = frame.set_index(pd.to_datetime(frame[date_col]))[value_col].astype(float)
    idx = pd.date_range(s.index.min(), end, freq="D")
    return s.reindex(idx, fill_value=0.0)
