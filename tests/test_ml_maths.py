"""The maths of models_ml on small cases with known answers."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from models_ml import anomalies, bkt, classifiers, drivers, experiments, forecasting, segments
from models_ml.metrics import classification_metrics, lift_top_decile, mase

# --------------------------------------------------------------------------- metrics


def test_lift_top_decile_and_mase_known_values():
    y = np.array([1] + [0] * 9 + [1] + [0] * 9)  # base rate 0.1
    score = np.arange(20)[::-1].astype(float)  # rows 0 and 1 on top: one positive of two
    assert lift_top_decile(y, score) == pytest.approx(0.5 / 0.1)
    history = np.array([1, 2, 3, 4, 5, 6, 7, 3, 4, 5, 6, 7, 8, 9], dtype=float)  # scale = 2
    assert mase(np.array([10.0, 10.0]), np.array([9.0, 12.0]), history) == pytest.approx(0.75)
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


# --------------------------------------------------------------------------- classifiers


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    gen = np.random.default_rng(seed)
    X = pd.DataFrame({"days_since_last_active": gen.integers(0, 28, n).astype(float),
                      "events_7": gen.poisson(5, n).astype(float),
                      "noise": gen.normal(size=n)})
    dates = pd.Series(pd.to_datetime("2026-01-01") + pd.to_timedelta(np.arange(n) % 4 * 7, "D"))
    return X, dates


def test_a_model_with_signal_beyond_recency_beats_the_baseline():
    X, dates = _frame(1200, 1)
    gen = np.random.default_rng(2)
    logit = -1 + 0.08 * X["days_since_last_active"] - 0.6 * (X["events_7"] - 5)
    y = (gen.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    ev = classifiers.evaluate(X, y, dates, "days_since_last_active", seed=0, n_estimators=60,
                              learning_rate=0.1, max_depth=3, folds=3, test_dates=1)
    assert ev.beats_baseline
    assert ev.metrics["roc_auc"] > ev.baseline_metrics["roc_auc"] + 0.05
    assert ev.split_date == "2026-01-22" and ev.test_rows == 300


def test_a_model_that_cannot_beat_recency_is_flagged_and_the_baseline_published():
    X, dates = _frame(800, 3)
    y = (X["days_since_last_active"] > 13).astype(int).to_numpy()  # recency alone is perfect
    ev = classifiers.evaluate(X, y, dates, "days_since_last_active", seed=0, n_estimators=30,
                              learning_rate=0.1, max_depth=2, folds=3, test_dates=1)
    assert ev.baseline_metrics["roc_auc"] == pytest.approx(1.0)
    assert not ev.beats_baseline
    final = classifiers.fit_final(X, y, "days_since_last_active", seed=0, n_estimators=30,
                                  learning_rate=0.1, max_depth=2, folds=3, use_baseline=True)
    assert isinstance(final, classifiers.BaselineModel)
    p = final.predict_proba(X)[:, 1]
    assert p[y == 1].min() > p[y == 0].max()


def test_risk_bands_and_top_contributions():
    assert list(classifiers.risk_band(np.array([0.1, 0.3, 0.59, 0.6]), 0.3, 0.6)) == [
        "low", "medium", "medium", "high"]
    X, _ = _frame(600, 4)
    y = (X["events_7"] < 4).astype(int).to_numpy()
    model = classifiers.gbm(0, 40, 0.1, 2, 3).fit(X, y)
    risky = X[X["events_7"] < 3].head(10)
    tops = [json.loads(t) for t in classifiers.top_contributions(model, risky, X.median(), 2)]
    # the only informative feature explains every high risk, with a positive contribution
    assert all(t[0]["feature"] == "events_7" and t[0]["contribution"] > 0.1 for t in tops)


def _naive_occlusion(model, X: pd.DataFrame, reference: pd.Series) -> np.ndarray:
    """The reference implementation: one full prediction per feature."""
    p = model.predict_proba(X)[:, 1]
    out = np.zeros(X.shape)
    for j, c in enumerate(X.columns):
        Xr = X.copy()
        Xr[c] = reference[c]
        out[:, j] = p - model.predict_proba(Xr)[:, 1]
    return out


def test_occlusion_predicting_only_changed_rows_equals_one_prediction_per_feature():
    X, _ = _frame(600, 6)
    X["plan_pro"] = (np.arange(len(X)) % 5 == 0).astype(float)  # mostly equal to the median
    X.loc[::7, "noise"] = np.nan
    y = ((X["events_7"] < 4) | (X["plan_pro"] == 1)).astype(int).to_numpy()
    reference = X.median()
    gbm = classifiers.gbm(0, 40, 0.1, 2, 3).fit(X, y)
    baseline = classifiers.fit_final(X, y, "days_since_last_active", seed=0, n_estimators=30,
                                     learning_rate=0.1, max_depth=2, folds=3, use_baseline=True)
    for model in (gbm, baseline):
        got = classifiers.occlusion_contributions(model, X, reference)
        np.testing.assert_array_equal(got, _naive_occlusion(model, X, reference))
    assert classifiers.occlusion_contributions(gbm, X.iloc[:0], reference).shape == (0, 4)


def test_predictions_in_worker_processes_equal_those_in_process(
        monkeypatch: pytest.MonkeyPatch):
    """Past ROWS_BEFORE_WORKERS rows the explanations' and the drivers' predictions run
    in two processes, past FIT_ROWS_BEFORE_WORKERS the calibration folds' fits: the same
    floats as in this process (rows and folds are independent; every feature's
    permutations come from one seed)."""
    from models_ml import parallel

    X, _ = _frame(900, 6)
    y = (X["events_7"] < 4).astype(int).to_numpy()
    gbm = classifiers.gbm(0, 40, 0.1, 2, 3).fit(X, y)
    here = classifiers.occlusion_contributions(gbm, X, X.median(), workers=2)
    kw = {"seed": 0, "repeats": 2, "n_estimators": 30, "learning_rate": 0.1, "max_depth": 2}
    args = (X[:600], y[:600], X[600:], y[600:])
    every_here, sampled_here = (drivers.importance(*args, **kw, max_rows=m, workers=2)
                                for m in (None, 200))
    monkeypatch.setattr(parallel, "ROWS_BEFORE_WORKERS", 100)
    assert parallel.workers_for(100, 2) == 2 and parallel.workers_for(99, 2) == 1
    np.testing.assert_array_equal(
        parallel.predict_positive(gbm, X, workers=2), gbm.predict_proba(X)[:, 1])
    np.testing.assert_array_equal(
        classifiers.occlusion_contributions(gbm, X, X.median(), workers=2), here)
    for m, (imp, auc) in zip((None, 200), (every_here, sampled_here), strict=True):
        apart, apart_auc = drivers.importance(*args, **kw, max_rows=m, workers=2)
        pd.testing.assert_frame_equal(apart, imp)
        assert apart_auc == auc
    # a calibrated classifier's folds fitted side by side: the same model, no n_jobs kept
    fit_kw = {"seed": 0, "n_estimators": 30, "learning_rate": 0.1, "max_depth": 2, "folds": 3}
    alone = classifiers.fit_final(X, y, "days_since_last_active", use_baseline=False, **fit_kw)
    monkeypatch.setattr(parallel, "FIT_ROWS_BEFORE_WORKERS", 100)
    together = classifiers.fit_final(X, y, "days_since_last_active", use_baseline=False,
                                     workers=2, **fit_kw)
    assert together.get_params()["n_jobs"] is None
    np.testing.assert_array_equal(together.predict_proba(X), alone.predict_proba(X))


# --------------------------------------------------------------------------- forecasting


def _weekly_series(seed: int, count: int, days: int) -> list[np.ndarray]:
    """``count`` noisy daily series with a weekly pattern, each its own level and swing."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    return [np.maximum(0, level + amp * np.sin(t * 2 * np.pi / 7) + rng.normal(0, 3, days))
            for level, amp in zip(rng.uniform(20, 80, count), rng.uniform(0, 15, count),
                                  strict=True)]


