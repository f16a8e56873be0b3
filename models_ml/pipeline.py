"""What the Dagster assets run: read frames, call the pure functions, write ``ml`` tables.

Every function takes a read-write DuckDB connection (the caller holds the writer lock)
and the :class:`~models_ml.config.MLConfig`, and returns a small summary for the asset's
metadata.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models_ml import anomalies, bkt, classifiers, drivers, experiments, forecasting, ltv, segments
from models_ml import io as mlio
from models_ml.config import MLConfig
from models_ml.features import (
    FEATURE_COLUMNS,
    RECENCY,
    compute_features,
    compute_labels,
    snapshot_dates,
)

GOAL_FEATURES = (*FEATURE_COLUMNS, "goal_streak", "goal_sessions", "goal_mastery",
                 "goal_custom", "target_value")


def _d(x: Any) -> date:
    return pd.Timestamp(x).date()


# --------------------------------------------------------------------------- features


def build_user_features(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
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


def _features_at(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    where = "" if as_of is None else f"where as_of_date = date '{as_of.isoformat()}'"
    f = con.execute(f"select * from ml.user_features {where}").df()
    f["as_of_date"] = pd.to_datetime(f["as_of_date"])
    return f


# --------------------------------------------------------------------------- training


def _needs_training(con: duckdb.DuckDBPyConnection, name: str, cfg: MLConfig,
                    force: bool) -> bool:
    if force:
        return True
    last = mlio.latest_trained_at(con, name)
    return last is None or (mlio.now() - last) >= timedelta(days=cfg.retrain_every_days)


def _gbm_params(cfg: MLConfig) -> dict[str, Any]:
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


def _train_classifier(con: duckdb.DuckDBPyConnection, cfg: MLConfig, name: str,
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
    if not ev.beats_baseline:
        version += "-baseline"
    artifact = {"model": final, "features": list(X.columns),
                "reference": X.median(numeric_only=True), "kind": params["published_model"]}
    mlio.register_model(
        con, name=name, version=version, trained_at=trained_at, train_rows=ev.train_rows,
        metrics={**ev.metrics, "test_rows": ev.test_rows}, baseline_metrics=ev.baseline_metrics,
        params=params, beats_baseline=ev.beats_baseline, published=ev.beats_baseline,
        data_start=_d(dates.min()), data_end=_d(dates.max()), artifact=artifact)
    return {"version": version, "roc_auc": ev.metrics["roc_auc"],
            "baseline_roc_auc": ev.baseline_metrics["roc_auc"],
            "beats_baseline": ev.beats_baseline}


def churn_training_frame(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> pd.DataFrame:
    """Labelled snapshots: users active in the population window at a snapshot date whose
    churn horizon ends by the as-of date; churned = no active day in the horizon."""
    _, as_of = mlio.data_window(con)
    f = _features_at(con)
    last_labelled = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.churn_horizon_days)
    f = f[(f["as_of_date"] <= last_labelled)
          & (f[RECENCY] < cfg.churn_population_days)].reset_index(drop=True)
    labels = compute_labels(con, f[["user_id", "as_of_date"]], cfg.churn_horizon_days)
    labels["as_of_date"] = pd.to_datetime(labels["as_of_date"])
    f = f.merge(labels, on=["user_id", "as_of_date"], how="inner")
    f["churned"] = (~f["active_next"].astype(bool)).astype(int)
    return f.sort_values(["as_of_date", "user_id"], kind="stable").reset_index(drop=True)


def goal_training_frame(con: duckdb.DuckDBPyConnection, cfg: MLConfig,
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


def train_models(con: duckdb.DuckDBPyConnection, cfg: MLConfig,
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


def _ltv_label_days(first: date, as_of: date, cfg: MLConfig) -> int:
    span = (as_of - first).days
    return int(min(cfg.ltv_horizon_days, max(7, (span - cfg.min_history_days) // 2)))


def train_ltv(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
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
            beats_baseline=False, published=False, data_start=first, data_end=as_of,
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
    if not beats:
        version += "-baseline"
    mlio.register_model(
        con, name="ltv", version=version, trained_at=trained_at, train_rows=int(train.sum()),
        metrics={**m, "test_rows": int(test.sum())}, baseline_metrics=mb, params=params,
        beats_baseline=beats, published=beats, data_start=min(dates), data_end=max(dates),
        artifact={"model": final, "features": cols, "label_days": label_days,
                  "kind": params["published_model"]})
    return {"version": version, "mae": m["mae"], "baseline_mae": mb["mae"], "beats": beats}


def score_ltv(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
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
        out = empty_frame({"user_id": "object", "currency": "object",
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
               cfg: MLConfig) -> tuple[str, dict] | None:
    """The newest stored model of ``name``; trained first when there is none (None when
    the data cannot train one yet)."""
    found = mlio.latest_artifact(con, name)
    if found is None:
        train_models(con, cfg)
        found = mlio.latest_artifact(con, name)
    return found


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """A frame with no rows and typed columns (so an empty ml table still has its schema)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


