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
    if force:
        return True
    last = mlio.latest_trained_at(con, name)
    return last is None or (mlio.now() - last) >= timedelta(days=cfg.retrain_every_days)


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
                              min_auc_margin=cfg.min_auc_margin, **p)
    final = classifiers.fit_final(X, y, RECENCY, use_baseline=not ev.beats_baseline, **p)
    trained_at = mlio.now()
    window = {"first": str(pd.Timestamp(dates.min()).date()),
              "last": str(pd.Timestamp(dates.max()).date()), "rows": len(X)}
    params = {**p, **extra_params, "features": list(X.columns), "calibration": "sigmoid",
              "estimator": "HistGradientBoostingClassifier", "split_date": ev.split_date,
              "baseline": "logistic regression on log1p(days_since_last_active)",
              "published_model": "gbm" if ev.beats_baseline else "recency_baseline"}
    version = mlio.model_version(name, trained_at, params, window)
    artifact = {"model": final, "features": list(X.columns),
                "reference": X.median(numeric_only=True), "kind": params["published_model"]}
    common = {"name": name, "trained_at": trained_at, "train_rows": ev.train_rows,
              "data_start": mlio.as_date(dates.min()), "data_end": mlio.as_date(dates.max())}
    # the model's row: its test metrics beside the baseline's; published only if it won
    mlio.register_model(
        con, version=version, metrics={**ev.metrics, "test_rows": ev.test_rows},
        baseline_metrics=ev.baseline_metrics, params=params, beats_baseline=ev.beats_baseline,
        published=ev.beats_baseline, artifact=artifact if ev.beats_baseline else None, **common)
    published = version
    if not ev.beats_baseline:  # flagged: the baseline is what gets published, as its own row
        published = f"{version}-baseline"
        mlio.register_model(
            con, version=published, metrics={**ev.baseline_metrics, "test_rows": ev.test_rows},
            baseline_metrics=ev.baseline_metrics,
            params={**params, "estimator": "recency baseline", "replaces": version},
            beats_baseline=None, published=True, artifact=artifact, **common)
    return {"version": version, "published_version": published,
            "roc_auc": ev.metrics["roc_auc"], "baseline_roc_auc": ev.baseline_metrics["roc_auc"],
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
    """Paying users x currency at each as-of date, with their revenue to date and (when
    ``label_days``) the net revenue of the following ``label_days`` days."""
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
                count(*) filter (where p.payment_kind = 'refund' and p.paid_date <= d.as_of_date)
                    as refunds_in_currency,
                d.as_of_date - min(p.paid_date) filter (
                    where p.payment_kind = 'charge' and p.paid_date <= d.as_of_date)
                    as days_since_first_charge{label}
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
    out["days_since_first_charge"] = out["days_since_first_charge"].astype(float)
    return out.sort_values(["as_of_date", "user_id", "currency"]).reset_index(drop=True)


def _ltv_label_days(first: date, as_of: date, cfg: MLSettings) -> int:
    span = (as_of - first).days
    return int(min(cfg.ltv_horizon_days, max(7, (span - cfg.min_history_days) // 2)))


def train_ltv(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    first, as_of = mlio.data_window(con)
    label_days = _ltv_label_days(first, as_of, cfg)
    last = pd.Timestamp(as_of) - pd.Timedelta(days=label_days)
    dates = [d.date() for d in snapshot_dates(pd.Timestamp(first), last,
                                              cfg.snapshot_every_days, cfg.min_history_days)]
    frame = _ltv_frame(con, dates, label_days) if dates else pd.DataFrame()
    cols = list(ltv.LTV_FEATURES)
    p = {"seed": cfg.seed, "n_estimators": cfg.n_estimators,
         "learning_rate": cfg.learning_rate, "max_depth": cfg.max_depth}
    params = {**p, "features": cols, "label_days": label_days,
              "horizon_days": cfg.ltv_horizon_days, "estimator": "HistGradientBoostingRegressor",
              "baseline": "run rate: revenue to date / max(tenure, window) x window"}
    trained_at = mlio.now()
    if len(dates) < 2 or len(frame) < 30:
        version = mlio.model_version("ltv", trained_at, params, {"dates": [str(d) for d in dates]})
        version += "-baseline"
        mlio.register_model(
            con, name="ltv", version=version, trained_at=trained_at, train_rows=len(frame),
            metrics={"note": "too little labelled history: run-rate baseline published"},
            baseline_metrics={}, params={**params, "published_model": "run_rate_baseline"},
            beats_baseline=None, published=True, data_start=first, data_end=as_of,
            artifact={"model": None, "features": cols, "label_days": label_days,
                      "kind": "run_rate_baseline"})
        return {"version": version, "published_model": "run_rate_baseline"}
    y = frame["future_revenue"].to_numpy(dtype=float)
    train, test, cut = classifiers.time_split(frame["as_of_date"], cfg.test_snapshots)
    model = ltv.regressor(**p).fit(frame.loc[train, cols], y[train])
    m = ltv.regression_metrics(y[test], model.predict(frame.loc[test, cols]))
    mb = ltv.regression_metrics(y[test], ltv.run_rate(frame[test], label_days))
    beats = bool(m["mae"] < mb["mae"])
    final = ltv.regressor(**p).fit(frame[cols], y) if beats else None
    params.update(split_date=cut, published_model="gbm" if beats else "run_rate_baseline")
    version = mlio.model_version("ltv", trained_at, params,
                                 {"dates": [str(d) for d in dates], "rows": len(frame)})
    artifact = {"model": final, "features": cols, "label_days": label_days,
                "kind": params["published_model"]}
    common = {"name": "ltv", "trained_at": trained_at, "train_rows": int(train.sum()),
              "data_start": min(dates), "data_end": max(dates)}
    mlio.register_model(
        con, version=version, metrics={**m, "test_rows": int(test.sum())}, baseline_metrics=mb,
        params=params, beats_baseline=beats, published=beats,
        artifact=artifact if beats else None, **common)
    published = version
    if not beats:  # flagged: the run-rate baseline is published, as its own row
        published = f"{version}-baseline"
        mlio.register_model(
            con, version=published, metrics={**mb, "test_rows": int(test.sum())},
            baseline_metrics=mb, params={**params, "estimator": "run-rate baseline",
                                         "replaces": version},
            beats_baseline=None, published=True, artifact=artifact, **common)
    return {"version": version, "published_version": published, "mae": m["mae"],
            "baseline_mae": mb["mae"], "beats": beats}


def score_ltv(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.ltv_predictions: predicted net revenue of the next horizon per paying user and
    currency (never summed across currencies)."""
    _, as_of = mlio.data_window(con)
    found = mlio.latest_artifact(con, "ltv")
    if found is None:
        train_ltv(con, cfg)
        found = mlio.latest_artifact(con, "ltv")
    version, art = found
    frame = _ltv_frame(con, [as_of], None)
    if frame.empty:
        out = mlio.empty_frame({"user_id": "object", "currency": "object",
                           "as_of_date": "datetime64[s]", "revenue_to_date": "float64",
                           "predicted_revenue_90d": "float64", "horizon_days": "int64",
                           "model_version": "object"})
    else:
        window = art["label_days"]
        if art["model"] is None:
            pred = ltv.run_rate(frame, window)
        else:
            pred = art["model"].predict(frame[art["features"]])
        scale = cfg.ltv_horizon_days / window
        out = pd.DataFrame({
            "user_id": frame["user_id"], "currency": frame["currency"],
            "as_of_date": pd.to_datetime(frame["as_of_date"]).dt.date,
            "revenue_to_date": frame["revenue_to_date"].astype(float),
            "predicted_revenue_90d": np.maximum(np.asarray(pred, dtype=float) * scale, 0.0),
            "horizon_days": cfg.ltv_horizon_days, "model_version": version})
    n = mlio.replace_table(con, "ltv_predictions", out,
                           "Predicted net revenue of the next 90 days per paying user and currency")
    return {"rows": n, "model_version": version}


# --------------------------------------------------------------------------- scoring


def _published(con: duckdb.DuckDBPyConnection, name: str,
               cfg: MLSettings) -> tuple[str, dict] | None:
    """The newest stored model of ``name``; trained first when there is none (None when
    the data cannot train one yet)."""
    found = mlio.latest_artifact(con, name)
    if found is None:
        train_models(con, cfg)
        found = mlio.latest_artifact(con, name)
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
        "top_features": classifiers.top_contributions(art["model"], X, art["reference"],
                                                      cfg.top_features) if len(X) else [],
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
            "top_features": classifiers.top_contributions(art["model"], X, art["reference"],
                                                          cfg.top_features),
        })
    n = mlio.replace_table(con, "goal_success_predictions", out,
                           "Probability that an open goal completes within the window")
    return {"rows": n}
