"""Calibrated gradient-boosting classifiers against a recency-only baseline.

Train on the earlier as-of snapshots, evaluate on the later ones (a time-based split),
compare with a logistic regression on recency alone, then refit on every labelled row.
Per-row explanations: the change of the predicted probability when one feature is set
to its training median (occlusion), the largest increases first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models_ml.metrics import classification_metrics


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
    min_auc_margin: float = 0.0,
) -> Evaluation:
    """Fit on the earlier dates, score the later ones; model and baseline side by side."""
    train, test, cut = time_split(dates, test_dates)
    y = np.asarray(y, dtype=int)
    model = gbm(seed, n_estimators, learning_rate, max_depth, folds)
    model.fit(X[train], y[train])
    p = model.predict_proba(X[test])[:, 1]
    base = recency_baseline().fit(X[[recency]][train], y[train])
    pb = base.predict_proba(X[[recency]][test])[:, 1]
    m, mb = classification_metrics(y[test], p), classification_metrics(y[test], pb)
    beats = bool(np.isfinite(m["roc_auc"]) and m["roc_auc"] > mb["roc_auc"] + min_auc_margin)
    return Evaluation(m, mb, int(train.sum()), int(test.sum()), beats, cut)


def fit_final(X: pd.DataFrame, y: np.ndarray, recency: str, *, seed: int, n_estimators: int,
              learning_rate: float, max_depth: int, folds: int, use_baseline: bool) -> Any:
    """The model to publish, refit on every labelled row (the baseline if it won)."""
    y = np.asarray(y, dtype=int)
    if use_baseline:
        return BaselineModel(recency_baseline().fit(X[[recency]], y), recency)
    return gbm(seed, n_estimators, learning_rate, max_depth, folds).fit(X, y)


class BaselineModel:
    """The recency baseline, wrapped to accept the full feature frame."""

    def __init__(self, model: Any, column: str) -> None:
        self.model, self.column = model, column

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X[[self.column]])


def risk_band(p: np.ndarray, medium: float, high: float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def occlusion_contributions(model: Any, X: pd.DataFrame, reference: pd.Series) -> np.ndarray:
    """Rows x features: the predicted probability minus the one with that feature set to
    ``reference`` (the training medians).

    A row whose value already equals the reference has a contribution of exactly 0 (the
    same row predicted twice), so only the rows that change are predicted, all features'
    changed rows stacked into one call: the same numbers as one full prediction per
    feature, in a fraction of the predictions."""
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
    q = model.predict_proba(occluded)[:, 1]
    start = 0
    for j, rows in enumerate(changed):
        contrib[rows, j] = p[rows] - q[start:start + len(rows)]
        start += len(rows)
    return contrib


def top_contributions(model: Any, X: pd.DataFrame, reference: pd.Series, k: int) -> list[str]:
    """Per row, JSON of the ``k`` features whose replacement by ``reference`` (the training
    medians) lowers the probability most: [{"feature", "value", "contribution"}]."""
    cols = list(X.columns)
    contrib = occlusion_contributions(model, X, reference)
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
