"""Predictions: feature snapshots, the churn / goal success / LTV models (training with
their baselines and registry rows) and the scoring that uses them.

Every function takes a read-write DuckDB connection (the caller holds the writer lock)
and the :class:`~warehouse.settings.MLSettings`, and returns a small summary for the asset's
metadata.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models_ml import classifiers, ltv
from models_ml import io as mlio
from models_ml.features import (
    FEATURE_COLUMNS,
    RECENCY,
    compute_features,
    compute_labels,
    snapshot_dates,
)
from warehouse.settings import MLSettings

GOAL_FEATURES = (*FEATURE_COLUMNS, "goal_streak", "goal_sessions", "goal_mastery",
                 "goal_custom", "target_value")


# --------------------------------------------------------------------------- features


def build_user_features(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.user_features: point-in-time features of every signed-up user at each snapshot
    date (every ``snapshot_every_days`` ending on the as-of date)."""
    first, as_of = mlio.data_window(con)
    dates = snapshot_dates(pd.Timestamp(first), pd.Timestamp(as_of), cfg.snapshot_every_days,
                           cfg.min_history_days) or [pd.Timestamp(as_of)]
    con.register("_snap_dates", pd.DataFrame({"as_of_date": [d.date() for d in dates]}))
    try:
        requests = con.execute(
            "select u.user_id, d.as_of_date from staging.stg_users as u "
            "join _snap_dates as d on u.signup_date <= d.as_of_date").df()
    finally:
        con.unregister("_snap_dates")
    feats = compute_features(con, requests)
    n = mlio.replace_table(con, "user_features", feats,
                           "Point-in-time features per user and as-of date (models_ml.features)")
    return {"rows": n, "snapshots": len(dates), "as_of_date": str(as_of)}



# --------------------------------------------------------------------------- training


def _needs_training(con: duckdb.DuckDBPyConnection, name: str, cfg: MLSettings,
                    force: bool) -> bool:
    """A classifier is retrained unless one trained at an as-of date at most
    ``retrain_every_days`` before the current one (never after it) exists; LTV unless one
    of exactly this as-of date and data window exists."""
    if force:
        return True
    first, as_of = mlio.data_window(con)
    if name == "ltv":
        return mlio.artifact_for(con, name, as_of=as_of,
                                 cache_key=_ltv_key(cfg, first, as_of)) is None
    return mlio.artifact_for(con, name, as_of=as_of,
                             max_age_days=cfg.retrain_every_days) is None


def _gbm_params(cfg: MLSettings) -> dict[str, Any]:
    return {"seed": cfg.seed, "n_estimators": cfg.n_estimators,
            "learning_rate": cfg.learning_rate, "max_depth": cfg.max_depth,
            "folds": cfg.calibration_folds}


def trainable(y: np.ndarray, dates: pd.Series, test_dates: int, min_rows: int = 50) -> str | None:
    """Why a time-split classifier cannot be trained on these labels (None: it can)."""
    if len(y) < min_rows:
        return f"{len(y)} labelled rows (< {min_rows})"
    d = pd.to_datetime(dates)
    uniq = np.sort(d.unique())
    if len(uniq) < 2:
        return "fewer than two as-of dates"
    cut = uniq[-min(max(1, test_dates), len(uniq) - 1)]
    y = np.asarray(y)
    for part, mask in (("train", d < cut), ("test", d >= cut)):
        if len(np.unique(y[np.asarray(mask)])) < 2:
            return f"one class only in the {part} split"
    return None