def _assert_same_forecast(a: forecasting.SeriesResult, b: forecasting.SeriesResult) -> None:
    """The same choice, backtest scores, forecast and intervals, to the last bit."""
    assert (a.chosen, a.best, a.origins, a.backtest_mase) == \
        (b.chosen, b.best, b.origins, b.backtest_mase)
    np.testing.assert_array_equal(a.forecast.mean, b.forecast.mean)
    for lv in forecasting.LEVELS:
        np.testing.assert_array_equal(a.forecast.lower[lv], b.forecast.lower[lv])
        np.testing.assert_array_equal(a.forecast.upper[lv], b.forecast.upper[lv])


def test_forecasts_fitted_in_worker_processes_equal_those_fitted_in_process(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """forecast_many in two spawned processes gives the same floats, in the same order, as
    one process: how the work runs is not part of a model version."""
    ys = _weekly_series(3, 6, 49)
    monkeypatch.setattr(forecasting, "SERIES_BEFORE_WORKERS", 2)
    kwargs = {"max_origins": 3, "min_train": 14}
    here = forecasting.forecast_many(ys, 14, 7, workers=1, **kwargs)
    with caplog.at_level("INFO", logger=forecasting.__name__):
        apart = forecasting.forecast_many(ys, 14, 7, workers=2, **kwargs)
    assert "forecast 6 series in 2 processes" in caplog.text, caplog.text
    assert len(apart) == len(here) == 6
    for a, b in zip(here, apart, strict=True):
        _assert_same_forecast(a, b)


def test_a_run_a_week_later_reuses_the_stored_fits_of_its_older_origins(
        monkeypatch: pytest.MonkeyPatch):
    """The run seven days later backtests from the same histories at every origin but
    its newest: those fits come from the store (in worker processes too), and every
    forecast, interval and score equals fitting everything again. A history changed
    anywhere has other keys: fitted again. The store keeps a fit for KEEP_DAYS days after
    its last use."""
    import duckdb

    from models_ml import fit_store

    ys = _weekly_series(11, 5, 70)
    monkeypatch.setattr(forecasting, "SERIES_BEFORE_WORKERS", 2)
    kwargs = {"max_origins": 4, "min_train": 14}
    week_before = forecasting.forecast_many([y[:63] for y in ys], 14, 7, **kwargs)
    con = duckdb.connect()
    fit_store.save(con, week_before, pd.Timestamp("2026-03-01").date())
    known = fit_store.load(con)
    assert known.keys() == {k for r in week_before for k in r.fits}
    changed = [y.copy() for y in ys]
    changed[0][5] += 1.0  # an old day of the first series, in every backtest history
    stored = forecasting.forecast_many(changed, 14, 7, workers=2, fits=known, **kwargs)
    fitted = forecasting.forecast_many(changed, 14, 7, **kwargs)
    for i, (a, b) in enumerate(zip(stored, fitted, strict=True)):
        _assert_same_forecast(a, b)
        assert a.fits.keys() == b.fits.keys() and b.fits_reused == 0
        # ETS and Theta at the three older origins; the changed series: nothing
        assert a.fits_reused == (0 if i == 0 else 2 * (a.origins - 1)), (i, a.fits_reused)
    # kept while used, dropped KEEP_DAYS days after the last use
    fit_store.save(con, stored[1:2], pd.Timestamp("2026-03-08").date())
    fit_store.save(con, [], pd.Timestamp("2026-03-17").date())
    assert fit_store.load(con).keys() == stored[1].fits.keys()
    fit_store.save(con, [], pd.Timestamp("2026-03-24").date())
    assert fit_store.load(con) == {}


def test_a_pure_weekly_pattern_is_forecast_near_exactly():
    pattern = np.array([100, 120, 130, 125, 110, 60, 50], dtype=float)
    y = np.tile(pattern, 8)
    expected = np.tile(pattern, 5)[:30]
    for name, fn in forecasting.POINT_METHODS.items():
        assert np.max(np.abs(fn(y, 30, 7) - expected)) < 0.01 * pattern.mean(), name
    res = forecasting.forecast_series(y, 30, 14)
    assert res.backtest_mase["seasonal_naive"] == pytest.approx(0.0, abs=1e-9)
    fc = res.forecast
    assert np.all(fc.lower[0.95] <= fc.lower[0.80] + 1e-9)
    assert np.all(fc.upper[0.80] <= fc.upper[0.95] + 1e-9)


def test_a_model_is_chosen_on_a_trend_and_a_noise_series_falls_back_to_seasonal_naive():
    gen = np.random.default_rng(5)
    t = np.arange(84)
    pattern = np.array([10, 12, 13, 12, 11, 6, 5], dtype=float)
    y = 50 + 1.5 * t + pattern[t % 7] + gen.normal(0, 1.0, len(t))
    res = forecasting.forecast_series(y, 30, 14)
    assert res.origins >= 2
    assert min(res.backtest_mase["ets"], res.backtest_mase["theta"]) \
        < 0.5 * res.backtest_mase["seasonal_naive"]
    assert res.chosen in {"ets", "theta"} and res.fallback_reason == ""
    short = forecasting.forecast_series(y[:20], 30, 14)
    assert short.chosen == "seasonal_naive" and "too short" in short.fallback_reason


def test_a_model_worse_than_seasonal_naive_is_published_as_seasonal_naive(monkeypatch):
    gen = np.random.default_rng(2)
    t = np.arange(70)
    y = 100 + 20 * np.sin(2 * np.pi * t / 7) + gen.normal(0, 1, len(t))
    monkeypatch.setitem(forecasting.POINT_METHODS, "theta",
                        lambda h, n, s: np.full(n, float(np.mean(h))))
    res = forecasting.forecast_series(y, 30, 14, methods=("theta",))
    assert res.backtest_mase["theta"] > res.backtest_mase["seasonal_naive"]
    assert res.chosen == "seasonal_naive" and res.forecast.method == "seasonal_naive"
    assert res.fallback_reason == "no model beat the seasonal naive in the backtest"
    np.testing.assert_allclose(res.forecast.mean[:7], y[-7:])


def _seasonal_ar(gen: np.random.Generator, n: int) -> np.ndarray:
    """A weekly pattern + AR(1) noise + white noise around a positive level."""
    pattern = gen.uniform(-10, 10, 7)
    phi, e = gen.uniform(0.2, 0.7), np.zeros(n)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + gen.normal(0, 3)
    return 100 + pattern[np.arange(n) % 7] + e + gen.normal(0, 2, n)


def test_empirical_intervals_cover_at_their_nominal_rate_over_many_series():
    """200 simulated series: 80/95 % intervals from the backtest errors (8 rolling
    origins, seasonal naive for speed; the calibration does not depend on the method)
    cover the 14 held-out days at the nominal rate within 5 points."""
    gen = np.random.default_rng(19)
    inside: dict[float, list[float]] = {0.80: [], 0.95: []}
    for _ in range(200):
        y = _seasonal_ar(gen, 130)
        hist, future = y[:-14], y[-14:]
        res = forecasting.forecast_series(hist, 14, 14, non_negative=False, max_origins=8,
                                          methods=("seasonal_naive",))
        assert res.origins == 8
        for lv in inside:
            ok = (future >= res.forecast.lower[lv]) & (future <= res.forecast.upper[lv])
            inside[lv].append(float(ok.mean()))
    cover = {lv: float(np.mean(v)) for lv, v in inside.items()}
    assert abs(cover[0.80] - 0.80) <= 0.05, cover
    assert abs(cover[0.95] - 0.95) <= 0.05, cover
    # the coverage the backtest reports of itself (leave one origin out) agrees
    held = forecasting.held_out_coverage(
        forecasting.rolling_backtest(hist, 14, 8, methods=("seasonal_naive",))
        .errors["seasonal_naive"])
    assert 0.5 <= held[0.80] <= 1 and held[0.80] <= held[0.95]
    assert np.isnan(forecasting.held_out_coverage(np.zeros((1, 14)))[0.80])


def test_theta_intervals_cover_at_their_nominal_rate():
    """The same check with Theta chosen (fewer series: it refits per origin)."""
    gen = np.random.default_rng(7)
    inside: dict[float, list[float]] = {0.80: [], 0.95: []}
    for _ in range(40):
        y = _seasonal_ar(gen, 130)
        hist, future = y[:-14], y[-14:]
        res = forecasting.forecast_series(hist, 14, 14, non_negative=False, max_origins=8,
                                          methods=("theta",))
        for lv in inside:
            ok = (future >= res.forecast.lower[lv]) & (future <= res.forecast.upper[lv])
            inside[lv].append(float(ok.mean()))
    cover = {lv: float(np.mean(v)) for lv, v in inside.items()}
    assert abs(cover[0.80] - 0.80) <= 0.07, cover
    assert abs(cover[0.95] - 0.95) <= 0.07, cover


# --------------------------------------------------------------------------- anomalies


def test_a_planted_anomaly_is_found_and_nothing_else():
    gen = np.random.default_rng(7)
    pattern = np.array([100, 105, 103, 101, 95, 70, 65], dtype=float)
    y = np.tile(pattern, 10) + gen.normal(0, 2.0, 70)
    y[45] += 40  # a spike
    y[60] -= 35  # a drop
    dates = pd.date_range("2026-01-01", periods=70)
    res = anomalies.series_anomalies(dates, y, threshold=3.5)
    flagged = res[res["severity"] != "none"]
    assert set(flagged.index) == {45, 60}
    assert res.loc[45, "direction"] == "up" and res.loc[60, "direction"] == "down"
    assert res.loc[45, "severity"] == "high"
    assert res.loc[45, "expected"] == pytest.approx(pattern[45 % 7], abs=6)


def test_robust_z_and_severity():
    z = anomalies.robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert z[2] == 0 and z[4] > 30
    assert list(anomalies.severity(np.array([1, -3.5, 6, -9]), 3.5)) == [
        "none", "low", "medium", "high"]


def test_isolation_forest_flags_the_user_whose_week_collapsed():
    gen = np.random.default_rng(8)
    n = 200
    base = gen.uniform(3, 6, n)
    frame = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(n)],
        "baseline_active_days": base, "recent_active_days": base + gen.normal(0, 0.3, n),
        "baseline_events": base * 5, "recent_events": base * 5 + gen.normal(0, 1, n),
        "baseline_sessions": base, "recent_sessions": base + gen.normal(0, 0.3, n),
        "baseline_avg_session_minutes": np.full(n, 8.0),
        "recent_avg_session_minutes": 8 + gen.normal(0, 0.3, n)})
    frame.loc[0, ["recent_active_days", "recent_events", "recent_sessions",
                  "recent_avg_session_minutes"]] = [0, 0, 0, 0]
    res = anomalies.user_behaviour_anomalies(frame, 0.02, seed=0)
    assert bool(res.loc[0, "is_anomaly"]) and res.loc[0, "direction"] == "down"
    assert res["score"].idxmax() == 0


