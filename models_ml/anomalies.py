"""Anomalies: robust scores on the residuals of a seasonal decomposition by running
medians (daily metrics) and an isolation forest on each engaged user's recent week against
their own baseline.

A day's score is its residual (value - expected, :func:`decompose`) over the series'
noise: the robust spread of its differences a week apart (:func:`noise`), never below a
floor (a share of the series' typical level; for rates with a volume the binomial spread).
Counts (purchases, DAU, sessions) are scored by their tail probability instead
(:func:`count_scores`): a negative binomial around the expected value whose
over-dispersion is estimated from the same noise (Poisson when the series is no noisier
than Poisson), turned into the normal quantile of the same tail, so a count's score reads
on the same scale as the others' (a z-like score misreads a count's skewed tails: a
spike of a small count looks rarer than it is, a deep drop less rare). A residual within a
tolerance of zero scores 0, so a constant series has no anomaly. The last days (the as-of
date) are expected from the days before them, by medians they cannot bend. Severity grows
with the score; a drop of at least half the expected value whose score passes the
threshold is at least medium.
The false-positive rate on clean series is measured by
``bench/anomaly_false_positives.py`` (docs/alerts_and_analyses.md states it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import IsolationForest

SEASON = 7
MAD_SCALE = 1.4826  # MAD of a normal distribution = 0.6745 sigma
#: the noise is at least this share of the series' median absolute level
REL_SPREAD_FLOOR = 0.02
#: a residual within this share of |expected| (at least 1e-9) is no departure at all
TOLERANCE = 1e-6
#: an excursion of at least this share of the expected value is at least medium
MATERIAL_CHANGE = 0.5
#: ... when its score passes this share of the threshold
MATERIAL_SCORE = 1.0
SEVERITY_STEPS = (1.0, 1.5, 2.5)  # low, medium, high at these multiples of the threshold
#: a count's expected value is at least this (a day expected to have none is judged as
#: one expected to have one)
MIN_EXPECTED_COUNT = 1.0
#: scores are capped here (a tail probability below float precision)
MAX_SCORE = 40.0


def robust_z(x: np.ndarray, floor: float | np.ndarray = 0.0) -> np.ndarray:
    """(x - median) / max(1.4826 MAD, floor); zeros where that spread is zero."""
    x = np.asarray(x, dtype=float)
    med = np.nanmedian(x)
    mad = MAD_SCALE * np.nanmedian(np.abs(x - med))
    scale = np.maximum(mad if np.isfinite(mad) else 0.0, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, (x - med) / scale, 0.0)
    return np.nan_to_num(z)


def noise_floor(expected: np.ndarray, level: float, unit: str = "value",
                volume: np.ndarray | None = None) -> np.ndarray:
    """The least noise a day of the series can have: REL_SPREAD_FLOOR x ``level`` (the
    series' median |value|), and sqrt(expected) for counts, sqrt(p(1 - p) / volume) for
    rates with a volume."""
    e = np.asarray(expected, dtype=float)
    floor = np.full_like(e, REL_SPREAD_FLOOR * abs(level))
    if unit == "count":
        floor = np.maximum(floor, np.sqrt(np.clip(e, MIN_EXPECTED_COUNT, None)))
    elif unit == "rate" and volume is not None:
        p = np.clip(e, 0.0, 1.0)
        n = np.clip(np.asarray(volume, dtype=float), 1.0, None)
        floor = np.maximum(floor, np.sqrt(p * (1 - p) / n))
    return floor


def dispersion(noise_sd: float, typical: float) -> float:
    """Over-dispersion phi of a count series (variance = mu + phi mu^2) from its noise
    (standard deviation ``noise_sd`` at its typical expected value ``typical``); 0
    (Poisson) when the noise is no larger than Poisson's."""
    if typical <= 0 or not np.isfinite(noise_sd):
        return 0.0
    return max(0.0, (noise_sd**2 - typical) / typical**2)


def count_scores(y: np.ndarray, expected: np.ndarray, phi: np.ndarray | float) -> np.ndarray:
    """Signed normal quantiles of the tail probabilities of counts ``y`` under a negative
    binomial of mean ``expected`` and over-dispersion ``phi`` (Poisson where phi is 0): a
    value below the mean scores -isf(P(X <= y)), above it isf(P(X >= y)); 0 when that tail
    holds at least half the mass (the value is typical)."""
    y = np.asarray(y, dtype=float)
    mu = np.clip(np.asarray(expected, dtype=float), MIN_EXPECTED_COUNT, None)
    phi = np.broadcast_to(np.asarray(phi, dtype=float), y.shape)
    lo_k, hi_k = np.floor(y), np.ceil(y) - 1
    nb = phi > 1e-12
    lower, upper = np.ones_like(y), np.ones_like(y)
    pois = ~nb
    lower[pois] = stats.poisson.cdf(lo_k[pois], mu[pois])
    upper[pois] = stats.poisson.sf(hi_k[pois], mu[pois])
    if nb.any():
        n = 1.0 / phi[nb]
        p = n / (n + mu[nb])
        lower[nb] = stats.nbinom.cdf(lo_k[nb], n, p)
        upper[nb] = stats.nbinom.sf(hi_k[nb], n, p)
    down = y < mu
    tail = np.where(down, lower, upper)
    with np.errstate(divide="ignore"):
        z = np.where(tail < 0.5, stats.norm.isf(np.clip(tail, 1e-300, 0.5)), 0.0)
    z = np.minimum(np.nan_to_num(z, posinf=MAX_SCORE), MAX_SCORE)
    return np.where(down, -z, z)


def severity(score: np.ndarray, threshold: float,
             relative: np.ndarray | None = None) -> np.ndarray:
    """none below the threshold; low, medium, high at 1x, 1.5x, 2.5x the threshold; a drop
    of at least MATERIAL_CHANGE of the expected value whose score passes MATERIAL_SCORE x
    the threshold is at least medium (a spike of that size is common in a small, noisy
    series; losing half a day's value is not)."""
    a = np.abs(np.asarray(score, dtype=float))
    lo, mid, hi = (s * threshold for s in SEVERITY_STEPS)
    out = np.select([a >= hi, a >= mid, a >= lo], ["high", "medium", "low"], default="none")
    if relative is not None:
        big = (np.asarray(relative, dtype=float) <= -MATERIAL_CHANGE) \
            & (a >= MATERIAL_SCORE * threshold)
        out = np.where(big & np.isin(out, ["none", "low"]), "medium", out)
    return out


def decompose(y: np.ndarray, season: int = SEASON) -> tuple[np.ndarray, np.ndarray]:
    """Expected value and residuals of a daily series, by running medians: the level is the
    median of the days within two seasons either side (the last season's days: of the two
    seasons before them), the seasonal part the median departure from the level of the
    same weekday within four seasons either side (the last days: the four before). A
    median ignores a single excursion, so an outage or a spike never bends its own
    expectation (a fitted trend would follow it, most of all at the series' end, the
    as-of date)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 2 * season + 1:
        med = np.full_like(y, np.nanmedian(y)) if len(y) else y.copy()
        return med, y - med
    s = pd.Series(y)
    level = s.rolling(4 * season + 1, center=True, min_periods=2 * season).median()
    level = level.bfill().ffill()
    detrended = s - level
    seasonal = detrended.groupby(np.arange(len(y)) % season).transform(
        lambda d: d.rolling(9, center=True, min_periods=3).median())
    seasonal = seasonal.fillna(detrended.groupby(np.arange(len(y)) % season)
                               .transform("median"))
    expected = np.array(level + seasonal, dtype=float)
    # the last season's days: from the days before them only (a trailing window would
    # count the day itself and its weekday twice)
    d = detrended.to_numpy()
    for t in range(max(len(y) - season, 2 * season), len(y)):
        same_weekday = d[t - season::-season][:4]
        expected[t] = float(np.median(y[t - 2 * season:t])) + float(np.median(same_weekday))
    return expected, y - expected


def noise(y: np.ndarray, resid: np.ndarray, season: int = SEASON) -> float:
    """The day-to-day noise of a series: 1.4826 MAD of its differences a season apart over
    sqrt(2) (the residuals of a fitted STL understate it: the fit follows part of the
    noise); the spread of the residuals when the series is shorter than two seasons."""
    y = np.asarray(y, dtype=float)
    x = (y[season:] - y[:-season]) / np.sqrt(2) if len(y) > 2 * season else resid
    x = x[np.isfinite(x)]
    if not len(x):
        return 0.0
    return float(MAD_SCALE * np.median(np.abs(x - np.median(x))))


def series_anomalies(dates: pd.DatetimeIndex, y: np.ndarray, threshold: float,
                     season: int = SEASON, unit: str = "value",
                     volume: np.ndarray | None = None) -> pd.DataFrame:
    """Per day: value, expected, score of the residual (counts: of its tail probability,
    :func:`count_scores`), direction and severity."""
    y = np.asarray(y, dtype=float)
    expected, resid = decompose(y, season)
    level = float(np.nanmedian(np.abs(y))) if len(y) else 0.0
    floor = noise_floor(expected, level, unit, volume)
    sd = noise(y, resid, season)
    scale = np.maximum(sd, floor)
    tol = np.maximum(TOLERANCE * np.abs(expected), 1e-9)
    departs = np.abs(resid) > tol
    with np.errstate(divide="ignore", invalid="ignore"):
        if unit == "count":
            mu = np.clip(expected, MIN_EXPECTED_COUNT, None)
            typical = float(np.nanmedian(mu)) if len(mu) else 0.0
            # the relative floor as a least over-dispersion of each day
            phi = np.maximum(dispersion(sd, typical),
                             ((REL_SPREAD_FLOOR * abs(level)) ** 2 - mu) / mu**2)
            z = np.where(departs, count_scores(y, expected, phi), 0.0)
        else:
            z = np.where(departs & (scale > 0), resid / scale, 0.0)
        rel = np.where(np.abs(expected) > 1e-9, resid / np.abs(expected), 0.0)
    z = np.nan_to_num(z)
    return pd.DataFrame({
        "date": pd.to_datetime(dates).date,
        "value": y,
        "expected": expected,
        "score": z,
        "direction": np.where(z >= 0, "up", "down"),
        "severity": severity(z, threshold, np.nan_to_num(rel)),
    })


USER_BEHAVIOUR_COLUMNS = ("active_days_ratio", "events_ratio", "sessions_ratio",
                          "avg_session_ratio", "peak_sessions_ratio")
#: a user whose busiest recent day has this many times their usual sessions per active day
#: (and at least BURST_MIN_SESSIONS sessions) is a burst: possible automated traffic
BURST_RATIO = 2.5
BURST_MIN_SESSIONS = 4


def user_behaviour_anomalies(frame: pd.DataFrame, contamination: float,
                             seed: int) -> pd.DataFrame:
    """Isolation forest on the ratios of the recent week to the user's weekly baseline.

    ``frame`` has per user: recent_* (last 7 days) and baseline_* (weekly means of the
    weeks before) of active_days, events, sessions, avg_session_minutes, and optionally
    recent_peak_sessions (most sessions on one recent day) and baseline_sessions_per_day
    (sessions per active day before). Returns user_id, the ratios, the anomaly score
    (higher = more unusual), is_anomaly, direction (the recent week above or below the
    baseline in activity) and is_burst (a day of sessions far above the user's usual: a
    sign of automated traffic a weekly ratio hides)."""
    out = frame[["user_id"]].copy()
    eps = 0.5
    for name, col in (("active_days_ratio", "active_days"), ("events_ratio", "events"),
                      ("sessions_ratio", "sessions"),
                      ("avg_session_ratio", "avg_session_minutes")):
        out[name] = np.log((frame[f"recent_{col}"] + eps) / (frame[f"baseline_{col}"] + eps))
    if {"recent_peak_sessions", "baseline_sessions_per_day"} <= set(frame.columns):
        peak = frame["recent_peak_sessions"].astype(float)
        usual = frame["baseline_sessions_per_day"].astype(float)
        out["peak_sessions_ratio"] = np.log((peak + eps) / (usual + eps))
        out["is_burst"] = ((peak >= BURST_MIN_SESSIONS)
                           & (peak >= BURST_RATIO * usual.clip(lower=1.0))).to_numpy()
    else:
        out["peak_sessions_ratio"] = 0.0
        out["is_burst"] = False
    X = out[list(USER_BEHAVIOUR_COLUMNS)].to_numpy()
    if len(out) < 10:
        out["score"], out["is_anomaly"] = 0.0, False
    else:
        forest = IsolationForest(n_estimators=200, contamination=contamination,
                                 random_state=seed).fit(X)
        out["score"] = -forest.score_samples(X)
        out["is_anomaly"] = forest.predict(X) == -1
    out["is_anomaly"] = out["is_anomaly"] | out["is_burst"]
    out["direction"] = np.where(out["events_ratio"] >= 0, "up", "down")
    return out