def _train_classifier(con: duckdb.DuckDBPyConnection, cfg: MLSettings, name: str,
                      X: pd.DataFrame, y: np.ndarray, dates: pd.Series,
                      extra_params: dict[str, Any]) -> dict[str, Any]:
    why = trainable(y, dates, cfg.test_snapshots, min_rows=max(50, 4 * cfg.calibration_folds))
    if why:
        return {"skipped": why}
    p = _gbm_params(cfg)
    ev = classifiers.evaluate(X, y, dates, RECENCY, test_dates=cfg.test_snapshots,
                              min_auc_margin=cfg.min_auc_margin,
                              resamples=cfg.bootstrap_resamples,
                              confidence=cfg.bootstrap_confidence,
                              workers=cfg.model_workers, **p)
    _, as_of = mlio.data_window(con)
    final = classifiers.fit_final(X, y, RECENCY, use_baseline=not ev.beats_baseline,
                                  workers=cfg.model_workers, **p)
    trained_at = mlio.now()
    window = {"first": str(pd.Timestamp(dates.min()).date()),
              "last": str(pd.Timestamp(dates.max()).date()), "rows": len(X)}
    params = {**p, **extra_params, "features": list(X.columns), "calibration": "sigmoid",
              "estimator": "HistGradientBoostingClassifier", "split_date": ev.split_date,
              "baseline": "logistic regression on log1p(days_since_last_active)",
              "published_model": "gbm" if ev.beats_baseline else "recency_baseline",
              "publish_rule": f"lower end of the {cfg.bootstrap_confidence:.0%} paired "
              f"bootstrap interval of the AUC gain > {cfg.min_auc_margin}",
              "bootstrap_resamples": cfg.bootstrap_resamples}
    version = mlio.model_version(name, trained_at, params, window)
    artifact = {"model": final, "features": list(X.columns),
                "reference": X.median(numeric_only=True), "kind": params["published_model"]}
    common = {"name": name, "trained_at": trained_at, "train_rows": ev.train_rows,
              "data_start": mlio.as_date(dates.min()), "data_end": mlio.as_date(dates.max())}
    interval = f"[{ev.gain_low:+.3f}, {ev.gain_high:+.3f}]"
    gain = {"auc_gain": ev.gain, "auc_gain_low": ev.gain_low, "auc_gain_high": ev.gain_high}
    split = {"as_of_date": as_of, "split_date": ev.split_date, "baseline_name": "recency_baseline",
             "metric_name": "roc_auc", "baseline_value": ev.baseline_metrics["roc_auc"],
             "gain": ev.gain, "gain_low": ev.gain_low, "gain_high": ev.gain_high}
    # the model's row: its test metrics beside the baseline's; published only if it won
    mlio.register_model(
        con, version=version,
        metrics={**ev.metrics, **gain, "test_rows": ev.test_rows, "reliability": ev.reliability},
        baseline_metrics={**ev.baseline_metrics, "reliability": ev.baseline_reliability},
        params=params, beats_baseline=ev.beats_baseline,
        published=ev.beats_baseline, artifact=artifact if ev.beats_baseline else None,
        comparison={**split, "metric_value": ev.metrics["roc_auc"],
                    "lift_at_10": ev.metrics["lift_top_decile"], "brier": ev.metrics["brier"],
                    "reliability": ev.reliability,
                    "decision": f"published: AUC gain interval {interval} above "
                    f"{cfg.min_auc_margin}" if ev.beats_baseline else
                    f"not published: AUC gain interval {interval} not above "
                    f"{cfg.min_auc_margin}; the baseline is published"}, **common)
    published = version
    if not ev.beats_baseline:  # flagged: the baseline is what gets published, as its own row
        published = f"{version}-baseline"
        mlio.register_model(
            con, version=published,
            metrics={**ev.baseline_metrics, "test_rows": ev.test_rows,
                     "reliability": ev.baseline_reliability},
            baseline_metrics={**ev.baseline_metrics, "reliability": ev.baseline_reliability},
            params={**params, "estimator": "recency baseline", "replaces": version},
            beats_baseline=None, published=True, artifact=artifact,
            comparison={**split, "metric_value": ev.baseline_metrics["roc_auc"],
                        "gain": 0.0, "gain_low": None, "gain_high": None,
                        "lift_at_10": ev.baseline_metrics["lift_top_decile"],
                        "brier": ev.baseline_metrics["brier"],
                        "reliability": ev.baseline_reliability,
                        "decision": f"published in place of {version}"}, **common)
    return {"version": version, "published_version": published,
            "roc_auc": ev.metrics["roc_auc"], "baseline_roc_auc": ev.baseline_metrics["roc_auc"],
            "auc_gain": ev.gain, "auc_gain_low": ev.gain_low, "auc_gain_high": ev.gain_high,
            "lift_at_10": ev.metrics["lift_top_decile"], "brier": ev.metrics["brier"],
            "beats_baseline": ev.beats_baseline}


