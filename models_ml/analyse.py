"""Analyses: engagement forecast, metric and user anomalies, segments, experiments, BKT
parameters, engagement drivers and insights (same calling convention as
:mod:`models_ml.predict`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models_ml import (
    anomalies,
    bkt,
    classifiers,
    drivers,
    experiments,
    fit_store,
    forecasting,
    metric_specs,
    segments,
)
from models_ml import io as mlio
from models_ml.features import (
    FEATURE_COLUMNS,
    RECENCY,
    compute_labels,
)
from warehouse.db import table_exists
from warehouse.settings import MLSettings

# --------------------------------------------------------------------------- forecast


def forecast_engagement(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.engagement_forecast (DAU and sessions per creator and overall, 30 days, 80% and
    95% intervals from the backtest errors) and ml.forecast_backtest (rolling-origin MASE
    of ETS, Theta and seasonal naive per series, the method published and why the
    seasonal naive was published instead of a model)."""
    _, as_of = mlio.data_window(con)
    daily = con.execute(
        "select date, creator_id, cast(dau as double) as dau, "
        "cast(sessions as double) as sessions from marts.engagement_daily "
        "where date <= ? order by creator_id, date", [as_of]).df()
    trained_at = mlio.now()
    params = {"methods": list(forecasting.METHODS), "season": forecasting.SEASON,
              "horizon_days": cfg.forecast_horizon_days,
              "backtest_days": cfg.forecast_backtest_days,
              "backtest_origins": cfg.forecast_backtest_origins,
              "intervals": "empirical quantiles of the backtest h-step errors",
              "ets": "additive error, damped additive trend, additive weekly seasonality",
              "theta": "statsmodels ThetaModel, weekly deseasonalisation"}
    version = mlio.model_version("engagement_forecast", trained_at, params,
                                 {"as_of": str(as_of), "rows": len(daily)})
    rows, tests = [], []
    keyed = []
    for (creator, metric), g in (daily.melt(id_vars=["date", "creator_id"],
                                            value_vars=["dau", "sessions"], var_name="metric")
                                 .groupby(["creator_id", "metric"], sort=True)):
        y = forecasting.complete_daily(g, "date", "value", pd.Timestamp(as_of))
        if len(y) >= 2 * forecasting.SEASON:
            keyed.append((creator, metric, y))
    results = forecasting.forecast_many(
        [y.to_numpy() for _, _, y in keyed], cfg.forecast_horizon_days,
        cfg.forecast_backtest_days, workers=cfg.forecast_workers,
        fits=fit_store.load(con), max_origins=cfg.forecast_backtest_origins,
        min_train=max(cfg.forecast_min_history_days, 2 * forecasting.SEASON))
    fits = fit_store.save(con, results, trained_at.date())
    for (creator, metric, y), res in zip(keyed, results, strict=True):
        fc, chosen, scores = res.forecast, res.chosen, res.backtest_mase
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
                      "chosen": chosen, "model_version": version,
                      "mase_theta": scores.get("theta", np.nan),
                      "best_model": res.best, "fallback_reason": res.fallback_reason or None,
                      "backtest_origins": res.origins,
                      "coverage_80": res.coverage.get(0.80, np.nan),
                      "coverage_95": res.coverage.get(0.95, np.nan)})
    out = pd.concat(rows, ignore_index=True) if rows else mlio.empty_frame(
        {"date": "datetime64[s]", "creator_id": "object", "metric": "object",
         **{c: "float64" for c in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95")},
         "method": "object", "model_version": "object"})
    bt = pd.DataFrame(tests) if tests else mlio.empty_frame(
        {"creator_id": "object", "metric": "object", "history_days": "int64",
         "mase_ets": "float64", "mase_seasonal_naive": "float64", "chosen": "object",
         "model_version": "object", "mase_theta": "float64", "best_model": "object",
         "fallback_reason": "object", "backtest_origins": "int64",
         "coverage_80": "float64", "coverage_95": "float64"})
    bt["fallback_reason"] = bt["fallback_reason"].astype("string")
    mlio.replace_table(con, "engagement_forecast", out,
                       "DAU and sessions forecasts per creator and overall with intervals")
    mlio.replace_table(con, "forecast_backtest", bt,
                       "Rolling-origin backtest MASE of each forecasting method per series, "
                       "the method published and why the seasonal naive was (fallback_reason)")
    tested = bt.dropna(subset=["mase_seasonal_naive"])
    overall = bt[(bt.creator_id == "__all__")] if len(bt) else bt
    published = [r[f"mase_{r['chosen']}"] for _, r in tested.iterrows()]
    metrics = {
        "series": len(bt), "backtested_series": len(tested),
        "median_mase_published": float(np.median(published)) if len(tested) else None,
        "median_mase_ets": float(tested["mase_ets"].median()) if len(tested) else None,
        "median_mase_theta": float(tested["mase_theta"].median()) if len(tested) else None,
        "ets_chosen": int((bt["chosen"] == "ets").sum()) if len(bt) else 0,
        "theta_chosen": int((bt["chosen"] == "theta").sum()) if len(bt) else 0,
        "fallbacks": int(bt["fallback_reason"].notna().sum()) if len(bt) else 0,
        "median_coverage_80": float(tested["coverage_80"].median()) if len(tested) else None,
        "median_coverage_95": float(tested["coverage_95"].median()) if len(tested) else None,
        "overall": {r.metric: {"mase_ets": r.mase_ets, "mase_theta": r.mase_theta,
                               "mase_seasonal_naive": r.mase_seasonal_naive,
                               "chosen": r.chosen, "fallback_reason":
                                   r.fallback_reason if isinstance(r.fallback_reason, str)
                                   else None}
                    for r in overall.itertuples()},
    }
    baseline = {"median_mase_seasonal_naive":
                float(tested["mase_seasonal_naive"].median()) if len(tested) else None}
    beats = bool(len(tested) and metrics["median_mase_published"]
                 <= baseline["median_mase_seasonal_naive"])
    mlio.register_model(
        con, name="engagement_forecast", version=version, trained_at=trained_at,
        train_rows=len(daily), metrics=metrics, baseline_metrics=baseline, params=params,
        beats_baseline=beats, published=True, data_start=mlio.as_date(daily["date"].min()),
        data_end=as_of)
    return {"rows": len(out), "series": len(bt), "model_version": version,
            "fits": fits, "fits_reused": sum(r.fits_reused for r in results), **{
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
            -- a rise in sessions per active user is the first sign of automated traffic
            select date, creator_id, 'sessions_per_user', sessions / dau, dau
            from marts.engagement_daily where dau > 0
            union all
            select date, creator_id, 'events_per_user', active_events / dau, dau
            from marts.engagement_daily where dau > 0
            union all
            select date, creator_id, 'automation_rate', automation_rate, sessions
            from marts.conversation_daily
            union all
            select date, creator_id, 'response_time_p95', response_time_ms_p95, timed_responses
            from marts.conversation_daily
            union all
            select date, '__all__', 'fallback_rate', fallback_rate, classifications
            from marts.nlu_daily where creator_id = '__all__'
            union all
            select date, creator_id, 'net_revenue_' || lower(currency), net_revenue, charges
            from marts.revenue_daily where creator_id = '__all__'
            union all
            -- the count of purchases: what a checkout outage loses, judged as a count
            select paid_date, '__all__', 'purchases', cast(count(*) as double),
                cast(count(*) as double)
            from staging.stg_payments where payment_kind = 'charge' and paid_date is not null
            group by paid_date
        )
        where date between ? and ? and value is not null
        order by metric, creator_id, date
    """, [since, as_of]).df()


FUNNEL_TRENDS_SQL = """
    -- each funnel's entrants of a day (step 1) and the share of them reaching its last
    -- step, over complete daily entry periods
    with t as (
        select funnel, cast(entry_period as date) as date, step, users, conversion_rate
        from marts.funnel_trends
        where entry_period_grain = 'day' and is_complete
    ), last_step as (select funnel, max(step) as step from t group by funnel)
    select t.date, '__all__' as creator_id, 'funnel_conversion_' || t.funnel as metric,
        t.conversion_rate as value, cast(first.users as double) as volume
    from t join last_step using (funnel, step)
    join t as first on first.funnel = t.funnel and first.date = t.date and first.step = 1
    where t.date between ? and ?
"""

FUNNEL_STEP_COUNTS_SQL = """
    -- each funnel of marts.funnel_steps on its daily step counts: the users doing its
    -- first step's event on a day, and the share of them doing its last step's event the
    -- same day (funnels whose first or last step filters on event fields are left out)
    with ends as (
        select funnel,
            arg_min(event_type, step) as first_event, arg_max(event_type, step) as last_event,
            bool_and(step_filters = '{}' or step_filters is null) as unfiltered
        from marts.funnel_steps where creator_id = '__all__' group by funnel
    ), entered as (
        select distinct e.funnel, ev.event_date as date, ev.user_id
        from ends as e join staging.stg_events as ev on ev.event_type = e.first_event
        where e.unfiltered and ev.user_id is not null and ev.event_date between ? and ?
    ), reached as (
        select distinct e.funnel, ev.event_date as date, ev.user_id
        from ends as e join staging.stg_events as ev on ev.event_type = e.last_event
        where e.unfiltered and ev.user_id is not null and ev.event_date between ? and ?
    )
    select en.date, '__all__' as creator_id, 'funnel_conversion_' || en.funnel as metric,
        count(r.user_id) / count(*) as value, cast(count(*) as double) as volume
    from entered as en left join reached as r using (funnel, date, user_id)
    group by en.funnel, en.date
"""


def funnel_daily_conversion(con: duckdb.DuckDBPyConnection, since: date,
                            as_of: date) -> pd.DataFrame:
    """Long frame (date, creator_id, metric, value, volume) of each funnel's daily
    conversion: from marts.funnel_trends (daily entry periods) when it exists, else from
    the funnel's daily step counts (same-day conversion from its first to its last step)."""
    if table_exists(con, "marts", "funnel_trends"):
        return con.execute(FUNNEL_TRENDS_SQL, [since, as_of]).df()
    if not table_exists(con, "marts", "funnel_steps"):
        return pd.DataFrame(columns=["date", "creator_id", "metric", "value", "volume"])
    return con.execute(FUNNEL_STEP_COUNTS_SQL, [since, as_of] * 2).df()


def detect_metric_anomalies(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.metric_anomalies: days whose robust residual score passes the threshold."""
    _, as_of = mlio.data_window(con)
    since = as_of - timedelta(days=cfg.anomaly_lookback_days - 1)
    long = pd.concat([_daily_metrics(con, since, as_of),
                      funnel_daily_conversion(con, since, as_of)], ignore_index=True)
    found = []
    for (metric, creator), g in long.groupby(["metric", "creator_id"], sort=True):
        # a small creator's day-to-day noise is not an anomaly: skip low-volume series
        # (the platform's revenue and purchases are judged at any volume)
        if not metric_specs.spec(metric).any_volume \
                and g["volume"].median() < cfg.anomaly_min_volume:
            continue
        unit = metric_specs.spec(metric).unit
        g = g.set_index(pd.to_datetime(g["date"])).sort_index()
        s, volume = g["value"], g["volume"].astype(float)
        if unit in ("count", "money"):  # a day without rows is a day of zero
            days = pd.date_range(s.index.min(), pd.Timestamp(as_of), freq="D")
            s, volume = s.reindex(days, fill_value=0.0), volume.reindex(days, fill_value=0.0)
        # a rate or ratio is undefined on days without traffic: keep the observed days
        if len(s) < 2 * anomalies.SEASON + 1:
            continue
        res = anomalies.series_anomalies(s.index, s.to_numpy(), cfg.anomaly_threshold,
                                         unit=unit, volume=volume.to_numpy())
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


def detect_user_anomalies(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
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
        ),
        per_day as (
            select user_id, start_date, count(*) as n from sess group by user_id, start_date
        ),
        peak as (
            select user_id,
                coalesce(max(n) filter (where start_date > ?::date - 7), 0)
                    as recent_peak_sessions,
                coalesce(avg(n) filter (where start_date <= ?::date - 7), 0)
                    as baseline_sessions_per_day
            from per_day group by user_id
        )
        select d.*, coalesce(s.recent_sessions, 0) as recent_sessions,
            coalesce(peak.recent_peak_sessions, 0) as recent_peak_sessions,
            coalesce(peak.baseline_sessions_per_day, 0) as baseline_sessions_per_day,
            coalesce(s.baseline_sessions, 0) as baseline_sessions,
            coalesce(s.recent_avg_session_minutes, 0) as recent_avg_session_minutes,
            coalesce(s.baseline_avg_session_minutes, 0) as baseline_avg_session_minutes
        from d left join s using (user_id) left join peak using (user_id)
        where d.active_days_28 >= {int(cfg.user_anomaly_min_active_days)}
        order by user_id
    """, [as_of] * 14).df()
    res = anomalies.user_behaviour_anomalies(frame, cfg.user_anomaly_contamination, cfg.seed)
    res["as_of_date"] = as_of
    for c in ("recent_events", "baseline_events", "recent_active_days", "baseline_active_days"):
        res[c] = frame[c].astype(float).to_numpy()
    n = mlio.replace_table(con, "user_behaviour_anomalies", res,
                           "Engaged users whose last week departs from their own baseline")
    return {"rows": n, "anomalies": int(res["is_anomaly"].sum()) if n else 0,
            "bursts": int(res["is_burst"].sum()) if n else 0}


# --------------------------------------------------------------------------- segments


def segment_users(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.user_segments: k-means segments of users ever active, named from profiles."""
    _, as_of = mlio.data_window(con)
    f = mlio.features_at(con, as_of)
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


def experiment_counts(con: duckdb.DuckDBPyConnection, cfg: MLSettings, primary_window: int,
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


def experiment_user_values(con: duckdb.DuckDBPyConnection, primary_window: int,
                           timezone: str) -> pd.DataFrame:
    """Per assigned user, the continuous metric ``revenue_within_{w}d`` (charges in the
    ``w`` days from assignment) and its pre-period value (charges in the ``w`` days
    before assignment, the CUPED covariate)."""
    _, as_of = mlio.data_window(con)
    w = int(primary_window)
    return con.execute(f"""
        with a as (
            select experiment_id, variant, user_id, assigned_at
            from staging.stg_experiment_assignments
            where assigned_at is not null
              and cast(timezone('{timezone}', timezone('UTC', assigned_at)) as date) <= ?::date
        ),
        c as (
            select user_id, paid_at, cast(amount as double) as amount from staging.stg_payments
            where payment_kind = 'charge' and paid_date <= ?::date
        )
        select a.experiment_id, 'revenue_within_{w}d' as metric, a.variant, a.user_id,
            coalesce(sum(c.amount) filter (where c.paid_at >= a.assigned_at
                and c.paid_at <= a.assigned_at + interval {w} day), 0) as value,
            coalesce(sum(c.amount) filter (where c.paid_at < a.assigned_at
                and c.paid_at >= a.assigned_at - interval {w} day), 0) as pre_value
        from a left join c on c.user_id = a.user_id
        group by a.experiment_id, a.variant, a.user_id
        order by a.experiment_id, a.variant, a.user_id
    """, [as_of, as_of]).df()


EXPERIMENT_COLUMNS = [
    "experiment_id", "metric", "metric_kind", "test", "variant", "users", "conversions",
    "conversion_rate", "mean_value", "is_control", "control_variant", "srm_p_value",
    "srm_ok", "rate_difference", "mean_difference", "z_score", "t_stat", "p_value",
    "ci_low", "ci_high", "lift", "variance_reduction", "msprt_p_value",
    "prob_beat_control", "mde_preregistered", "power", "mde", "mde_lift", "p_value_holm",
    "significant"]


def _conversion_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The conversion-metric rows of ml.experiment_analysis: the insights phrase every
    experiment row as "x of n users converted", which a revenue metric is not."""
    if "metric_kind" not in frame.columns:
        return frame
    return frame[frame["metric_kind"] == "conversion"].reset_index(drop=True)


def analyse_experiments(con: duckdb.DuckDBPyConnection, cfg: MLSettings, primary_window: int,
                        timezone: str) -> dict[str, Any]:
    """ml.experiment_analysis: per experiment x metric x variant, the test against control
    (conversion metrics: two-proportion z; revenue: Welch or CUPED), the always-valid
    mSPRT p-value, the probability to beat control, the SRM gate, Holm's correction over
    the experiment's metrics and the power against the pre-registered MDE. Reads the
    staging models after dbt; no dbt model reads it (marts.experiment_results holds the
    primary window's test without these columns; the serving database publishes it)."""
    _, as_of = mlio.data_window(con)
    counts = experiment_counts(con, cfg, primary_window, timezone)
    conv = experiments.analyse(counts, cfg.experiment_alpha, cfg.experiment_power,
                               cfg.experiment_mde)
    cont = experiments.analyse_continuous(
        experiment_user_values(con, primary_window, timezone), cfg.experiment_alpha,
        cfg.experiment_power, cfg.experiment_mde)
    parts = [f for f in (conv, cont) if not f.empty]
    res = experiments.holm_by_experiment(
        pd.concat(parts, ignore_index=True), cfg.experiment_alpha) if parts else pd.DataFrame()
    primary = f"purchase_within_{int(primary_window)}d"
    res = res.reindex(columns=EXPERIMENT_COLUMNS)
    for col in ("metric_kind", "test", "experiment_id", "metric", "variant",
                "control_variant"):
        res[col] = res[col].astype("string")
    for col in ("is_control", "srm_ok", "significant"):
        res[col] = res[col].astype(bool)
    for col in EXPERIMENT_COLUMNS[5:]:
        if col not in ("is_control", "srm_ok", "significant", "control_variant"):
            res[col] = res[col].astype("float64")
    res["is_primary"] = res["metric"] == primary
    res["metrics_tested"] = res.groupby("experiment_id")["metric"].transform("nunique") \
        if len(res) else 0
    res["alpha"] = cfg.experiment_alpha
    res["as_of_date"] = as_of
    n = mlio.replace_table(con, "experiment_analysis", res,
                           "Experiment tests per metric and variant: z-test (conversion), "
                           "Welch or CUPED (revenue), mSPRT, probability to beat control, "
                           "SRM gate, Holm across metrics, power at the pre-registered MDE")
    prim = res[res["is_primary"] & ~res["is_control"].astype(bool)]
    return {"rows": n, "primary": {f"{r.experiment_id}/{r.variant}": {
        "users": r.users, "conversion_rate": r.conversion_rate, "lift": r.lift,
        "rate_difference": r.rate_difference, "ci_low": r.ci_low, "ci_high": r.ci_high,
        "p_value": r.p_value, "p_value_holm": r.p_value_holm,
        "msprt_p_value": r.msprt_p_value, "prob_beat_control": r.prob_beat_control,
        "power_at_preregistered_mde": r.power, "mde_lift": r.mde_lift,
        "significant": bool(r.significant)}
        for r in prim.itertuples()}}


# --------------------------------------------------------------------------- BKT


BKT_ATTEMPTS_SQL = """
    -- users are resolved users (metrics.md Identity, as int_identity_resolution): the
    -- event's user_id, else its device's nearest identified event before / after, else
    -- its session's only user. Only the devices and sessions of attempts without a
    -- user_id are resolved (the others keep their own).
    with events as (
        select * from raw.events where is_current
    ), unresolved as (
        select anonymous_id, session_id
        from events
        where event_type = 'exercise_attempted' and user_id is null
          and topic is not null and correct is not null
    ), devices as (
        select event_id,
               last_value(user_id ignore nulls) over (
                   partition by anonymous_id order by event_ts, event_id
                   rows between unbounded preceding and 1 preceding) as user_before,
               first_value(user_id ignore nulls) over (
                   partition by anonymous_id order by event_ts, event_id
                   rows between 1 following and unbounded following) as user_after
        from events
        where anonymous_id in (select anonymous_id from unresolved)
    ), sessions as (
        select session_id,
               case when count(distinct user_id) = 1 then min(user_id) end as session_user
        from events
        where session_id in (select session_id from unresolved)
        group by session_id
    ), resolved as (
        select e.topic, e.event_ts, e.event_id, e.correct,
               coalesce(e.user_id, d.user_before, d.user_after, s.session_user) as user_id
        from events e
        left join devices d on d.event_id = e.event_id
        left join sessions s on s.session_id = e.session_id
        where e.event_type = 'exercise_attempted'
          and e.topic is not null and e.correct is not null
    ), attempts as (
        select topic, user_id, cast(correct as double) as is_correct,
               row_number() over (partition by user_id, topic
                                  order by event_ts, event_id) as attempt_number
        from resolved
        where user_id is not null
    )
    select topic, user_id, attempt_number, is_correct
    from attempts
    where topic in (select topic from attempts group by topic having count(*) >= ?)
    order by topic, user_id, attempt_number
"""


def fit_bkt_params(con: duckdb.DuckDBPyConnection, cfg: MLSettings,
                   defaults: dict[str, float]) -> dict[str, Any]:
    """ml.bkt_params: EM-fitted parameters for topics with at least ``bkt_min_attempts``
    attempts; thin topics get no row (topic_mastery keeps the defaults for them).

    Runs before dbt, on the raw layer: the attempts are those of int_exercise_attempts
    (current copies of exercise_attempted events of a known user on a topic with a known
    outcome, in time order per user and topic, ties by event_id), so dbt reads the
    fitted parameters in the same build and never waits for an ml step."""
    attempts = con.execute(BKT_ATTEMPTS_SQL, [cfg.bkt_min_attempts]).df() if table_exists(
        con, "raw", "events") else pd.DataFrame(
            columns=["topic", "user_id", "attempt_number", "is_correct"])
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


def engagement_drivers(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.engagement_drivers: permutation importance and BH-corrected correlations of the
    features with retention over the next ``retention_days`` days."""
    _, as_of = mlio.data_window(con)
    f = mlio.features_at(con)
    last = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.retention_days)
    f = f[(f["as_of_date"] <= last) & (f[RECENCY] < cfg.churn_population_days)]
    f = f.reset_index(drop=True)
    cols = drivers.driver_features(FEATURE_COLUMNS)
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
        learning_rate=cfg.learning_rate, max_depth=cfg.max_depth,
        max_rows=cfg.drivers_max_rows, workers=cfg.model_workers)
    corr = drivers.correlations(f[cols], y, cfg.experiment_alpha)
    out = imp.merge(corr, on="feature").sort_values("importance_mean", ascending=False)
    trained_at = mlio.now()
    params = {"features": cols, "label": f"active in the next {cfg.retention_days} days",
              "seed": cfg.seed, "repeats": cfg.drivers_repeats,
              "max_rows": cfg.drivers_max_rows, "split_date": cut}
    version = mlio.model_version("engagement_drivers", trained_at, params,
                                 {"as_of": str(as_of), "rows": len(f)})
    out["as_of_date"] = as_of
    out["model_version"] = version
    mlio.register_model(
        con, name="engagement_drivers", version=version, trained_at=trained_at,
        train_rows=int(train.sum()), metrics={"roc_auc": auc, "test_rows": int(test.sum()),
                                              "retention_rate": float(y.mean())},
        baseline_metrics={}, params=params, beats_baseline=None, published=True,
        data_start=mlio.as_date(f["as_of_date"].min()),
        data_end=mlio.as_date(f["as_of_date"].max()))
    n = mlio.replace_table(con, "engagement_drivers", out.reset_index(drop=True),
                           "Features against 30-day retention: importance and correlation")
    return {"rows": n, "roc_auc": auc, "top": out["feature"].head(3).tolist()}


# --------------------------------------------------------------------------- insights


def generate_insights(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """ml.insights: per creator and overall, the significant findings of the marts and the
    ml tables (:mod:`models_ml.insights`) not emitted unchanged before. Rows of earlier
    as-of dates stay; a rerun of the same as-of date replaces that date's rows."""
    import logging

    from models_ml import insights

    log = logging.getLogger(__name__)
    _, as_of = mlio.data_window(con)

    def read(schema: str, table: str, sql: str | None = None) -> pd.DataFrame:
        if not table_exists(con, schema, table):
            return pd.DataFrame()
        return con.execute(sql or f"select * from {schema}.{table}", [as_of] if sql else []).df()

    inputs = insights.InsightInputs(
        engagement=read("marts", "engagement_daily",
                        "select date, creator_id, cast(dau as double) as dau, "
                        "cast(mau as double) as mau, cast(sessions as double) as sessions "
                        "from marts.engagement_daily where date <= ?"),
        conversation=read("marts", "conversation_daily",
                          "select date, creator_id, cast(sessions as double) as sessions, "
                          "cast(automated_sessions as double) as automated_sessions "
                          "from marts.conversation_daily where date <= ?"),
        revenue=read("marts", "revenue_daily",
                     "select date, currency, creator_id, cast(net_revenue as double) "
                     "as net_revenue from marts.revenue_daily where date <= ?"),
        goals=read("marts", "goal_progress",
                   "select completed_on from marts.goal_progress "
                   "where completed_on is not null and completed_on <= ?"),
        anomalies=read("ml", "metric_anomalies"),
        experiments=_conversion_rows(read("ml", "experiment_analysis")),
        forecast=read("ml", "engagement_forecast"),
        drivers=read("ml", "engagement_drivers"),
        churn=read("ml", "churn_predictions"),
        segments=read("ml", "user_segments"))
    params = insights.InsightParams(recent_days=cfg.insights_recent_days,
                                    pattern_weeks=cfg.insights_pattern_weeks)
    # findings name creators by name (reports and alerts show them), not by id
    names = dict(con.execute("select creator_id, creator_name from staging.stg_creators")
                 .fetchall()) if table_exists(con, "staging", "stg_creators") else {}
    candidates = insights.name_creators(insights.build(inputs, as_of, params), names)
    history = read("ml", "insights")
    new = insights.select(candidates, history, as_of, cfg.insights_min_significance,
                          cfg.insights_max_per_creator, cfg.insights_max_per_kind)
    table = insights.merge_history(history, new, as_of)
    comment = "Ranked insights from the marts and ml analyses, per creator and overall"
    mlio.ensure_schema(con)
    con.register("_insights_frame", table)
    try:  # one statement, typed even when empty
        con.execute("create or replace table ml.insights as select " + ", ".join(
            f"cast({c} as {t}) as {c}" for c, t in insights.SQL_TYPES.items())
            + " from _insights_frame")
    finally:
        con.unregister("_insights_frame")
    con.execute(f"comment on table ml.insights is '{comment}'")
    for column, text in insights.COLUMN_DOCS.items():
        con.execute(f"comment on column ml.insights.{column} is "
                    f"'{text.replace(chr(39), chr(39) * 2)}'")
    log.info("insights for %s: %d candidates, %d significant, %d emitted (%d rows kept)",
             as_of, len(candidates),
             sum(r["significance"] >= cfg.insights_min_significance for r in candidates),
             len(new), len(table))
    return {"rows": len(new), "candidates": len(candidates), "history_rows": len(table),
            "kinds": sorted(set(new["kind"])) if len(new) else [],
            "creators": int(new["creator_id"].nunique()) if len(new) else 0}
