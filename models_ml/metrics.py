"""Evaluation metrics: classification (ROC-AUC, PR-AUC, Brier, top-decile lift), MASE."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def lift_top_decile(y_true: np.ndarray, score: np.ndarray) -> float:
    """Positive rate among the 10% highest scores / the overall positive rate."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=float)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": lift_top_decile(y, p),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "rows": len(y),
    }


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int = 7) -> float:
    """Mean absolute scaled error: MAE of the forecast / in-sample MAE of the seasonal
    naive forecast on ``history``."""
    a, f, h = (np.asarray(x, dtype=float) for x in (actual, forecast, history))
    if len(h) <= season:
        return float("nan")
    scale = np.mean(np.abs(h[season:] - h[:-season]))
    mae = np.mean(np.abs(a - f))
    if scale == 0:
        return 0.0 if mae == 0 else float("inf")
    return float(mae / scale)