def churn_training_frame(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> pd.DataFrame:
    """Labelled snapshots: users active in the population window at a snapshot date whose
    churn horizon ends by the as-of date; churned = no active day in the horizon."""
    _, as_of = mlio.data_window(con)
    f = mlio.features_at(con)
    last_labelled = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.churn_horizon_days)
    f = f[(f["as_of_date"] <= last_labelled)
          & (f[RECENCY] < cfg.churn_population_days)].reset_index(drop=True)
    labels = compute_labels(con, f[["user_id", "as_of_date"]], cfg.churn_horizon_days)
    labels["as_of_date"] = pd.to_datetime(labels["as_of_date"])
    f = f.merge(labels, on=["user_id", "as_of_date"], how="inner")
    f["churned"] = (~f["active_next"].astype(bool)).astype(int)
    return f.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)


def goal_training_frame(con: duckdb.DuckDBPyConnection, cfg: MLSettings,
                        open_only: bool = False) -> pd.DataFrame:
    """Goals with the owner's features the day before creation. Labelled: created at least
    the window before the as-of date; success = completed within the window."""
    _, as_of = mlio.data_window(con)
    goals = con.execute(
        "select goal_id, user_id, goal_type, cast(target_value as double) as target_value, "
        "created_date, completed_on, status from marts.goal_progress "
        "where created_date is not null").df()
    goals["created_date"] = pd.to_datetime(goals["created_date"])
    goals["as_of_date"] = goals["created_date"] - pd.Timedelta(days=1)
    horizon = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.goal_success_window_days)
    if open_only:
        goals = goals[goals["completed_on"].isna()]
    else:
        goals = goals[goals["created_date"] <= horizon]
    if goals.empty:
        return goals
    feats = compute_features(con, goals[["user_id", "as_of_date"]].drop_duplicates())
    feats["as_of_date"] = pd.to_datetime(feats["as_of_date"])
    g = goals.merge(feats, on=["user_id", "as_of_date"], how="inner")
    for t in ("streak", "sessions", "mastery", "custom"):
        g[f"goal_{t}"] = (g["goal_type"] == t).astype(float)
    g["target_value"] = g["target_value"].fillna(0.0)
    done = pd.to_datetime(g["completed_on"])
    g["succeeded"] = (done.notna() & (done <= g["created_date"] + pd.Timedelta(
        days=cfg.goal_success_window_days))).astype(int)
    return g.sort_values(["created_date", "goal_id"], kind="stable").reset_index(drop=True)


def _weekly(dates: pd.Series) -> pd.Series:
    """Goal creation dates bucketed by week, so the time split holds out whole weeks."""
    d = pd.to_datetime(dates)
    return d - pd.to_timedelta(d.dt.dayofweek, unit="D")


def train_models(con: duckdb.DuckDBPyConnection, cfg: MLSettings,
                 force: bool = False) -> dict[str, Any]:
    """Churn, goal success and LTV models (each only when due or forced)."""
    out: dict[str, Any] = {}
    if _needs_training(con, "churn", cfg, force):
        f = churn_training_frame(con, cfg)
        out["churn"] = _train_classifier(
            con, cfg, "churn", f[list(FEATURE_COLUMNS)], f["churned"].to_numpy(),
            f["as_of_date"], {"horizon_days": cfg.churn_horizon_days,
                              "population_days": cfg.churn_population_days})
    if _needs_training(con, "goal_success", cfg, force):
        g = goal_training_frame(con, cfg)
        if g.empty:
            out["goal_success"] = {"skipped": "no labelled goals"}
        else:
            out["goal_success"] = _train_classifier(
                con, cfg, "goal_success", g[list(GOAL_FEATURES)], g["succeeded"].to_numpy(),
                _weekly(g["created_date"]), {"window_days": cfg.goal_success_window_days})
    if _needs_training(con, "ltv", cfg, force):
        out["ltv"] = train_ltv(con, cfg)
    return out


# --------------------------------------------------------------------------- LTV


