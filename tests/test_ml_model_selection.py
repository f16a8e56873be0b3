"""Model selection against baselines on simulated data with known truth: the BG/NBD +
Gamma-Gamma LTV model, the LTV candidate choice, the classifiers' bootstrap publish rule
and the registry's comparison columns and as-of-bound model reuse."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models_ml import classifiers, clv, ltv
from models_ml import io as mlio

TRUE_PURCHASES = clv.BGNBD(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_SPEND = clv.GammaGamma(p=6.0, q=4.0, v=15.0)


def _population(n: int, seed: int, horizon: float = 90.0) -> dict[str, np.ndarray]:
    ages = np.random.default_rng(seed).uniform(30, 270, n)
    return clv.simulate(n, TRUE_PURCHASES, TRUE_SPEND, ages, horizon, seed=seed + 1)


# --------------------------------------------------------------------------- BG/NBD + GG


@pytest.mark.parametrize("seed", [7, 11])
def test_bgnbd_gamma_gamma_recovers_a_simulated_populations_future_spend(seed):
    # 20k customers: the realised future spend of a population this size is within a few
    # per cent of its expectation (even the true parameters miss 6k customers' by ~7 %)
    s = _population(20000, seed)
    purchases = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
    spend = clv.fit_gamma_gamma(s["n_tx"], s["m"])
    # the parameters come back near the truth
    assert purchases.r == pytest.approx(TRUE_PURCHASES.r, rel=0.2)
    assert purchases.alpha == pytest.approx(TRUE_PURCHASES.alpha, rel=0.3)
    assert spend.mean == pytest.approx(TRUE_SPEND.mean, rel=0.1)
    expected = clv.bgnbd_expected(purchases, 90, s["x"], s["t_x"], s["T"])
    value = clv.gamma_gamma_mean(spend, s["n_tx"], s["m"])
    total, actual = float((expected * value).sum()), float(s["future_value"].sum())
    assert abs(total / actual - 1) < 0.10, (total, actual)
    assert abs(expected.sum() / s["future_tx"].sum() - 1) < 0.10
    # per customer it ranks: the top predicted decile buys far more than the rest
    top = expected >= np.quantile(expected, 0.9)
    assert s["future_tx"][top].mean() > 3 * s["future_tx"][~top].mean()


def test_bgnbd_likelihood_and_expectation_on_known_cases():
    p = clv.BGNBD(r=1.0, alpha=1.0, a=2.0, b=3.0)
    # x = 0: (alpha / (alpha + T))^r; never dying before a repeat purchase
    assert np.exp(clv.bgnbd_loglik(p, np.array([0]), np.array([0]), np.array([3.0])))[0] == \
        pytest.approx(0.25)
    # expectations grow with the horizon and vanish with it
    e = [float(clv.bgnbd_expected(p, t, np.array([2]), np.array([5.0]), np.array([6.0]))[0])
         for t in (0, 1, 10, 100)]
    assert e[0] == 0 and e[1] < e[2] < e[3]
    # a customer silent for long since their last purchase is expected to buy less
    recent, silent = clv.bgnbd_expected(p, 30, np.array([3, 3]), np.array([59.0, 5.0]),
                                        np.array([60.0, 60.0]))
    assert recent > silent


def _ltv_frame(s: dict[str, np.ndarray], currency: str) -> pd.DataFrame:
    """The LTV frame's columns at the origin for a simulated population (days as ages)."""
    n = len(s["x"])
    known = {
        "user_id": [f"{currency}{i}" for i in range(n)], "currency": currency,
        "charge_days": s["n_tx"], "days_since_first_charge": s["T"],
        "last_charge_age": s["T"] - s["t_x"], "revenue_to_date": s["m"] * s["n_tx"],
        "tenure_days": s["T"] + 3, "future_revenue": s["future_value"]}
    return pd.DataFrame({**{c: 0.0 for c in ltv.LTV_FEATURES}, **known})


def test_the_probabilistic_model_keeps_currencies_apart():
    eur = _ltv_frame(_population(3000, 3, 60), "EUR")
    jpy = _ltv_frame(_population(3000, 5, 60), "JPY")
    for col in ("revenue_to_date", "future_revenue"):
        jpy[col] *= 150.0  # same behaviour, yen amounts
    both = pd.concat([eur, jpy], ignore_index=True)
    model = ltv.ProbabilisticLTV().fit(both)
    pred = model.predict(both, 60)
    for cur, frame in (("EUR", eur), ("JPY", jpy)):
        mask = (both["currency"] == cur).to_numpy()
        assert abs(pred[mask].sum() / frame["future_revenue"].sum() - 1) < 0.12
    scores = ltv.ltv_errors(both["future_revenue"], pred, both["currency"],
                            both["revenue_to_date"])
    assert set(scores["by_currency"]) == {"EUR", "JPY"}
    assert scores["total_abs_error"] < 0.12
    # the score is unit-free: yen amounts score like euro amounts of the same behaviour
    eur_only = ltv.ltv_errors(eur["future_revenue"], pred[:len(eur)], eur["currency"],
                              eur["revenue_to_date"])
    jpy_scores = scores["by_currency"]["JPY"]["score"]
    assert abs(jpy_scores - eur_only["score"]) < 0.5 * eur_only["score"]


