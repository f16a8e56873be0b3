"""ML assets: predictions and analyses over the marts, one asset per ``ml`` table.

Thin wrappers over :mod:`models_ml.pipeline`: each opens the warehouse under the writer
lock, runs one step and reports a few numbers as metadata. The flow is one-way:
every ml table here reads the marts after dbt and no dbt model reads them. The one ml
table dbt reads, ``ml.bkt_params``, is fitted from the raw layer by the dbt step itself
before it builds (orchestration/assets/dbt.py), so a run builds dbt in one step.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from data_quality.checks import BlockingFailure, revalidate_ml_table
from models_ml import pipeline
from orchestration.keys import AS_OF, dbt_key, ml_key
from orchestration.resources import WarehouseResource
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings

ML_GROUP = "ml"


def _meta(summary: dict[str, Any]) -> dict[str, dg.MetadataValue]:
    out: dict[str, dg.MetadataValue] = {}
    for k, v in summary.items():
        if isinstance(v, bool):
            out[k] = dg.MetadataValue.bool(v)
        elif isinstance(v, int):
            out[k] = dg.MetadataValue.int(v)
        elif isinstance(v, float):
            out[k] = dg.MetadataValue.float(v)
        elif isinstance(v, str):
            out[k] = dg.MetadataValue.text(v)
        else:
            out[k] = dg.MetadataValue.json(pipeline.mlio.clean_json(v))
    return out


# scoring analyses that also add their version to ml.model_registry (owned by
# ml_train_models): the registry is validated again after them
REGISTERS_VERSIONS = {"forecast", "user_segments", "engagement_drivers"}


def _run(context: dg.AssetExecutionContext, warehouse: WarehouseResource, step: str,
         fn: Any, *args: Any) -> dict[str, Any]:
    cfg = load_settings().ml
    with (warehouse.writer(holder=f"run {context.run_id} (ml {step})") as con,
          pipeline.compute_threads(cfg.threads)):
        failpoint("ml.step")  # the N-th ml step starts: lock held, nothing written yet
        summary = fn(con, cfg, *args)
        failpoint(f"ml.{step}.written")  # e.g. ml.training.written: models registered
        if step in REGISTERS_VERSIONS:
            try:
                revalidate_ml_table(con, "model_registry", context.run_id)
            except BlockingFailure as exc:
                raise dg.Failure(description=str(exc)) from None
    context.log.info(f"ml {step}: {summary}")
    return summary


@dg.asset(
    key=ml_key("user_features"), group_name=ML_GROUP, kinds={"python", "duckdb"},
    deps=[*AS_OF, dbt_key("staging", "stg_users"), dbt_key("intermediate", "int_sessions"),
          dbt_key("intermediate", "int_exercise_attempts"), dbt_key("marts", "goal_progress"),
          dbt_key("staging", "stg_payments")],
    description="ml.user_features: point-in-time features per user and as-of date (weekly "
    "snapshots ending on the as-of date), never looking past the as-of date.",
)
def user_features(context: dg.AssetExecutionContext,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=_meta(
        _run(context, warehouse, "features", pipeline.build_user_features)))


class TrainingConfig(dg.Config):
    force: bool = Field(default=False, description="Retrain even when the models are fresh.")


@dg.multi_asset(
    name="ml_train_models", group_name=ML_GROUP,
    specs=[
        dg.AssetSpec(ml_key("model_registry"), kinds={"python", "duckdb"},
                     deps=[ml_key("user_features"), dbt_key("marts", "goal_progress"),
                           dbt_key("staging", "stg_payments"), *AS_OF],
                     description="ml.model_registry: every model version with its metrics, "
                     "baseline metrics and parameters (JSON), beats_baseline and published."),
        dg.AssetSpec(ml_key("model_artifacts"), kinds={"python", "duckdb"},
                     deps=[ml_key("user_features")],
                     description="ml.model_artifacts: the fitted models (pickled) by version."),
    ],
)
def train_models(context: dg.AssetExecutionContext, config: TrainingConfig,
                 warehouse: WarehouseResource):
    """Churn, goal success and LTV models: trained when none is fresh (retrain_every_days)
    or when forced (the weekly ml_training_job)."""
    summary = _run(context, warehouse, "training", pipeline.train_models, config.force)
    yield dg.MaterializeResult(asset_key=ml_key("model_registry"), metadata=_meta(summary))
    yield dg.MaterializeResult(asset_key=ml_key("model_artifacts"))


def _scoring_asset(name: str, fn: Any, deps: list[dg.AssetKey], description: str,
                   *extra: Any) -> dg.AssetsDefinition:
    @dg.asset(key=ml_key(name), group_name=ML_GROUP, kinds={"python", "duckdb"},
              deps=[*deps, *AS_OF], description=description)
    def _asset(context: dg.AssetExecutionContext,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
        args = [e() if callable(e) else e for e in extra]
        return dg.MaterializeResult(metadata=_meta(_run(context, warehouse, name, fn, *args)))

    return _asset


def _experiment_args() -> tuple[int, str]:
    metrics = load_settings().metrics
    return metrics.experiment_conversion_window_days, metrics.reporting_timezone


MODELS = [ml_key("model_registry"), ml_key("user_features")]

churn_predictions = _scoring_asset(
    "churn_predictions", pipeline.score_churn, MODELS,
    "ml.churn_predictions: churn probability, risk band and top features of the users active "
    "in the population window, from the published churn model.")
goal_success_predictions = _scoring_asset(
    "goal_success_predictions", pipeline.score_goal_success,
    [*MODELS, dbt_key("marts", "goal_progress")],
    "ml.goal_success_predictions: probability that each open goal completes in the window.")
ltv_predictions = _scoring_asset(
    "ltv_predictions", pipeline.score_ltv, [*MODELS, dbt_key("staging", "stg_payments")],
    "ml.ltv_predictions: predicted net revenue of the next ml.ltv_horizon_days days per paying "
    "user and currency (column predicted_revenue_<h>d; run rate, BG/NBD + Gamma-Gamma or "
    "gradient boosting, chosen by a time-split backtest).")
metric_anomalies = _scoring_asset(
    "metric_anomalies", pipeline.detect_metric_anomalies,
    [dbt_key("marts", m) for m in ("engagement_daily", "conversation_daily", "nlu_daily",
                                   "revenue_daily")],
    "ml.metric_anomalies: days whose DAU, sessions, automation rate, fallback rate, response "
    "time p95 or revenue departs from its seasonal expectation (robust STL residual score).")
user_behaviour_anomalies = _scoring_asset(
    "user_behaviour_anomalies", pipeline.detect_user_anomalies,
    [dbt_key("intermediate", "int_sessions")],
    "ml.user_behaviour_anomalies: engaged users whose last week departs from their own "
    "baseline (isolation forest).")
user_segments = _scoring_asset(
    "user_segments", pipeline.segment_users, [ml_key("user_features")],
    "ml.user_segments: k-means segments (k by silhouette) named from their profiles.")
experiment_analysis = _scoring_asset(
    "experiment_analysis", pipeline.analyse_experiments,
    [dbt_key("staging", "stg_experiment_assignments"), dbt_key("staging", "stg_payments")],
    "ml.experiment_analysis: per experiment, metric and variant: conversion (z-test) and "
    "revenue (Welch/CUPED), lift, CI, mSPRT always-valid p-value, probability to beat "
    "control, SRM gate, power at the pre-registered MDE, Holm across metrics "
    "(marts.experiment_results has the primary window's test; this table adds the other "
    "metrics and the corrections).",
    lambda: _experiment_args()[0], lambda: _experiment_args()[1])
engagement_drivers = _scoring_asset(
    "engagement_drivers", pipeline.engagement_drivers, [ml_key("user_features")],
    "ml.engagement_drivers: permutation importance and BH-corrected correlations of the "
    "features with retention over the next 30 days.")


@dg.multi_asset(
    name="ml_engagement_forecast", group_name=ML_GROUP,
    specs=[
        dg.AssetSpec(ml_key("engagement_forecast"), kinds={"python", "duckdb"},
                     deps=[dbt_key("marts", "engagement_daily"), *AS_OF],
                     description="ml.engagement_forecast: DAU and sessions per creator and "
                     "overall, 30 days ahead, 80% and 95% intervals from the backtest errors (ETS, "
                     "Theta or seasonal naive by rolling-origin MASE; seasonal naive unless "
                     "a model beats it)."),
        dg.AssetSpec(ml_key("forecast_backtest"), kinds={"python", "duckdb"},
                     deps=[dbt_key("marts", "engagement_daily")],
                     description="ml.forecast_backtest: rolling-origin MASE of each "
                     "method per series, the method published and any fallback_reason."),
    ],
)
def engagement_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    summary = _run(context, warehouse, "forecast", pipeline.forecast_engagement)
    yield dg.MaterializeResult(asset_key=ml_key("engagement_forecast"), metadata=_meta(summary))
    yield dg.MaterializeResult(asset_key=ml_key("forecast_backtest"))


@dg.multi_asset(
    name="ml_business_forecasts", group_name=ML_GROUP,
    specs=[
        dg.AssetSpec(ml_key("business_forecasts"), kinds={"python", "duckdb"},
                     deps=[dbt_key("marts", "revenue_daily"), dbt_key("staging", "stg_users"),
                           *AS_OF],
                     description="ml.business_forecasts: daily net revenue per currency and "
                     "new users, 30 days ahead with 80% and 95% intervals (the engagement "
                     "forecast's model selection and backtest intervals)."),
        dg.AssetSpec(ml_key("business_scenarios"), kinds={"python", "duckdb"},
                     deps=[dbt_key("staging", "stg_payments")],
                     description="ml.business_scenarios: horizon revenue per currency and "
                     "new paying customers if conversion or retention moves by the "
                     "configured relative changes."),
    ],
)
def business_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    summary = _run(context, warehouse, "business", pipeline.forecast_business)
    yield dg.MaterializeResult(asset_key=ml_key("business_forecasts"), metadata=_meta(summary))
    yield dg.MaterializeResult(asset_key=ml_key("business_scenarios"))


model_drift = _scoring_asset(
    "model_drift", pipeline.model_drift,
    [*MODELS, ml_key("churn_predictions"), ml_key("goal_success_predictions"),
     ml_key("ltv_predictions")],
    "ml.model_drift: population stability index per input feature and for the prediction "
    "distribution of each stored model, training window vs the latest snapshot (a "
    "data-quality warning when it moved).")


insights = _scoring_asset(
    "insights", pipeline.generate_insights,
    [ml_key(k) for k in ("metric_anomalies", "experiment_analysis", "engagement_forecast",
                         "engagement_drivers", "churn_predictions", "user_segments")]
    + [dbt_key("marts", m) for m in ("engagement_daily", "conversation_daily", "revenue_daily",
                                     "goal_progress")],
    "ml.insights: ranked findings per creator and overall (pattern, anomaly, correlation, "
    "opportunity, milestone, experiment, forecast) with their evidence, significance and "
    "impact; only significant ones, kept as history, a finding repeated only when it "
    "changed.")


ml_assets = [
    user_features, train_models, churn_predictions, goal_success_predictions, ltv_predictions,
    engagement_forecast, metric_anomalies, user_behaviour_anomalies, user_segments,
    experiment_analysis, engagement_drivers, insights, business_forecasts, model_drift,
]
