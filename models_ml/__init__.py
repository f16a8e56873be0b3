"""Predictors and analyses over the marts: pure maths modules plus a thin DuckDB IO layer.

The Dagster assets of ``orchestration/assets/ml.py`` call :mod:`models_ml.pipeline`
(predictions in :mod:`models_ml.predict`, analyses in :mod:`models_ml.analyse`), which
read aggregated frames from the warehouse (:mod:`models_ml.io`), call the pure functions
(features, classifiers, metrics, forecasting, anomalies, segments, experiments, bkt, ltv,
clv, drivers, insights) and write the ``ml`` tables.
"""