def _ltv_frame(con: duckdb.DuckDBPyConnection, as_of_dates: list[date],
               label_days: int | None) -> pd.DataFrame:
    """Paying users x currency at each as-of date, with their revenue to date, purchase
    history (charge days, age of the first and last charge) and (when ``label_days``) the
    net revenue of the following ``label_days`` days."""
    con.register("_ltv_dates", pd.DataFrame({"as_of_date": as_of_dates}))
    label = "" if label_days is None else f""",
        coalesce(sum(p.signed_amount) filter (
            where p.paid_date > d.as_of_date and p.paid_date <= d.as_of_date + {label_days}),
            0) as future_revenue"""
    try:
        pay = con.execute(f"""
            select p.user_id, p.currency, d.as_of_date,
                sum(p.signed_amount) filter (where p.paid_date <= d.as_of_date)
                    as revenue_to_date,
                count(*) filter (where p.payment_kind = 'charge' and p.paid_date <= d.as_of_date)
                    as charges_in_currency,
                count(distinct p.paid_date) filter (
                    where p.payment_kind = 'charge' and p.paid_date <= d.as_of_date)
                    as charge_days,
                count(*) filter (where p.payment_kind = 'refund' and p.paid_date <= d.as_of_date)
                    as refunds_in_currency,
                d.as_of_date - min(p.paid_date) filter (
                    where p.payment_kind = 'charge' and p.paid_date <= d.as_of_date)
                    as days_since_first_charge,
                d.as_of_date - max(p.paid_date) filter (
                    where p.payment_kind = 'charge' and p.paid_date <= d.as_of_date)
                    as last_charge_age{label}
            from staging.stg_payments as p cross join _ltv_dates as d
            where p.currency is not null and p.user_id is not null
            group by p.user_id, p.currency, d.as_of_date
            having count(*) filter (where p.payment_kind = 'charge'
                                    and p.paid_date <= d.as_of_date) > 0
        """).df()
    finally:
        con.unregister("_ltv_dates")
    if pay.empty:
        return pay
    feats = compute_features(con, pay[["user_id", "as_of_date"]].drop_duplicates())
    out = pay.merge(feats, on=["user_id", "as_of_date"], how="inner")
    for c in ("days_since_first_charge", "last_charge_age", "charge_days"):
        out[c] = out[c].astype(float)
    out["revenue_to_date"] = out["revenue_to_date"].astype(float)
    return out.sort_values(["as_of_date", "user_id", "currency"]).reset_index(drop=True)


def _ltv_params(cfg: MLSettings) -> dict[str, Any]:
    return {"seed": cfg.seed, "n_estimators": cfg.n_estimators,
            "learning_rate": cfg.learning_rate, "max_depth": cfg.max_depth}


def _ltv_key(cfg: MLSettings, first: date, as_of: date) -> str:
    """The LTV model's cache key: its settings, the data window and the as-of date (a model
    is never reused for another as-of date or window)."""
    return mlio.cache_key("ltv", {**_ltv_params(cfg), "horizon_days": cfg.ltv_horizon_days,
                                  "snapshot_every_days": cfg.snapshot_every_days,
                                  "min_history_days": cfg.min_history_days},
                          {"data_start": str(first), "as_of": str(as_of)})


