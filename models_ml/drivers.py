"""Engagement drivers: which features go with retention over the next 30 days.

Permutation importance (ROC-AUC drop on the later, held-out snapshot) of a gradient
boosting classifier, and Spearman correlations of each feature with retention, with
p-values corrected across features by Benjamini-Hochberg.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance

from models_ml.experiments import benjamini_hochberg
from models_ml.parallel import workers_for

#: features left out of the drivers: days_since_last_active restates the label (a user
#: active yesterday is active in the next 30 days), attempts_total duplicates attempts_28
#: for most users, active_days_14 sits between active_days_7 and _28, engagement_score is
#: a weighted sum of features listed here plus recency (which restates the label)
NOT_DRIVERS = ("days_since_last_active", "attempts_total", "active_days_14",
               "engagement_score")


def driver_features(columns: tuple[str, ...] | list[str]) -> list[str]:
    """The features whose link to retention is worth reading (non-circular, distinct)."""
    return [c for c in columns if c not in NOT_DRIVERS]


def correlations(X: pd.DataFrame, y: np.ndarray, alpha: float) -> pd.DataFrame:
    rows = []
    yv = np.asarray(y, dtype=float)
    for c in X.columns:
        x = X[c].to_numpy(dtype=float)
        known = np.isfinite(x)  # a null feature (no attempts: no correct rate) is left out
        if known.sum() < 3 or np.nanstd(x) == 0 or np.nanstd(yv[known]) == 0:
            rows.append((c, np.nan, np.nan))
            continue
        res = spearmanr(x[known], yv[known])
        rows.append((c, float(res.statistic), float(res.pvalue)))
    out = pd.DataFrame(rows, columns=["feature", "correlation", "p_value"])
    out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
    out["significant"] = (out["q_value"] < alpha).fillna(False).astype(bool)
    out["direction"] = np.where(out["correlation"] >= 0, "positive", "negative")
    return out


def importance(X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame,
               y_test: np.ndarray, *, seed: int, repeats: int, n_estimators: int,
               learning_rate: float, max_depth: int,
               max_rows: int | None = None, workers: int = 1) -> tuple[pd.DataFrame, float]:
    """Permutation importance (drop in ROC AUC) of a gradient-boosted classifier on the
    held-out rows, ``repeats`` times. With more than ``max_rows`` of them, each repeat
    scores its own sample of ``max_rows`` rows (drawn without replacement), baseline and
    permutations on the same sample: the cost stops growing with the data and
    importance_std carries the sampling too. (scikit-learn's ``max_samples`` scores the
    baseline on every row and the permutations on the sample, which shifts every
    feature's importance by the sample's own AUC difference.) Up to ``max_rows`` rows:
    every row, as before. ``workers``: processes scoring the features' permutations side
    by side when there are many rows to predict (scikit-learn's ``n_jobs``: every
    feature's permutations come from the same seed, so the numbers are the same)."""
    model = HistGradientBoostingClassifier(
        max_iter=n_estimators, learning_rate=learning_rate, max_depth=max_depth,
        early_stopping=False, random_state=seed,
    ).fit(X_train, y_train)
    scored = min(len(X_test), max_rows or len(X_test))
    n_jobs = workers_for(scored * X_test.shape[1] * repeats, workers)
    if max_rows is None or len(X_test) <= max_rows:
        res = permutation_importance(model, X_test, y_test, scoring="roc_auc",
                                     n_repeats=repeats, random_state=seed, n_jobs=n_jobs)
        mean, std = res.importances_mean, res.importances_std
    else:
        gen = np.random.default_rng(seed)
        runs = []
        for r in range(repeats):
            rows = np.sort(gen.choice(len(X_test), size=max_rows, replace=False))
            runs.append(permutation_importance(
                model, X_test.iloc[rows], y_test[rows], scoring="roc_auc", n_repeats=1,
                random_state=seed + r, n_jobs=n_jobs).importances[:, 0])
        mean, std = np.mean(runs, axis=0), np.std(runs, axis=0)
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])) \
        if len(np.unique(y_test)) == 2 else float("nan")
    return pd.DataFrame({"feature": list(X_train.columns),
                         "importance_mean": mean, "importance_std": std}), auc