# --------------------------------------------------------------------------- experiments


def _simulate(gen: np.random.Generator, n: int, p0: float, p1: float) -> dict[str, float]:
    x0, x1 = gen.binomial(n, p0), gen.binomial(n, p1)
    return experiments.two_proportion_test(x1, n, x0, n)


def test_a_planted_effect_is_significant_and_a_null_one_at_the_error_rate():
    gen = np.random.default_rng(11)
    null = [_simulate(gen, 2000, 0.12, 0.12)["p_value"] < 0.05 for _ in range(400)]
    planted = [_simulate(gen, 2000, 0.12, 0.168)["p_value"] < 0.05 for _ in range(200)]
    # 5% expected; 400 runs: sd 1.1 points
    assert 0.02 <= np.mean(null) <= 0.085
    assert np.mean(planted) >= 0.95  # the power at this size is 0.99
    assert experiments.power(0.12, 0.168, 2000, 2000) == pytest.approx(0.99, abs=0.01)


def test_test_statistics_on_known_counts():
    r = experiments.two_proportion_test(50, 100, 25, 100)
    pooled = 75 / 200
    z = 0.25 / np.sqrt(pooled * (1 - pooled) * 0.02)
    assert r["z_score"] == pytest.approx(z) and r["lift"] == pytest.approx(1.0)
    se = np.sqrt(0.25 / 100 + 0.1875 / 100)
    assert r["ci_low"] == pytest.approx(0.25 - 1.959964 * se, abs=1e-6)
    assert experiments.srm_p_value([500, 500]) == pytest.approx(1.0)
    assert experiments.srm_p_value([600, 400]) < 1e-9
    mde = experiments.mde(0.12, 2000, 2000)
    assert experiments.power(0.12, 0.12 + mde, 2000, 2000) == pytest.approx(0.8, abs=0.05)


