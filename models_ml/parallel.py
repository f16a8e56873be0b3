"""Model fits and predictions spread over worker processes: the classifiers' calibration
folds, and the steps that predict millions of rows with one fitted model (the per-user
explanations of the churn and goal predictions, the engagement drivers' permutation
importance).

The ML steps run one after another in the run's process with one OpenMP/BLAS thread
(``ml.threads``: several processes each spinning threads on a small machine slow each
other down by orders of magnitude). A gradient-boosted model's predictions are
independent per row, so the rows can be split between ``ml.model_workers``
processes of one thread each (joblib's loky workers, which stay up between steps): the
same floats, in the same order, on every core; so can the independent fits of a
calibrated classifier's folds. Worth it only past :data:`ROWS_BEFORE_WORKERS` rows
predicted or :data:`FIT_ROWS_BEFORE_WORKERS` rows fitted (a worker takes about two
seconds to start).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

#: rows to predict before worker processes pay off: a calibrated model of 3 x 150 trees
#: (depth 3, 15 features) predicts ~60k rows a second on one core, a worker takes ~2 s to
#: start and import scikit-learn
ROWS_BEFORE_WORKERS = 300_000

#: training rows before fitting a calibrated classifier's folds in worker processes pays
#: off (150 boosting iterations: ~0.7 s per fold of 40k rows on one core)
FIT_ROWS_BEFORE_WORKERS = 50_000


def workers_for(rows: int, workers: int, threshold: int | None = None) -> int:
    """``workers`` when ``rows`` predictions (or fitted rows, with ``threshold``
    :data:`FIT_ROWS_BEFORE_WORKERS`) are worth spreading, else 1 (this process)."""
    bound = ROWS_BEFORE_WORKERS if threshold is None else threshold
    return workers if workers > 1 and rows >= bound else 1


def fit_calibrated(model: Any, X: pd.DataFrame, y: np.ndarray, workers: int = 1) -> Any:
    """``model.fit(X, y)`` for a scikit-learn ``CalibratedClassifierCV``: its folds fitted
    in ``workers`` processes when X is large enough (each fold's fit is independent and
    deterministic). The fitted model keeps no worker count (``n_jobs`` is reset)."""
    n = workers_for(len(X), workers, FIT_ROWS_BEFORE_WORKERS)
    model.set_params(n_jobs=n if n > 1 else None)
    try:
        return model.fit(X, y)
    finally:
        model.set_params(n_jobs=None)


def _positive_class(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def predict_positive(model: Any, X: pd.DataFrame, workers: int = 1) -> np.ndarray:
    """``model.predict_proba(X)[:, 1]``; with ``workers`` > 1 and enough rows, the rows in
    that many contiguous parts, each predicted in its own process, then joined in order."""
    n = workers_for(len(X), workers)
    if n == 1:
        return _positive_class(model, X)
    bounds = np.linspace(0, len(X), n + 1).astype(int)
    parts = Parallel(n_jobs=n, backend="loky")(
        delayed(_positive_class)(model, X.iloc[lo:hi]) for lo, hi in pairwise(bounds))
    return np.concatenate(parts)