CHURN_COLUMNS = {"user_id": "object", "as_of_date": "datetime64[s]",
                 "churn_probability": "float64", "risk_band": "object",
                 "model_version": "object", "published_model": "object",
                 "top_features": "object"}


def score_churn(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.churn_predictions for users active in the population window at the as-of date."""
    _, as_of = mlio.data_window(con)
    found = _published(con, "churn", cfg)
    if found is None:
        n = mlio.replace_table(con, "churn_predictions", empty_frame(CHURN_COLUMNS))
        return {"rows": n, "note": "no churn model yet (too little labelled history)"}
    version, art = found
    f = _features_at(con, as_of)
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


def score_goal_success(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.goal_success_predictions for open goals (not completed by the as-of date)."""
    _, as_of = mlio.data_window(con)
    found = _published(con, "goal_success", cfg)
    g = goal_training_frame(con, cfg, open_only=True) if found else pd.DataFrame()
    if found is None or g.empty:
        out = empty_frame({"goal_id": "object", "user_id": "object",
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


# --------------------------------------------------------------------------- forecast


def forecast_engagement(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.engagement_forecast (DAU and sessions per creator and overall, 30 days, 80% and
    95% intervals) and ml.forecast_backtest (MASE of ETS and seasonal naive per series)."""
    _, as_of = mlio.data_window(con)
    daily = con.execute(
        "select date, creator_id, cast(dau as double) as dau, "
        "cast(sessions as double) as sessions from marts.engagement_daily "
        "where date <= ? order by creator_id, date", [as_of]).df()
    trained_at = mlio.now()
    params = {"methods": list(forecasting.METHODS), "season": forecasting.SEASON,
              "horizon_days": cfg.forecast_horizon_days,
              "backtest_days": cfg.forecast_backtest_days,
              "ets": "additive error, damped additive trend, additive weekly seasonality"}
    version = mlio.model_version("engagement_forecast", trained_at, params,
                                 {"as_of": str(as_of), "rows": len(daily)})
    rows, tests = [], []
    min_len = max(cfg.forecast_min_history_days, 2 * forecasting.SEASON)
    for (creator, metric), g in (daily.melt(id_vars=["date", "creator_id"],
                                            value_vars=["dau", "sessions"], var_name="metric")
                                 .groupby(["creator_id", "metric"], sort=True)):
        y = forecasting.complete_daily(g, "date", "value", pd.Timestamp(as_of))
        if len(y) < 2 * forecasting.SEASON:
            continue
        holdout = cfg.forecast_backtest_days if len(y) >= min_len + cfg.forecast_backtest_days \
            else 0
        if holdout:
            res = forecasting.forecast_series(y.to_numpy(), cfg.forecast_horizon_days, holdout)
            fc, chosen, scores = res.forecast, res.chosen, res.backtest_mase
        else:
            fc = forecasting.seasonal_naive(y.to_numpy(), cfg.forecast_horizon_days)
            fc = forecasting.Forecast(fc.method, np.maximum(fc.mean, 0),
                                      {k: np.maximum(v, 0) for k, v in fc.lower.items()},
                                      {k: np.maximum(v, 0) for k, v in fc.upper.items()})
            chosen, scores = "seasonal_naive", {}
        dates = pd.date_range(pd.Timestamp(as_of) + pd.Timedelta(days=1),
                              periods=cfg.forecast_horizon_days, freq="D")
        rows.append(pd.DataFrame({
            "date": dates.date, "creator_id": creator, "metric": metric,
            "forecast": fc.mean, "lower_80": fc.lower[0.80], "upper_80": fc.upper[0.80],
            "lower_95": fc.lower[0.95], "upper_95": fc.upper[0.95],
            "method": chosen, "model_version": version}))
        tests.append({"creator_id": creator, "metric": metric, "history_days": len(y),
                      "mase_ets": scores.get("ets", np.nan),
                      "mase_seasonal_naive": scores.get("seasonal_naive", np.nan),
                      "chosen": chosen, "model_version": version})
    out = pd.concat(rows, ignore_index=True) if rows else empty_frame(
        {"date": "datetime64[s]", "creator_id": "object", "metric": "object",
         **{c: "float64" for c in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95")},
         "method": "object", "model_version": "object"})
    bt = pd.DataFrame(tests) if tests else empty_frame(
        {"creator_id": "object", "metric": "object", "history_days": "int64",
         "mase_ets": "float64", "mase_seasonal_naive": "float64", "chosen": "object",
         "model_version": "object"})
    mlio.replace_table(con, "engagement_forecast", out,
                       "DAU and sessions forecasts per creator and overall with intervals")
    mlio.replace_table(con, "forecast_backtest", bt,
                       "Backtest MASE of each forecasting method per series")
    tested = bt.dropna(subset=["mase_ets", "mase_seasonal_naive"])
    overall = bt[(bt.creator_id == "__all__")] if len(bt) else bt
    best = np.minimum(tested["mase_ets"], tested["mase_seasonal_naive"]) if len(tested) else []
    metrics = {
        "series": len(bt), "backtested_series": len(tested),
        "median_mase_published": float(np.median(best)) if len(tested) else None,
        "median_mase_ets": float(tested["mase_ets"].median()) if len(tested) else None,
        "ets_chosen": int((bt["chosen"] == "ets").sum()) if len(bt) else 0,
        "overall": {r.metric: {"mase_ets": r.mase_ets, "mase_seasonal_naive":
                               r.mase_seasonal_naive, "chosen": r.chosen}
                    for r in overall.itertuples()},
    }
    baseline = {"median_mase_seasonal_naive":
                float(tested["mase_seasonal_naive"].median()) if len(tested) else None}
    beats = bool(len(tested) and metrics["median_mase_published"]
                 <= baseline["median_mase_seasonal_naive"])
    mlio.register_model(
        con, name="engagement_forecast", version=version, trained_at=trained_at,
        train_rows=len(daily), metrics=metrics, baseline_metrics=baseline, params=params,
        beats_baseline=beats, published=True, data_start=_d(daily["date"].min()),
        data_end=as_of)
    return {"rows": len(out), "series": len(bt), "model_version": version, **{
        f"{k}_{m}": v for m, d in metrics["overall"].items() for k, v in d.items()}}


# --------------------------------------------------------------------------- anomalies


def _daily_metrics(con: duckdb.DuckDBPyConnection, since: date, as_of: date) -> pd.DataFrame:
    """Long frame (date, creator_id, metric, value, volume) of the monitored daily metrics;
    volume is the day's count behind the value (users, sessions, responses, payments)."""
    return con.execute("""
        select date, creator_id, metric, value, volume from (
            select date, creator_id, 'dau' as metric, cast(dau as double) as value,
                cast(dau as double) as volume
            from marts.engagement_daily
            union all
            select date, creator_id, 'sessions', cast(sessions as double), sessions
            from marts.engagement_daily
            union all
            select date, creator_id, 'automation_rate', automation_rate, sessions
            from marts.conversation_daily
            union all
            select date, creator_id, 'response_time_p95', response_time_ms_p95, timed_responses
            from marts.conversation_daily
            union all
            select date, '__all__', 'fallback_rate', fallback_rate, classifications
            from marts.nlu_daily
            union all
            select date, creator_id, 'net_revenue_' || lower(currency), net_revenue, charges
            from marts.revenue_daily where creator_id = '__all__'
        )
        where date between ? and ? and value is not null
        order by metric, creator_id, date
    """, [since, as_of]).df()


def detect_metric_anomalies(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.metric_anomalies: days whose robust residual score passes the threshold."""
    _, as_of = mlio.data_window(con)
    since = as_of - timedelta(days=cfg.anomaly_lookback_days - 1)
    long = _daily_metrics(con, since, as_of)
    found = []
    for (metric, creator), g in long.groupby(["metric", "creator_id"], sort=True):
        # a small creator's day-to-day noise is not an anomaly: skip low-volume series
        if not metric.startswith("net_revenue") and g["volume"].median() < cfg.anomaly_min_volume:
            continue
        is_rate = metric in ("automation_rate", "fallback_rate", "response_time_p95")
        s = g.set_index(pd.to_datetime(g["date"]))["value"]
        if is_rate:  # a rate is undefined on days without traffic: keep the observed days
            s = s.sort_index()
        else:
            s = s.reindex(pd.date_range(s.index.min(), pd.Timestamp(as_of), freq="D"),
                          fill_value=0.0)
        if len(s) < 2 * anomalies.SEASON + 1:
            continue
        res = anomalies.series_anomalies(s.index, s.to_numpy(), cfg.anomaly_threshold)
        res = res[res["severity"] != "none"]
        if len(res):
            found.append(res.assign(creator_id=creator, metric=metric))
    cols = ["date", "creator_id", "metric", "value", "expected", "score", "direction",
            "severity"]
    out = pd.concat(found, ignore_index=True)[cols] if found else pd.DataFrame(
        {c: pd.Series(dtype="float64" if c in ("value", "expected", "score") else "object")
         for c in cols})
    out["as_of_date"] = as_of
    n = mlio.replace_table(con, "metric_anomalies", out,
                           "Days whose metric departs from its seasonal expectation")
    return {"rows": n, "high": int((out["severity"] == "high").sum())}


def detect_user_anomalies(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.user_behaviour_anomalies: engaged users whose last week departs from their own
    weekly baseline (the three weeks before), by isolation forest."""
    _, as_of = mlio.data_window(con)
    frame = con.execute(f"""
        with days as (
            select user_id, activity_date, active_events from intermediate.int_user_activity_days
            where creator_id = '__all__' and activity_date > ?::date - 28
              and activity_date <= ?::date
        ),
        sess as (
            select user_id, start_date, duration_s from intermediate.int_sessions
            where user_id is not null and start_date > ?::date - 28 and start_date <= ?::date
        ),
        d as (
            select user_id,
                count(*) filter (where activity_date > ?::date - 7) as recent_active_days,
                count(*) filter (where activity_date <= ?::date - 7) / 3.0
                    as baseline_active_days,
                coalesce(sum(active_events) filter (where activity_date > ?::date - 7), 0)
                    as recent_events,
                coalesce(sum(active_events) filter (where activity_date <= ?::date - 7), 0) / 3.0
                    as baseline_events,
                count(*) as active_days_28
            from days group by user_id
        ),
        s as (
            select user_id,
                count(*) filter (where start_date > ?::date - 7) as recent_sessions,
                count(*) filter (where start_date <= ?::date - 7) / 3.0 as baseline_sessions,
                coalesce(avg(duration_s) filter (where start_date > ?::date - 7), 0) / 60.0
                    as recent_avg_session_minutes,
                coalesce(avg(duration_s) filter (where start_date <= ?::date - 7), 0) / 60.0
                    as baseline_avg_session_minutes
            from sess group by user_id
        )
        select d.*, coalesce(s.recent_sessions, 0) as recent_sessions,
            coalesce(s.baseline_sessions, 0) as baseline_sessions,
            coalesce(s.recent_avg_session_minutes, 0) as recent_avg_session_minutes,
            coalesce(s.baseline_avg_session_minutes, 0) as baseline_avg_session_minutes
        from d left join s using (user_id)
        where d.active_days_28 >= {int(cfg.user_anomaly_min_active_days)}
        order by user_id
    """, [as_of] * 12).df()
    res = anomalies.user_behaviour_anomalies(frame, cfg.user_anomaly_contamination, cfg.seed)
    res["as_of_date"] = as_of
    for c in ("recent_events", "baseline_events", "recent_active_days", "baseline_active_days"):
        res[c] = frame[c].astype(float).to_numpy()
    n = mlio.replace_table(con, "user_behaviour_anomalies", res,
                           "Engaged users whose last week departs from their own baseline")
    return {"rows": n, "anomalies": int(res["is_anomaly"].sum()) if n else 0}


# --------------------------------------------------------------------------- segments


def segment_users(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.user_segments: k-means segments of users ever active, named from profiles."""
    _, as_of = mlio.data_window(con)
    f = _features_at(con, as_of)
    f = f[f["active_days_total"] > 0].reset_index(drop=True)
    if len(f) < cfg.segments_k_min + 2:
        seg = None
        out = pd.DataFrame({"user_id": f["user_id"], "as_of_date": as_of, "segment": 0,
                            "segment_label": "all users"})
    else:
        seg = segments.segment(f, cfg.segments_k_min, cfg.segments_k_max, cfg.seed)
        names = pd.Series(seg.names)
        out = pd.DataFrame({"user_id": f["user_id"], "as_of_date": as_of,
                            "segment": seg.labels.astype(int),
                            "segment_label": names.reindex(seg.labels).to_numpy()})
    trained_at = mlio.now()
    params = {"features": list(segments.SEGMENT_FEATURES), "k_range": [cfg.segments_k_min,
              cfg.segments_k_max], "seed": cfg.seed, "scaling": "log1p + standard"}
    version = mlio.model_version("user_segments", trained_at, params,
                                 {"as_of": str(as_of), "rows": len(f)})
    out["model_version"] = version
    profiles = {} if seg is None else {
        seg.names[i]: {k: round(float(v), 3) for k, v in seg.profiles.loc[i].items()}
        for i in seg.profiles.index}
    mlio.register_model(
        con, name="user_segments", version=version, trained_at=trained_at, train_rows=len(f),
        metrics={"k": None if seg is None else seg.k,
                 "silhouettes": {} if seg is None else seg.silhouettes, "profiles": profiles},
        baseline_metrics={}, params=params, beats_baseline=None, published=True,
        data_start=as_of, data_end=as_of)
    n = mlio.replace_table(con, "user_segments", out,
                           "k-means segments of engagement, named from their profiles")
    return {"rows": n, "k": None if seg is None else seg.k,
            "segments": sorted(set(out["segment_label"]))}


# --------------------------------------------------------------------------- experiments


def experiment_counts(con: duckdb.DuckDBPyConnection, cfg: MLConfig, primary_window: int,
                      timezone: str) -> pd.DataFrame:
    """Users and conversions per experiment x variant x metric (one SQL aggregate)."""
    _, as_of = mlio.data_window(con)
    windows = sorted({*cfg.experiment_windows_days, primary_window})
    conv = ",\n".join(
        f"count(distinct c.user_id) filter (where c.paid_at <= a.assigned_at + "
        f"interval {int(w)} day) as purchase_within_{int(w)}d" for w in windows)
    wide = con.execute(f"""
        with a as (
            select experiment_id, variant, user_id, assigned_at
            from staging.stg_experiment_assignments
            where assigned_at is not null
              and cast(timezone('{timezone}', timezone('UTC', assigned_at)) as date) <= ?::date
        ),
        c as (
            select user_id, paid_at from staging.stg_payments
            where payment_kind = 'charge' and paid_date <= ?::date
        ),
        act as (
            select distinct a.experiment_id, a.user_id
            from a join intermediate.int_user_activity_days as d
              on d.user_id = a.user_id and d.creator_id = '__all__'
             and d.activity_date > cast(a.assigned_at as date)
             and d.activity_date <= cast(a.assigned_at as date) + 7
             and d.activity_date <= ?::date
        )
        select a.experiment_id, a.variant, count(distinct a.user_id) as users,
            {conv},
            count(distinct act.user_id) as active_within_7d
        from a
        left join c on c.user_id = a.user_id and c.paid_at >= a.assigned_at
        left join act on act.experiment_id = a.experiment_id and act.user_id = a.user_id
        group by a.experiment_id, a.variant
        order by a.experiment_id, a.variant
    """, [as_of, as_of, as_of]).df()
    metrics = [f"purchase_within_{int(w)}d" for w in windows] + ["active_within_7d"]
    long = wide.melt(id_vars=["experiment_id", "variant", "users"], value_vars=metrics,
                     var_name="metric", value_name="conversions")
    return long


def analyse_experiments(con: duckdb.DuckDBPyConnection, cfg: MLConfig, primary_window: int,
                        timezone: str) -> dict[str, Any]:
    """ml.experiment_analysis: per experiment x metric x variant, the test against control
    with Holm's correction over the experiment's metrics; read by marts.experiment_results."""
    _, as_of = mlio.data_window(con)
    counts = experiment_counts(con, cfg, primary_window, timezone)
    res = experiments.analyse(counts, cfg.experiment_alpha, cfg.experiment_power)
    primary = f"purchase_within_{int(primary_window)}d"
    if res.empty:
        res = pd.DataFrame(columns=["experiment_id", "metric", "variant", "users", "conversions",
                                    "conversion_rate", "is_control", "control_variant",
                                    "srm_p_value", "rate_difference", "z_score", "p_value",
                                    "ci_low", "ci_high", "lift", "power", "mde", "mde_lift",
                                    "p_value_holm", "significant"])
    res["is_primary"] = res["metric"] == primary
    res["metrics_tested"] = res.groupby("experiment_id")["metric"].transform("nunique") \
        if len(res) else 0
    res["alpha"] = cfg.experiment_alpha
    res["as_of_date"] = as_of
    n = mlio.replace_table(con, "experiment_analysis", res,
                           "Experiment tests per metric and variant (Holm across metrics)")
    prim = res[res["is_primary"] & ~res["is_control"].astype(bool)]
    return {"rows": n, "primary": {f"{r.experiment_id}/{r.variant}": {
        "lift": r.lift, "p_value": r.p_value, "p_value_holm": r.p_value_holm,
        "significant": bool(r.significant)} for r in prim.itertuples()}}


# --------------------------------------------------------------------------- BKT


def fit_bkt_params(con: duckdb.DuckDBPyConnection, cfg: MLConfig,
                   defaults: dict[str, float]) -> dict[str, Any]:
    """ml.bkt_params: EM-fitted parameters for topics with at least ``bkt_min_attempts``
    attempts; thin topics get no row (topic_mastery keeps the defaults for them)."""
    attempts = con.execute("""
        select topic, user_id, attempt_number, cast(is_correct as double) as is_correct
        from intermediate.int_exercise_attempts
        where topic in (select topic from intermediate.int_exercise_attempts
                        where is_correct is not null group by topic having count(*) >= ?)
          and is_correct is not null
        order by topic, user_id, attempt_number
    """, [cfg.bkt_min_attempts]).df()
    start = bkt.BKTParams(defaults["p_init"], defaults["p_transit"], defaults["p_guess"],
                          defaults["p_slip"])
    fitted_at = mlio.now()
    rows = []
    for topic, g in attempts.groupby("topic", sort=True):
        seqs = bkt.sequences_from_frame(g)
        p, ll, it = bkt.fit(seqs, start, cfg.bkt_em_iterations)
        rows.append({"topic": topic, "p_init": p.p_init, "p_transit": p.p_transit,
                     "p_guess": p.p_guess, "p_slip": p.p_slip, "source": "em",
                     "fitted_at": fitted_at, "attempts": len(g), "users": len(seqs),
                     "log_likelihood": ll, "iterations": it})
    out = pd.DataFrame(rows, columns=["topic", "p_init", "p_transit", "p_guess", "p_slip",
                                      "source", "fitted_at", "attempts", "users",
                                      "log_likelihood", "iterations"])
    n = mlio.replace_table(con, "bkt_params", out,
                           "BKT parameters fitted by EM per topic with enough attempts")
    return {"topics_fitted": n}


# --------------------------------------------------------------------------- drivers


def engagement_drivers(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.engagement_drivers: permutation importance and BH-corrected correlations of the
    features with retention over the next ``retention_days`` days."""
    _, as_of = mlio.data_window(con)
    f = _features_at(con)
    last = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.retention_days)
    f = f[(f["as_of_date"] <= last) & (f[RECENCY] < cfg.churn_population_days)]
    f = f.reset_index(drop=True)
    cols = list(FEATURE_COLUMNS)
    empty = pd.DataFrame(columns=["feature", "importance_mean", "importance_std",
                                  "correlation", "p_value", "q_value", "significant",
                                  "direction", "as_of_date", "model_version"])
    if f.empty or f["as_of_date"].nunique() < 2:
        mlio.replace_table(con, "engagement_drivers", empty)
        return {"rows": 0, "note": "fewer than two labelled snapshots"}
    lab = compute_labels(con, f[["user_id", "as_of_date"]], cfg.retention_days)
    lab["as_of_date"] = pd.to_datetime(lab["as_of_date"])
    f = f.merge(lab, on=["user_id", "as_of_date"])
    y = f["active_next"].astype(int).to_numpy()
    train, test, cut = classifiers.time_split(f["as_of_date"], 1)
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        mlio.replace_table(con, "engagement_drivers", empty)
        return {"rows": 0, "note": "one class only"}
    imp, auc = drivers.importance(
        f.loc[train, cols], y[train], f.loc[test, cols], y[test], seed=cfg.seed,
        repeats=cfg.drivers_repeats, n_estimators=cfg.n_estimators,
        learning_rate=cfg.learning_rate, max_depth=cfg.max_depth)
    corr = drivers.correlations(f[cols], y, cfg.experiment_alpha)
    out = imp.merge(corr, on="feature").sort_values("importance_mean", ascending=False)
    trained_at = mlio.now()
    params = {"features": cols, "label": f"active in the next {cfg.retention_days} days",
              "seed": cfg.seed, "repeats": cfg.drivers_repeats, "split_date": cut}
    version = mlio.model_version("engagement_drivers", trained_at, params,
                                 {"as_of": str(as_of), "rows": len(f)})
    out["as_of_date"] = as_of
    out["model_version"] = version
    mlio.register_model(
        con, name="engagement_drivers", version=version, trained_at=trained_at,
        train_rows=int(train.sum()), metrics={"roc_auc": auc, "test_rows": int(test.sum()),
                                              "retention_rate": float(y.mean())},
        baseline_metrics={}, params=params, beats_baseline=None, published=True,
        data_start=_d(f["as_of_date"].min()), data_end=_d(f["as_of_date"].max()))
    n = mlio.replace_table(con, "engagement_drivers", out.reset_index(drop=True),
                           "Features against 30-day retention: importance and correlation")
    return {"rows": n, "roc_auc": auc, "top": out["feature"].head(3).tolist()}


# --------------------------------------------------------------------------- insights


def generate_insights(con: duckdb.DuckDBPyConnection, cfg: MLConfig) -> dict[str, Any]:
    """ml.insights: ranked statements from anomalies, experiments, forecast, drivers, churn
    and segments (whichever of those tables exist)."""
    from models_ml import insights

    _, as_of = mlio.data_window(con)

    def read(table: str) -> pd.DataFrame:
        return con.execute(f"select * from ml.{table}").df() \
            if mlio.table_exists(con, "ml", table) else pd.DataFrame()

    history = con.execute(
        "select date, 'dau' as metric, cast(dau as double) as value from marts.engagement_daily "
        "where creator_id = '__all__' union all select date, 'sessions', "
        "cast(sessions as double) from marts.engagement_daily where creator_id = '__all__' "
        "order by date").df()
    fc = read("engagement_forecast")
    rows = [
        *insights.from_anomalies(read("metric_anomalies"), as_of),
        *insights.from_experiments(read("experiment_analysis"), as_of),
        *(insights.from_forecast(fc, history, as_of) if len(fc) else []),
        *insights.from_drivers(read("engagement_drivers"), as_of),
        *insights.from_churn(read("churn_predictions"), as_of),
        *insights.from_segments(read("user_segments"), as_of),
    ]
    out = insights.rank(rows)
    n = mlio.replace_table(con, "insights", out, "Ranked insights from the ml analyses")
    return {"rows": n, "kinds": sorted(set(out["kind"])) if n else []}