class _Oracle:
    """A stand-in regressor that predicts a given answer (to steer the backtest)."""

    def __init__(self, answer: np.ndarray) -> None:
        self.answer = answer

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.answer


def test_the_ltv_candidate_chosen_is_the_one_with_the_lower_backtest_error():
    test = _ltv_frame(_population(4000, 13, 90), "EUR")
    # on a BG/NBD population the probabilistic model beats the run rate ...
    scores, chosen = ltv.backtest_candidates(test, 90)
    assert chosen == "bgnbd_gg"
    assert scores["bgnbd_gg"]["score"] < scores["run_rate"]["score"]
    gain = scores["run_rate"]["score"] - scores["bgnbd_gg"]["score"]
    assert 0 < scores["bgnbd_gg"]["gain_low"] < gain < scores["bgnbd_gg"]["gain_high"]
    assert abs(scores["bgnbd_gg"]["total_error"]) < abs(scores["run_rate"]["total_error"])
    # ... a regressor whose backtest is better (here: near the truth) is chosen instead ...
    y = test["future_revenue"].to_numpy()
    scores, chosen = ltv.backtest_candidates(test, 90, _Oracle(y * 1.01))
    assert chosen == "gbm" and scores["gbm"]["score"] < scores["bgnbd_gg"]["score"]
    # ... and one whose backtest is worse is not
    scores, chosen = ltv.backtest_candidates(test, 90, _Oracle(np.full(len(y), y.mean() * 3)))
    assert chosen == "bgnbd_gg"
    # ties go to the simpler candidate; no finite score: the baseline
    tie = {"score": 1.0}
    assert ltv.choose({"gbm": tie, "bgnbd_gg": tie, "run_rate": tie}) == "run_rate"
    assert ltv.choose({"gbm": {"score": float("nan")}}) == "run_rate"


def test_prediction_column_is_named_by_the_horizon():
    assert ltv.prediction_column(90) == "predicted_revenue_90d"
    assert ltv.prediction_column(180) == "predicted_revenue_180d"


# --------------------------------------------------------------------------- classifiers


def _classification(n: int, seed: int, signal: float) -> tuple[pd.DataFrame, np.ndarray,
                                                                pd.Series]:
    gen = np.random.default_rng(seed)
    X = pd.DataFrame({"days_since_last_active": gen.integers(0, 28, n).astype(float),
                      "events_7": gen.poisson(5, n).astype(float),
                      "noise": gen.normal(size=n)})
    logit = -0.5 + 0.05 * X["days_since_last_active"] - signal * (X["events_7"] - 5)
    y = (gen.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime("2026-01-01") + pd.to_timedelta(np.arange(n) % 4 * 7, "D"))
    return X, y, dates


def _evaluate(X, y, dates, seed=0):
    return classifiers.evaluate(X, y, dates, "days_since_last_active", seed=seed,
                                n_estimators=40, learning_rate=0.1, max_depth=2, folds=3,
                                test_dates=1, resamples=600)


def test_a_planted_signal_is_published_and_pure_noise_is_not():
    X, y, dates = _classification(2000, 1, signal=0.5)
    ev = _evaluate(X, y, dates)
    assert ev.beats_baseline and ev.gain_low > 0
    assert ev.gain_low < ev.gain < ev.gain_high
    assert ev.metrics["lift_top_decile"] > ev.baseline_metrics["lift_top_decile"]
    # noise: the label depends on recency alone; the extra features only fit noise
    published = 0
    for seed in range(5):
        X, y, dates = _classification(2000, 100 + seed, signal=0.0)
        ev = _evaluate(X, y, dates, seed)
        assert ev.gain_low < ev.gain < ev.gain_high
        published += ev.beats_baseline
    assert published == 0


