"""Calibrated gradient-boosting classifiers against a recency-only baseline.

Train on the earlier as-of snapshots, evaluate on the later ones (a time-based split),
compare with a logistic regression on recency alone, then refit on every labelled row.
The model is published only when the paired bootstrap interval (same test rows for both)
of its ROC-AUC gain over the baseline lies above ``min_auc_margin`` (0: excludes zero);
else the baseline is published. Lift at 10 % and calibration (reliability curve, Brier)
are recorded beside the AUC.
Per-row explanations: the change of the predicted probability when one feature is set
to its training median (occlusion), the largest increases first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models_ml.metrics import classification_metrics
from models_ml.parallel import fit_calibrated, predict_positive


def gbm(seed: int, n_estimators: int, learning_rate: float, max_depth: int,
        folds: int) -> CalibratedClassifierCV:
    base = HistGradientBoostingClassifier(
        max_iter=n_estimators, learning_rate=learning_rate, max_depth=max_depth,
        early_stopping=False, random_state=seed,
    )
    return CalibratedClassifierCV(base, method="sigmoid", cv=folds)


def recency_baseline() -> Any:
    """Logistic regression on log(1 + days since the last active day)."""
    return make_pipeline(
        FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()
    )


@dataclass
class Evaluation:
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    train_rows: int
    test_rows: int
    beats_baseline: bool
    split_date: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: AUC gain over the baseline and its paired bootstrap interval
    gain: float = float("nan")
    gain_low: float = float("nan")
    gain_high: float = float("nan")
    reliability: list[dict[str, float]] = field(default_factory=list)
    baseline_reliability: list[dict[str, float]] = field(default_factory=list)


def _auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ``scores`` (resamples x rows) against the labels ``y`` of
    the same shape (Mann-Whitney U from mid-ranks, so ties count one half)."""
    ranks = rankdata(scores, axis=1)
    pos = y.astype(bool)
    n1 = pos.sum(axis=1)
    n0 = y.shape[1] - n1
    u = np.where(pos, ranks, 0.0).sum(axis=1) - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return u / (n1 * n0)


def _resampled_aucs(groups: np.ndarray, n_groups: int, pos_draws: np.ndarray,
                    neg_draws: np.ndarray) -> np.ndarray:
    """ROC-AUC of each resample (a row of ``pos_draws``: k x n1 row indices of positives,
    of ``neg_draws``: k x n0 of negatives). ``groups`` numbers each row's score among the
    distinct scores in increasing order (``n_groups`` of them). Each resample's positives
    and negatives are counted per score; a positive beats every negative of a lower score
    and ties half of those of its own (Mann-Whitney U), so the scores are sorted once for
    all resamples. The pair counts are integers (2U exactly), hence the same AUC as
    :func:`_auc_rows` of the resampled rows, to the last bit."""
    k, n1 = pos_draws.shape
    n0 = neg_draws.shape[1]
    offsets = (np.arange(k) * n_groups)[:, None]

    def per_group(draws: np.ndarray) -> np.ndarray:
        return np.bincount((groups[draws] + offsets).ravel(),
                           minlength=k * n_groups).reshape(k, n_groups)

    pos_w, neg_w = per_group(pos_draws), per_group(neg_draws)
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    twice_u = (pos_w * (2 * neg_below + neg_w)).sum(axis=1)
    return (twice_u / 2) / (n1 * n0)


def paired_auc_gain(y: np.ndarray, p_model: np.ndarray, p_base: np.ndarray, *,
                    resamples: int = 1000, confidence: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float]:
    """AUC(model) - AUC(baseline) on the same rows and its percentile interval from a
    paired bootstrap stratified by class (each resample draws the positives and the
    negatives with replacement, the same rows for both scores). Vectorised: resamples
    are drawn in blocks of rows x resamples matrices, and each block's AUCs come from
    per-score counts over scores sorted once (:func:`_resampled_aucs`), not from
    ranking every resample again."""
    y = np.asarray(y, dtype=int)
    pm, pb = np.asarray(p_model, dtype=float), np.asarray(p_base, dtype=float)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan"), float("nan")
    gain = float(_auc_rows(y[None, :], pm[None, :])[0] - _auc_rows(y[None, :], pb[None, :])[0])
    ranked = [np.unique(p, return_inverse=True) for p in (pm, pb)]
    gen = np.random.default_rng(seed)
    block = max(1, int(1_000_000 // max(len(y), 1)))
    gains: list[np.ndarray] = []
    done = 0
    while done < resamples:
        k = min(block, resamples - done)
        pos_draws, neg_draws = gen.choice(pos, (k, len(pos))), gen.choice(neg, (k, len(neg)))
        auc_model, auc_base = (_resampled_aucs(groups.ravel(), len(distinct), pos_draws,
                                               neg_draws) for distinct, groups in ranked)
        gains.append(auc_model - auc_base)
        done += k
    g = np.concatenate(gains)
    tail = (1 - confidence) / 2
    low, high = np.quantile(g, [tail, 1 - tail])
    return gain, float(low), float(high)


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width probability bins (non-empty ones): mean predicted probability, observed
    positive rate and rows; a calibrated model has the two near each other."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append({"bin_low": float(edges[b]), "bin_high": float(edges[b + 1]),
                        "mean_predicted": float(p[mask].mean()),
                        "observed_rate": float(y[mask].mean()), "rows": int(mask.sum())})
    return out


