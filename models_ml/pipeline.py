"""What the Dagster assets run: one function per ``ml`` table (or pair of tables).

Predictions live in :mod:`models_ml.predict`, analyses in :mod:`models_ml.analyse`; both
read frames with set-based SQL (:mod:`models_ml.io`), call the pure modules and write the
``ml`` tables. Each function takes a read-write DuckDB connection (the caller holds the
writer lock) and the :class:`~warehouse.settings.MLSettings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from models_ml import io as mlio
from models_ml.analyse import (
    analyse_experiments,
    detect_metric_anomalies,
    detect_user_anomalies,
    engagement_drivers,
    experiment_counts,
    fit_bkt_params,
    forecast_engagement,
    generate_insights,
    segment_users,
)
from models_ml.business import forecast_business
from models_ml.monitoring import model_drift
from models_ml.predict import (
    build_user_features,
    churn_training_frame,
    goal_training_frame,
    score_churn,
    score_goal_success,
    score_ltv,
    train_ltv,
    train_models,
    trainable,
)


@contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """Cap the OpenMP/BLAS threads of scikit-learn, numpy and statsmodels in this block."""
    with threadpool_limits(limits=max(1, int(threads))):
        yield


__all__ = [
    "analyse_experiments",
    "build_user_features",
    "churn_training_frame",
    "compute_threads",
    "detect_metric_anomalies",
    "detect_user_anomalies",
    "engagement_drivers",
    "experiment_counts",
    "fit_bkt_params",
    "forecast_business",
    "forecast_engagement",
    "generate_insights",
    "goal_training_frame",
    "mlio",
    "model_drift",
    "score_churn",
    "score_goal_success",
    "score_ltv",
    "segment_users",
    "train_ltv",
    "train_models",
    "trainable",
]
