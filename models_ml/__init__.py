"""Predictors and analyses over the marts: pure maths modules plus a thin DuckDB IO layer.

The Dagster assets of ``orchestration/assets/ml.py`` call :mod:`models_ml.pipeline`, which
reads aggregated frames from the warehouse (:mod:`models_ml.io`), calls the pure functions
(features, classifiers, forecasting, anomalies, segments, experiments, BKT, LTV, drivers)
and writes the ``ml`` tables.
"""