def test_holm_and_benjamini_hochberg_known_values():
    p = np.array([0.01, 0.04, 0.03, np.nan])
    assert np.allclose(experiments.holm(p)[:3], [0.03, 0.06, 0.06])
    assert np.isnan(experiments.holm(p)[3])
    assert np.allclose(experiments.benjamini_hochberg(np.array([0.01, 0.04, 0.03])),
                       [0.03, 0.04, 0.04])


def test_analyse_corrects_across_metrics_and_names_the_control():
    counts = pd.DataFrame({
        "experiment_id": ["e"] * 4, "metric": ["m1", "m1", "m2", "m2"],
        "variant": ["control", "b", "control", "b"], "users": [1000, 1000, 1000, 1000],
        "conversions": [100, 140, 100, 104]})
    res = experiments.analyse(counts, 0.05, 0.8).set_index(["metric", "variant"])
    assert res.loc[("m1", "control"), "is_control"]
    assert res.loc[("m1", "b"), "lift"] == pytest.approx(0.4)
    assert res.loc[("m1", "b"), "p_value_holm"] == pytest.approx(
        min(1, 2 * res.loc[("m1", "b"), "p_value"]))
    assert res.loc[("m1", "b"), "significant"] and not res.loc[("m2", "b"), "significant"]


def test_a_sample_ratio_mismatch_voids_significance():
    counts = pd.DataFrame({
        "experiment_id": ["e"] * 2, "metric": ["m1"] * 2, "variant": ["control", "b"],
        "users": [1000, 1300], "conversions": [100, 200]})
    r = experiments.analyse(counts, 0.05, 0.8).set_index("variant").loc["b"]
    assert r["p_value_holm"] < 0.05 and r["srm_p_value"] < experiments.SRM_ALPHA
    assert not r["srm_ok"] and not r["significant"]