def test_the_paired_bootstrap_and_the_reliability_curve():
    gen = np.random.default_rng(4)
    y = (gen.random(800) < 0.3).astype(int)
    good = y + gen.normal(0, 0.8, 800)
    weak = y + gen.normal(0, 2.0, 800)
    gain, low, high = classifiers.paired_auc_gain(y, good, weak, resamples=800, seed=1)
    assert gain == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, weak))
    assert 0 < low < gain < high
    # the same scores: a zero gain with a zero-width interval
    assert classifiers.paired_auc_gain(y, good, good, resamples=200) == (0.0, 0.0, 0.0)
    # reproducible with the seed
    assert classifiers.paired_auc_gain(y, good, weak, resamples=300, seed=2) == \
        classifiers.paired_auc_gain(y, good, weak, resamples=300, seed=2)
    p = gen.random(5000)
    outcome = (gen.random(5000) < p).astype(int)  # calibrated by construction
    curve = classifiers.reliability_curve(outcome, p)
    assert sum(b["rows"] for b in curve) == 5000 and len(curve) == 10
    assert max(abs(b["mean_predicted"] - b["observed_rate"]) for b in curve) < 0.05


def test_the_bootstraps_counted_aucs_equal_ranking_each_resample():
    """The bootstrap counts each resample's rows per distinct score (scores sorted once);
    ranking each resample (mid-ranks, ties one half) is the definition: the same AUCs to
    the last bit, with ties, with rows drawn more than once and with a constant score."""
    gen = np.random.default_rng(7)
    y = (gen.random(300) < 0.35).astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for scores in (np.round(gen.random(300) + 0.4 * y, 1),  # few distinct scores
                   gen.random(300) + 0.2 * y,              # all distinct
                   np.full(300, 0.5)):                      # one score: AUC 0.5
        distinct, groups = np.unique(scores, return_inverse=True)
        pos_draws, neg_draws = gen.choice(pos, (40, len(pos))), gen.choice(neg, (40, len(neg)))
        counted = classifiers._resampled_aucs(groups.ravel(), len(distinct), pos_draws,
                                              neg_draws)
        idx = np.concatenate([pos_draws, neg_draws], axis=1)
        ranked = classifiers._auc_rows(y[idx], scores[idx])
        assert np.array_equal(counted, ranked)
        assert np.allclose(counted, [roc_auc_score(y[row], scores[row]) if scores.std() else 0.5
                                     for row in idx])


# --------------------------------------------------------------------------- registry


def _register(con, version: str, as_of: date, key: str | None, obj: str) -> None:
    mlio.register_model(
        con, name="ltv", version=version, trained_at=datetime(2026, 1, 1), train_rows=10,
        metrics={"score": 0.5}, baseline_metrics={"score": 0.7}, params={}, beats_baseline=True,
        published=True, data_start=date(2025, 1, 1), data_end=as_of, artifact=obj,
        comparison={"as_of_date": as_of, "cache_key": key, "metric_name": "ltv_error",
                    "metric_value": 0.5, "baseline_value": 0.7, "gain": 0.2,
                    "reliability": [{"bin_low": 0.0, "rows": 3}], "decision": "published"})


def test_a_model_trained_on_later_data_is_never_reused():
    con = duckdb.connect()
    _register(con, "v-june", date(2026, 6, 1), "k-june", "june")
    _register(con, "v-march", date(2026, 3, 1), "k-march", "march")
    # an earlier as-of date does not see the June model
    assert mlio.artifact_for(con, "ltv", as_of=date(2026, 4, 1)) == ("v-march", "march")
    assert mlio.artifact_for(con, "ltv", as_of=date(2026, 2, 1)) is None
    assert mlio.artifact_for(con, "ltv", as_of=date(2026, 7, 1)) == ("v-june", "june")
    # by cache key: only that exact model; by age: none older than allowed
    assert mlio.artifact_for(con, "ltv", as_of=date(2026, 7, 1), cache_key="k-march") == (
        "v-march", "march")
    assert mlio.artifact_for(con, "ltv", as_of=date(2026, 7, 1), max_age_days=10) is None
    row = con.execute("select metric_name, metric_value, baseline_value, gain, "
                      "reliability::varchar, decision from ml.model_registry "
                      "where model_version = 'v-june'").fetchone()
    assert row[:4] == ("ltv_error", 0.5, 0.7, 0.2) and row[5] == "published"
    assert '"bin_low"' in row[4]


def test_an_older_registry_gains_the_comparison_columns():
    con = duckdb.connect()
    con.execute("create schema ml")
    con.execute(mlio.REGISTRY_DDL)
    con.execute("insert into ml.model_registry values ('churn', 'c1', now(), 1, '{}', '{}', "
                "'{}', true, true, null, null)")
    mlio.ensure_schema(con)
    cols = {r[0] for r in con.execute("describe ml.model_registry").fetchall()}
    assert set(mlio.REGISTRY_COMPARISON) <= cols
    # the old row has no as-of date: never reused
    assert mlio.artifact_for(con, "churn", as_of=date(2026, 1, 1)) is None