def ltv_backtest_days(first: date, as_of: date, cfg: MLSettings) -> int | None:
    """Days after the backtest origin that are scored: the horizon, or half the history
    when shorter (at least 7, leaving ``min_history_days`` before the origin); None when
    the history is too short for a backtest."""
    span = (as_of - first).days
    days = min(cfg.ltv_horizon_days, span // 2)
    if days < 7 or span - days < cfg.min_history_days:
        return None
    return int(days)


def _gbm_snapshots(first: date, last: date, cfg: MLSettings) -> list[date]:
    """Snapshot dates whose full-horizon label is complete by ``last`` + horizon."""
    if (last - first).days < cfg.min_history_days:
        return []
    return [d.date() for d in snapshot_dates(pd.Timestamp(first), pd.Timestamp(last),
                                             cfg.snapshot_every_days, cfg.min_history_days)]


def _fit_gbm(con: duckdb.DuckDBPyConnection, cfg: MLSettings, first: date,
             until: date) -> tuple[Any, int] | None:
    """The regressor trained on snapshots up to ``until`` - horizon, labelled with the net
    revenue of the full horizon after each (complete by ``until``); None when too few."""
    h = cfg.ltv_horizon_days
    dates = _gbm_snapshots(first, until - timedelta(days=h), cfg)
    if len(dates) < 2:
        return None
    frame = _ltv_frame(con, dates, h)
    if len(frame) < 30:
        return None
    cols = list(ltv.LTV_FEATURES)
    model = ltv.regressor(**_ltv_params(cfg)).fit(frame[cols],
                                                  frame["future_revenue"].to_numpy(float))
    return model, len(frame)


def ltv_backtest(con: duckdb.DuckDBPyConnection, cfg: MLSettings, first: date,
                 as_of: date) -> dict[str, Any] | None:
    """Every candidate scored on the same split: the paying customers at the origin
    (as-of date - backtest days), each candidate fitted on data up to the origin only,
    their predicted vs actual net revenue of the backtest days. The regressor is a
    candidate only when the backtest spans the full horizon (its labels are the
    horizon's)."""
    days = ltv_backtest_days(first, as_of, cfg)
    if days is None:
        return None
    origin = as_of - timedelta(days=days)
    test = _ltv_frame(con, [origin], days)
    if len(test) < 30:
        return None
    gbm = None
    why_no_gbm = None
    if days < cfg.ltv_horizon_days:
        why_no_gbm = (f"history of {(as_of - first).days} days: a backtest over the full "
                      f"{cfg.ltv_horizon_days}-day horizon needs 2 x horizon + "
                      f"{cfg.min_history_days} days")
    else:
        fitted = _fit_gbm(con, cfg, first, origin)
        if fitted is None:
            why_no_gbm = "too few snapshots with a complete horizon before the origin"
        else:
            gbm = fitted[0]
    scores, chosen = ltv.backtest_candidates(test, days, gbm, resamples=cfg.bootstrap_resamples,
                                             seed=cfg.seed)
    return {"origin": origin, "days": days, "rows": len(test), "scores": scores,
            "chosen": chosen, "why_no_gbm": why_no_gbm}


LTV_SUFFIX = {"run_rate": "baseline", "bgnbd_gg": "bgnbd_gg", "gbm": "gbm"}
LTV_ESTIMATOR = {"run_rate": "run rate: revenue to date / max(tenure, window) x window",
                 "bgnbd_gg": "BG/NBD x Gamma-Gamma (models_ml.clv)",
                 "gbm": "HistGradientBoostingRegressor on full-horizon labels"}


def train_ltv(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """Backtest the LTV candidates, refit the best on the data up to the as-of date and
    register every candidate (the chosen one published with its artifact)."""
    first, as_of = mlio.data_window(con)
    h = cfg.ltv_horizon_days
    key = _ltv_key(cfg, first, as_of)
    bt = ltv_backtest(con, cfg, first, as_of)
    chosen = "run_rate" if bt is None else bt["chosen"]
    params = {**_ltv_params(cfg), "features": list(ltv.LTV_FEATURES), "horizon_days": h,
              "cache_key": key, "baseline": LTV_ESTIMATOR["run_rate"],
              "selection": "lowest backtest score: |total error| per customer + MAE, in units "
              "of the mean revenue to date, customer-weighted over currencies"}
    trained_at = mlio.now()
    window = {"data_start": str(first), "as_of": str(as_of)}
    base_version = mlio.model_version("ltv", trained_at, params, window)
    artifact: dict[str, Any] = {"kind": chosen, "model": None, "features": list(ltv.LTV_FEATURES),
                                "horizon_days": h}
    train_rows = 0 if bt is None else bt["rows"]
    if chosen == "bgnbd_gg":
        now_frame = _ltv_frame(con, [as_of], None)
        artifact["model"] = ltv.ProbabilisticLTV().fit(now_frame)
        train_rows = len(now_frame)
    elif chosen == "gbm":
        fitted = _fit_gbm(con, cfg, first, as_of)
        if fitted is None:  # cannot happen when the backtest could train one; be safe
            chosen, artifact["kind"] = "run_rate", "run_rate"
        else:
            artifact["model"], train_rows = fitted
    common = {"name": "ltv", "trained_at": trained_at, "data_start": first, "data_end": as_of}
    base_scores = {} if bt is None else bt["scores"]["run_rate"]
    names = ["run_rate"] if bt is None else list(bt["scores"])
    published_version = ""
    for name in names:
        version = f"{base_version}-{LTV_SUFFIX[name]}"
        is_chosen = name == chosen
        scores = {} if bt is None else bt["scores"][name]
        if bt is None:
            decision = "published: too little history for a backtest (run-rate baseline)"
        elif is_chosen:
            decision = "published: lowest backtest error"
        else:
            decision = f"not published: {chosen} scored lower"
        metrics = {**scores, "backtest_days": None if bt is None else bt["days"],
                   "backtest_origin": None if bt is None else bt["origin"]}
        if bt is not None and bt["why_no_gbm"]:
            metrics["gbm_not_a_candidate"] = bt["why_no_gbm"]
        if is_chosen and isinstance(artifact["model"], ltv.ProbabilisticLTV):
            metrics["fitted_parameters"] = artifact["model"].describe()
        score, base = scores.get("score"), base_scores.get("score")
        gain = None if score is None or base is None else float(base) - float(score)
        mlio.register_model(
            con, version=version, train_rows=train_rows if is_chosen else (
                0 if bt is None else bt["rows"]), metrics=metrics,
            baseline_metrics=base_scores,
            params={**params, "estimator": LTV_ESTIMATOR[name], "candidate": name},
            beats_baseline=None if name == "run_rate" else bool(gain is not None and gain > 0),
            published=is_chosen, artifact=artifact if is_chosen else None,
            comparison={"as_of_date": as_of, "cache_key": key,
                        "split_date": None if bt is None else bt["origin"],
                        "baseline_name": "run_rate",
                        "metric_name": "ltv_score",
                        "metric_value": score, "baseline_value": base, "gain": gain,
                        "gain_low": scores.get("gain_low"), "gain_high": scores.get("gain_high"),
                        "decision": decision}, **common)
        if is_chosen:
            published_version = version
    out: dict[str, Any] = {"published_version": published_version, "published_model": chosen}
    if bt is not None:
        out["backtest_days"] = bt["days"]
        for name, sc in bt["scores"].items():
            out[f"{name}_total_error"] = sc["total_error"]
            out[f"{name}_per_user_error"] = sc["per_user_error"]
    return out


def score_ltv(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.ltv_predictions: predicted net revenue of the next horizon per paying user and
    currency (never summed across currencies), in ``predicted_revenue_<h>d``; the view
    ml.ltv_predictions_90d keeps the old column name for a 90-day horizon."""
    first, as_of = mlio.data_window(con)
    h = cfg.ltv_horizon_days
    key = _ltv_key(cfg, first, as_of)
    found = mlio.artifact_for(con, "ltv", as_of=as_of, cache_key=key)
    if found is None:
        train_ltv(con, cfg)
        found = mlio.artifact_for(con, "ltv", as_of=as_of, cache_key=key)
    if found is None:
        raise RuntimeError("the LTV model could not be trained")
    version, art = found
    column = ltv.prediction_column(h)
    frame = _ltv_frame(con, [as_of], None)
    if frame.empty:
        out = mlio.empty_frame({"user_id": "object", "currency": "object",
                                "as_of_date": "datetime64[s]", "revenue_to_date": "float64",
                                column: "float64", "horizon_days": "int64",
                                "model_version": "object", "published_model": "object"})
    else:
        if art["kind"] == "bgnbd_gg":
            pred = art["model"].predict(frame, h)
        elif art["kind"] == "gbm":
            pred = art["model"].predict(frame[art["features"]])
        else:
            pred = ltv.run_rate(frame, h)
        out = pd.DataFrame({
            "user_id": frame["user_id"], "currency": frame["currency"],
            "as_of_date": pd.to_datetime(frame["as_of_date"]).dt.date,
            "revenue_to_date": frame["revenue_to_date"].astype(float),
            column: np.maximum(np.asarray(pred, dtype=float), 0.0),
            "horizon_days": h, "model_version": version, "published_model": art["kind"]})
    n = mlio.replace_table(con, "ltv_predictions", out,
                           f"Predicted net revenue of the next {h} days per paying user and "
                           "currency")
    con.execute(f"""create or replace view {mlio.SCHEMA}.ltv_predictions_90d as
        select user_id, currency, as_of_date, revenue_to_date,
            {column} as predicted_revenue_90d, horizon_days, model_version
        from {mlio.SCHEMA}.ltv_predictions where horizon_days = 90""")
    return {"rows": n, "model_version": version, "published_model": art["kind"],
            "column": column}


# --------------------------------------------------------------------------- scoring


def _published(con: duckdb.DuckDBPyConnection, name: str,
               cfg: MLSettings) -> tuple[str, dict] | None:
    """The newest stored model of ``name``; trained first when there is none (None when
    the data cannot train one yet)."""
    _, as_of = mlio.data_window(con)
    found = mlio.artifact_for(con, name, as_of=as_of, max_age_days=cfg.retrain_every_days)
    if found is None:
        train_models(con, cfg)
        found = mlio.artifact_for(con, name, as_of=as_of)  # the one just trained
    return found


CHURN_COLUMNS = {"user_id": "object", "as_of_date": "datetime64[s]",
                 "churn_probability": "float64", "risk_band": "object",
                 "model_version": "object", "published_model": "object",
                 "top_features": "object"}


def score_churn(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.churn_predictions for users active in the population window at the as-of date."""
    _, as_of = mlio.data_window(con)
    found = _published(con, "churn", cfg)
    if found is None:
        n = mlio.replace_table(con, "churn_predictions", mlio.empty_frame(CHURN_COLUMNS))
        return {"rows": n, "note": "no churn model yet (too little labelled history)"}
    version, art = found
    f = mlio.features_at(con, as_of)
    f = f[f[RECENCY] < cfg.churn_population_days].reset_index(drop=True)
    X = f[art["features"]]
    p = art["model"].predict_proba(X)[:, 1] if len(X) else np.zeros(0)
    out = pd.DataFrame({
        "user_id": f["user_id"], "as_of_date": f["as_of_date"].dt.date,
        "churn_probability": p,
        "risk_band": classifiers.risk_band(p, cfg.risk_band_medium, cfg.risk_band_high),
        "model_version": version,
        "published_model": art["kind"],
        "top_features": classifiers.top_contributions(
            art["model"], X, art["reference"], cfg.top_features,
            cfg.model_workers) if len(X) else [],
    })
    n = mlio.replace_table(con, "churn_predictions", out,
                           "Probability of no active event in the next 14 days (setting)")
    return {"rows": n, "model_version": version, "high_risk": int((out.risk_band == "high").sum())}


def score_goal_success(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.goal_success_predictions for open goals (not completed by the as-of date)."""
    _, as_of = mlio.data_window(con)
    found = _published(con, "goal_success", cfg)
    g = goal_training_frame(con, cfg, open_only=True) if found else pd.DataFrame()
    if found is None or g.empty:
        out = mlio.empty_frame({"goal_id": "object", "user_id": "object",
                           "as_of_date": "datetime64[s]", "success_probability": "float64",
                           "risk_band": "object", "model_version": "object",
                           "published_model": "object", "top_features": "object"})
    else:
        version, art = found
        X = g[art["features"]]
        p = art["model"].predict_proba(X)[:, 1]
        out = pd.DataFrame({
            "goal_id": g["goal_id"], "user_id": g["user_id"], "as_of_date": as_of,
            "success_probability": p,
            # the band is the risk of failing: low success probability = high risk
            "risk_band": classifiers.risk_band(1 - p, cfg.risk_band_medium,
                                               cfg.risk_band_high),
            "model_version": version, "published_model": art["kind"],
            "top_features": classifiers.top_contributions(
                art["model"], X, art["reference"], cfg.top_features, cfg.model_workers),
        })
    n = mlio.replace_table(con, "goal_success_predictions", out,
                           "Probability that an open goal completes within the window")
    return {"rows": n}