def test_msprt_peeking_daily_keeps_the_false_positive_rate_under_alpha():
    """A/A: 500 experiments of 28 days, 150 users a day per arm, 10 % conversion; the
    always-valid p-value is looked at every day and the experiment stopped at the first
    p < 0.05. The naive z-test under the same peeking is far above alpha (the reason)."""
    gen = np.random.default_rng(2017)
    sims, days, per_day, p, alpha = 500, 28, 150, 0.10, 0.05
    x1 = gen.binomial(per_day, p, (sims, days)).cumsum(axis=1)
    x0 = gen.binomial(per_day, p, (sims, days)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    d = (x1 - x0) / n
    pooled = (x1 + x0) / (2 * n)
    var = pooled * (1 - pooled) * 2 / n
    pv = experiments.msprt_p_value(d, var, tau=0.10 * p)
    fpr = float(np.mean((pv < alpha).any(axis=1)))
    naive = float(np.mean((2 * norm.sf(np.abs(d) / np.sqrt(var)) < alpha).any(axis=1)))
    assert fpr <= alpha, fpr
    assert naive > 2 * alpha, naive
    # and it still finds a real 30 % lift within the 28 days most of the time
    y1 = gen.binomial(per_day, 1.3 * p, (200, days)).cumsum(axis=1)
    y0 = gen.binomial(per_day, p, (200, days)).cumsum(axis=1)
    pooled = (y1 + y0) / (2 * n)
    pv = experiments.msprt_p_value((y1 - y0) / n, pooled * (1 - pooled) * 2 / n, 0.10 * p)
    assert np.mean(pv[:, -1] < alpha) >= 0.8


def test_cuped_reduces_variance_on_correlated_pre_period_data_and_stays_unbiased():
    gen = np.random.default_rng(31)
    diffs_raw, diffs_cuped, reductions = [], [], []
    for _ in range(300):
        n = 400
        pre = gen.gamma(2.0, 5.0, 2 * n)
        y = 0.8 * pre + gen.normal(0, 3.0, 2 * n)
        y[:n] += 1.0  # the true effect
        raw = experiments.welch_test(y[:n], y[n:])
        cup = experiments.cuped_test(y[:n], pre[:n], y[n:], pre[n:])
        diffs_raw.append(raw["mean_difference"])
        diffs_cuped.append(cup["mean_difference"])
        reductions.append(cup["variance_reduction"])
    # corr(y, pre)^2 = 0.64 * 50 / (0.64 * 50 + 9) = 0.78
    assert np.mean(reductions) == pytest.approx(0.78, abs=0.05)
    assert np.var(diffs_cuped) < 0.35 * np.var(diffs_raw)
    assert np.mean(diffs_cuped) == pytest.approx(1.0, abs=3 * np.std(diffs_cuped) / np.sqrt(300))


def test_welch_interval_covers_the_true_difference_at_its_nominal_rate():
    gen = np.random.default_rng(41)
    covered = []
    for _ in range(1000):
        y1 = gen.lognormal(1.0, 0.8, 150) + 0.5
        y0 = gen.lognormal(1.0, 0.5, 300)
        true = np.exp(1.0 + 0.8 ** 2 / 2) + 0.5 - np.exp(1.0 + 0.5 ** 2 / 2)
        r = experiments.welch_test(y1, y0)
        covered.append(r["ci_low"] <= true <= r["ci_high"])
    assert np.mean(covered) == pytest.approx(0.95, abs=0.02)


def test_probability_to_beat_control():
    assert experiments.prob_beat_control_beta(60, 500, 40, 500) > 0.95
    assert experiments.prob_beat_control_beta(50, 500, 50, 500) == pytest.approx(0.5, abs=0.02)
    assert experiments.prob_beat_control_normal(0.0, 1.0) == pytest.approx(0.5)
    assert experiments.prob_beat_control_normal(1.96, 1.0) == pytest.approx(0.975, abs=1e-3)


def test_analyse_continuous_uses_cuped_when_the_pre_period_varies():
    gen = np.random.default_rng(5)
    n = 600
    pre = gen.gamma(2.0, 5.0, 2 * n)
    y = 0.8 * pre + gen.normal(0, 3.0, 2 * n)
    y[:n] += 1.5
    values = pd.DataFrame({"experiment_id": "e", "metric": "revenue",
                           "variant": ["b"] * n + ["control"] * n,
                           "user_id": range(2 * n), "value": y, "pre_value": pre})
    res = experiments.analyse_continuous(values, 0.05, 0.8, 0.10).set_index("variant")
    b = res.loc["b"]
    assert b["test"] == "cuped_welch" and b["variance_reduction"] > 0.5
    assert b["ci_low"] <= 1.5 <= b["ci_high"] and b["significant"]
    assert b["prob_beat_control"] > 0.99 and b["msprt_p_value"] >= b["p_value"]
    no_pre = experiments.analyse_continuous(values.assign(pre_value=0.0), 0.05, 0.8, 0.10)
    assert set(no_pre["test"]) == {"welch"}


# --------------------------------------------------------------------------- BKT


def _simulate_bkt(n_users: int, n_attempts: int, p: bkt.BKTParams,
                  seed: int) -> list[np.ndarray]:
    """Sequences drawn from the BKT model with parameters ``p``: the known truth."""
    gen = np.random.default_rng(seed)
    known = gen.random(n_users) < p.p_init
    out = np.zeros((n_users, n_attempts))
    for t in range(n_attempts):
        pc = np.where(known, 1 - p.p_slip, p.p_guess)
        out[:, t] = gen.random(n_users) < pc
        known = known | (gen.random(n_users) < p.p_transit)
    return list(out)


def test_em_recovers_bkt_parameters_and_never_lowers_the_likelihood():
    true = bkt.BKTParams(p_init=0.3, p_transit=0.15, p_guess=0.2, p_slip=0.1)
    seqs = _simulate_bkt(1500, 10, true, seed=3)
    start = bkt.BKTParams(0.2, 0.1, 0.3, 0.2)
    obs, mask = bkt.pad_sequences(seqs)
    lls, p = [], start
    for _ in range(5):
        lls.append(bkt.log_likelihood(obs, mask, p))
        p = bkt.em_step(obs, mask, p)
    assert all(b >= a - 1e-6 for a, b in pairwise(lls))
    fitted, _, _ = bkt.fit(seqs, start, 200)
    for name in ("p_init", "p_transit", "p_guess", "p_slip"):
        assert getattr(fitted, name) == pytest.approx(getattr(true, name), abs=0.05), name


def _dense_em_step(obs: np.ndarray, mask: np.ndarray, p: bkt.BKTParams) -> bkt.BKTParams:
    """Baum-Welch over every cell of the padded matrix, padding carried through: the
    textbook recursion the active-rows em_step must equal."""
    n, T = obs.shape
    e0 = np.where(obs == 1, p.p_guess, 1 - p.p_guess)
    e1 = np.where(obs == 1, 1 - p.p_slip, p.p_slip)
    A = np.array([[1 - p.p_transit, p.p_transit], [0.0, 1.0]])
    alpha, scale = np.zeros((n, T, 2)), np.ones((n, T))
    prior = np.array([1 - p.p_init, p.p_init])
    for t in range(T):
        pred = np.tile(prior, (n, 1)) if t == 0 else alpha[:, t - 1] @ A
        a = pred * np.stack([e0[:, t], e1[:, t]], axis=1)
        s = a.sum(axis=1)
        s = np.where(mask[:, t] & (s > 0), s, 1.0)
        alpha[:, t] = np.where(mask[:, t, None], a / s[:, None], alpha[:, t - 1] if t else prior)
        scale[:, t] = s
    beta = np.ones((n, T, 2))
    for t in range(T - 2, -1, -1):
        b = (np.stack([e0[:, t + 1], e1[:, t + 1]], axis=1) * beta[:, t + 1]) @ A.T
        beta[:, t] = np.where(mask[:, t + 1, None], b / scale[:, t + 1, None], 1.0)
    gamma = alpha * beta
    gamma /= gamma.sum(axis=2, keepdims=True)
    num = sum((alpha[:, t, 0] * p.p_transit * e1[:, t + 1] * beta[:, t + 1, 1]
               / scale[:, t + 1])[mask[:, t + 1]].sum() for t in range(T - 1))
    den = sum(gamma[:, t, 0][mask[:, t + 1]].sum() for t in range(T - 1))
    g0, g1, o = gamma[:, :, 0][mask], gamma[:, :, 1][mask], obs[mask]
    return bkt.BKTParams(float(gamma[:, 0, 1][mask[:, 0]].mean()), float(num / den),
                         float((g0 * o).sum() / g0.sum()),
                         float((g1 * (1 - o)).sum() / g1.sum())).clipped()


def test_em_on_sequences_of_uneven_length_visits_only_real_attempts():
    """Sequences of 1 to 40 attempts (most short, as real topics have them): em_step and
    log_likelihood, which compute each position for the sequences that reach it, equal
    the recursion over every padded cell; the fit still recovers the known truth."""
    true = bkt.BKTParams(p_init=0.25, p_transit=0.2, p_guess=0.15, p_slip=0.1)
    gen = np.random.default_rng(8)
    lengths = np.minimum(gen.geometric(0.12, 3000), 40)
    seqs = [s[:k] for s, k in zip(_simulate_bkt(3000, 40, true, seed=9), lengths, strict=True)]
    obs, mask = bkt.pad_sequences(seqs)
    assert mask.sum() < 0.4 * mask.size  # mostly padding
    p = bkt.BKTParams(0.2, 0.1, 0.3, 0.2)
    for _ in range(3):
        dense = _dense_em_step(obs, mask, p)
        p_next = bkt.em_step(obs, mask, p)
        for name in ("p_init", "p_transit", "p_guess", "p_slip"):
            assert getattr(p_next, name) == pytest.approx(getattr(dense, name), rel=1e-12)
        e0 = np.where(obs == 1, p.p_guess, 1 - p.p_guess)
        e1 = np.where(obs == 1, 1 - p.p_slip, p.p_slip)
        a1, ll = np.full(len(obs), p.p_init), 0.0
        for t in range(obs.shape[1]):
            like = (1 - a1) * e0[:, t] + a1 * e1[:, t]
            ll += np.log(like[mask[:, t]]).sum()
            post = a1 * e1[:, t] / like
            a1 = np.where(mask[:, t], post + (1 - post) * p.p_transit, a1)
        assert bkt.log_likelihood(obs, mask, p) == pytest.approx(ll, rel=1e-12)
        p = p_next
    fitted, _, _ = bkt.fit(seqs, bkt.BKTParams(0.2, 0.1, 0.3, 0.2), 200)
    for name in ("p_init", "p_transit", "p_guess", "p_slip"):
        assert getattr(fitted, name) == pytest.approx(getattr(true, name), abs=0.05), name


def test_bkt_sequences_of_uneven_length_from_a_frame():
    frame = pd.DataFrame({"user_id": ["b", "a", "a", "b", "a"],
                          "attempt_number": [1, 2, 1, 2, 3],
                          "is_correct": [1.0, 0.0, 1.0, 1.0, 1.0]})
    seqs = bkt.sequences_from_frame(frame)
    assert [list(s) for s in seqs] == [[1.0, 0.0, 1.0], [1.0, 1.0]]
    obs, mask = bkt.pad_sequences(seqs)
    assert obs.shape == (2, 3) and mask.sum() == 5


# --------------------------------------------------------------------------- segments, drivers


@pytest.mark.parametrize("n", [300, 6500])
def test_silhouettes_from_one_distance_matrix_equal_silhouette_score(n):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    gen = np.random.default_rng(11)
    X = np.concatenate([gen.normal(c, 1.0, (n // 3, 4)) for c in (0.0, 4.0, 8.0)])
    k, scores = segments.choose_k(X, 2, 4, seed=3)
    for kk, got in scores.items():
        labels = KMeans(n_clusters=kk, n_init=5, random_state=3).fit_predict(X)
        want = silhouette_score(X, labels, sample_size=min(len(X), 5000), random_state=3)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert k == 3


def test_kmeans_finds_three_planted_groups_and_names_them():
    gen = np.random.default_rng(4)

    def group(n, active, events, recency, attempts, trend):
        return pd.DataFrame({
            "active_days_28": gen.normal(active, 1, n).clip(0),
            "events_28": gen.normal(events, 3, n).clip(0),
            "sessions_28": gen.normal(active, 1, n).clip(0),
            "attempts_28": gen.normal(attempts, 2, n).clip(0),
            "days_since_last_active": gen.normal(recency, 1, n).clip(0),
            "activity_trend": gen.normal(trend, 0.02, n),
            "goals_completed": np.zeros(n), "charges_to_date": np.zeros(n)})

    f = pd.concat([group(80, 22, 150, 0.5, 40, 0.0), group(80, 8, 40, 3, 2, -0.2),
                   group(80, 0.3, 1, 25, 0, 0.0)], ignore_index=True)
    seg = segments.segment(f, 2, 6, seed=0)
    assert seg.k == 3
    labels = pd.Series(seg.labels)
    assert labels[:80].nunique() == labels[80:160].nunique() == labels[160:].nunique() == 1
    assert seg.names[int(labels[0])] == "power learners"
    assert seg.names[int(labels[100])] == "at risk"
    assert seg.names[int(labels[200])] == "dormant"
    assert len(set(seg.names.values())) == 3


def test_drivers_correlations_are_benjamini_hochberg_corrected():
    gen = np.random.default_rng(6)
    n = 600
    X = pd.DataFrame({"signal": gen.normal(size=n),
                      **{f"noise_{i}": gen.normal(size=n) for i in range(8)}})
    y = (X["signal"] + gen.normal(0, 1, n) > 0).astype(int).to_numpy()
    corr = drivers.correlations(X, y, 0.05).set_index("feature")
    assert corr.loc["signal", "significant"] and corr.loc["signal", "direction"] == "positive"
    assert corr.drop(index="signal")["significant"].sum() <= 1
    assert (corr["q_value"] >= corr["p_value"] - 1e-12).all()
    imp, auc = drivers.importance(X[:400], y[:400], X[400:], y[400:], seed=0, repeats=3,
                                  n_estimators=40, learning_rate=0.1, max_depth=2)
    assert imp.set_index("feature")["importance_mean"].idxmax() == "signal" and auc > 0.7
    # up to max_rows held-out rows: every row, the same result; beyond it each repeat
    # scores a sample (another result), and the known signal still comes first
    # a constant column no tree can split on: permuting it changes no prediction
    Xc = X.assign(unused=0.0)
    args = (Xc[:400], y[:400], Xc[400:], y[400:])
    kw = {"seed": 0, "repeats": 3, "n_estimators": 40, "learning_rate": 0.1, "max_depth": 2}
    every, every_auc = drivers.importance(*args, **kw)
    same, same_auc = drivers.importance(*args, **kw, max_rows=200)
    pd.testing.assert_frame_equal(same, every)
    assert same_auc == every_auc
    sampled, sampled_auc = drivers.importance(*args, **kw, max_rows=120)
    assert sampled_auc == every_auc  # the model and its AUC: every held-out row
    assert not np.allclose(sampled["importance_mean"], every["importance_mean"])
    by_feature = sampled.set_index("feature")
    assert by_feature["importance_mean"].idxmax() == "signal"
    # each repeat's baseline on its own sample: the unused column's importance is exactly
    # zero (scikit-learn's max_samples would give it the sample's AUC offset)
    assert by_feature.loc["unused", "importance_mean"] == 0.0
    assert by_feature.loc["unused", "importance_std"] == 0.0