def time_split(dates: pd.Series, test_dates: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Boolean masks of train / test rows: the last ``test_dates`` distinct dates are test."""
    uniq = np.sort(pd.Series(pd.to_datetime(dates)).unique())
    if len(uniq) < 2:
        raise ValueError("a time-based split needs at least two as-of dates")
    k = min(max(1, test_dates), len(uniq) - 1)
    cut = uniq[-k]
    d = pd.to_datetime(dates).to_numpy()
    return d < cut, d >= cut, str(pd.Timestamp(cut).date())


def evaluate(
    X: pd.DataFrame, y: np.ndarray, dates: pd.Series, recency: str, *, seed: int,
    n_estimators: int, learning_rate: float, max_depth: int, folds: int, test_dates: int,
    min_auc_margin: float = 0.0, resamples: int = 1000, confidence: float = 0.95,
    workers: int = 1,
) -> Evaluation:
    """Fit on the earlier dates, score the later ones; model and baseline side by side.
    ``beats_baseline``: the lower end of the bootstrap interval of the AUC gain is above
    ``min_auc_margin``. ``workers``: processes fitting the calibration folds."""
    train, test, cut = time_split(dates, test_dates)
    y = np.asarray(y, dtype=int)
    model = fit_calibrated(gbm(seed, n_estimators, learning_rate, max_depth, folds),
                           X[train], y[train], workers)
    p = model.predict_proba(X[test])[:, 1]
    base = recency_baseline().fit(X[[recency]][train], y[train])
    pb = base.predict_proba(X[[recency]][test])[:, 1]
    m, mb = classification_metrics(y[test], p), classification_metrics(y[test], pb)
    gain, low, high = paired_auc_gain(y[test], p, pb, resamples=resamples,
                                      confidence=confidence, seed=seed)
    beats = bool(np.isfinite(low) and low > min_auc_margin)
    return Evaluation(m, mb, int(train.sum()), int(test.sum()), beats, cut, gain=gain,
                      gain_low=low, gain_high=high, reliability=reliability_curve(y[test], p),
                      baseline_reliability=reliability_curve(y[test], pb))


def fit_final(X: pd.DataFrame, y: np.ndarray, recency: str, *, seed: int, n_estimators: int,
              learning_rate: float, max_depth: int, folds: int, use_baseline: bool,
              workers: int = 1) -> Any:
    """The model to publish, refit on every labelled row (the baseline if it won)."""
    y = np.asarray(y, dtype=int)
    if use_baseline:
        return BaselineModel(recency_baseline().fit(X[[recency]], y), recency)
    return fit_calibrated(gbm(seed, n_estimators, learning_rate, max_depth, folds), X, y,
                          workers)


class BaselineModel:
    """The recency baseline, wrapped to accept the full feature frame."""

    def __init__(self, model: Any, column: str) -> None:
        self.model, self.column = model, column

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X[[self.column]])


def risk_band(p: np.ndarray, medium: float, high: float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def occlusion_contributions(model: Any, X: pd.DataFrame, reference: pd.Series,
                            workers: int = 1) -> np.ndarray:
    """Rows x features: the predicted probability minus the one with that feature set to
    ``reference`` (the training medians).

    A row whose value already equals the reference has a contribution of exactly 0 (the
    same row predicted twice), so only the rows that change are predicted, all features'
    changed rows stacked into one call: the same numbers as one full prediction per
    feature, in a fraction of the predictions. ``workers``: processes that predict the
    stacked rows side by side when they are many (models_ml/parallel.py)."""
    cols = list(X.columns)
    contrib = np.zeros((len(X), len(cols)))
    if not len(X):
        return contrib
    p = model.predict_proba(X)[:, 1]
    values = X.to_numpy()
    changed: list[np.ndarray] = []
    for j, c in enumerate(cols):  # NaN compares unequal: such rows are predicted
        changed.append(np.flatnonzero(~(values[:, j] == reference[c])))
    total = sum(len(rows) for rows in changed)
    if total == 0:
        return contrib
    occluded = X.iloc[np.concatenate(changed)].copy()
    start = 0
    for j, (c, rows) in enumerate(zip(cols, changed, strict=True)):
        occluded.iloc[start:start + len(rows), j] = reference[c]
        start += len(rows)
    q = predict_positive(model, occluded, workers)
    start = 0
    for j, rows in enumerate(changed):
        contrib[rows, j] = p[rows] - q[start:start + len(rows)]
        start += len(rows)
    return contrib


def top_contributions(model: Any, X: pd.DataFrame, reference: pd.Series, k: int,
                      workers: int = 1) -> list[str]:
    """Per row, JSON of the ``k`` features whose replacement by ``reference`` (the training
    medians) lowers the probability most: [{"feature", "value", "contribution"}]."""
    cols = list(X.columns)
    contrib = occlusion_contributions(model, X, reference, workers)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    values = X.to_numpy()
    out = []
    for i in range(len(X)):
        out.append(json.dumps([
            {"feature": cols[j], "value": (round(float(values[i, j]), 4)
                                           if np.isfinite(values[i, j]) else None),
             "contribution": round(float(contrib[i, j]), 4)}
            for j in order[i] if contrib[i, j] > 0
        ]))
    return out
