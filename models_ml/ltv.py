"""Lifetime value: net revenue of a paying user in one currency over the next horizon.

Three candidates, scored on the same time split (a backtest origin, the paying customers
at that origin, their actual net revenue after it):

- ``bgnbd_gg``: BG/NBD purchases x Gamma-Gamma value per transaction (models_ml.clv),
  fitted on the purchase history up to the origin; the purchase model is pooled across
  currencies (counts have no unit), the value model is fitted per currency;
- ``gbm``: gradient boosting on the point-in-time features, trained on snapshots whose
  label (the net revenue of the full horizon after the snapshot) is complete by the
  origin; a candidate only when the history holds such snapshots;
- ``run_rate`` (the baseline): net revenue to date / max(tenure, window) x window.

Each is scored by its total error (per currency, |predicted - actual total|) and its
per-user error (MAE), both in units of the currency's mean revenue to date and weighted
by customers over currencies (:func:`ltv_errors`); the candidate with the lowest score is
published (ties: the simpler one, in the order of ``CANDIDATES``). Amounts are never
summed across currencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from models_ml import clv

LTV_FEATURES = ("revenue_to_date", "charges_in_currency", "days_since_first_charge",
                "days_since_last_charge", "refunds_in_currency", "active_days_28",
                "events_28", "sessions_28", "days_since_last_active", "tenure_days",
                "goals_completed", "plan_pro", "plan_team")

#: in order of simplicity: a tie goes to the earlier one
CANDIDATES = ("run_rate", "bgnbd_gg", "gbm")
BASELINE = "run_rate"
#: fewer customers with a positive value than this in a currency: its mean value is used
MIN_VALUE_FIT = 20


def prediction_column(horizon_days: int) -> str:
    """The name of the prediction column: named by its horizon."""
    return f"predicted_revenue_{int(horizon_days)}d"


def run_rate(frame: pd.DataFrame, window_days: int) -> np.ndarray:
    """Net revenue to date per day of tenure (at least one window), times the window."""
    days = np.maximum(frame["tenure_days"].to_numpy(dtype=float), float(window_days))
    return np.maximum(frame["revenue_to_date"].to_numpy(dtype=float), 0) / days * window_days


def regressor(seed: int, n_estimators: int, learning_rate: float,
              max_depth: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="squared_error", max_iter=n_estimators, learning_rate=learning_rate,
        max_depth=max_depth, early_stopping=False, random_state=seed,
    )


def summaries(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """BG/NBD and Gamma-Gamma inputs from the LTV frame's ``charge_days``,
    ``days_since_first_charge``, ``last_charge_age`` and ``revenue_to_date`` (days)."""
    n_tx = np.maximum(frame["charge_days"].to_numpy(dtype=float), 1.0)
    T = np.maximum(frame["days_since_first_charge"].to_numpy(dtype=float), 0.0)
    t_x = np.clip(T - frame["last_charge_age"].to_numpy(dtype=float), 0.0, T)
    net = np.maximum(frame["revenue_to_date"].to_numpy(dtype=float), 0.0)
    return {"x": n_tx - 1, "t_x": t_x, "T": T, "n_tx": n_tx, "m": net / n_tx}


@dataclass
class ProbabilisticLTV:
    """BG/NBD (pooled) x Gamma-Gamma (per currency; the currency's mean value per
    transaction when too few customers to fit)."""

    purchases: clv.BGNBD | None = None
    values: dict[str, clv.GammaGamma | float] = field(default_factory=dict)

    def fit(self, frame: pd.DataFrame) -> ProbabilisticLTV:
        s = summaries(frame)
        self.purchases = clv.fit_bgnbd(s["x"], s["t_x"], s["T"])
        cur = frame["currency"].to_numpy()
        for c in sorted(set(cur)):
            mask = cur == c
            n, m = s["n_tx"][mask], s["m"][mask]
            fitted = None
            if int(((m > 0) & (n > 0)).sum()) >= MIN_VALUE_FIT:
                gg = clv.fit_gamma_gamma(n, m)
                fitted = gg if np.isfinite(gg.mean) and gg.q > 1 else None
            positive = m[m > 0]
            mean_value = float(np.sum(positive * n[m > 0]) / np.sum(n[m > 0])) if len(
                positive) else 0.0
            self.values[c] = fitted if fitted is not None else mean_value
        return self

    def predict(self, frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
        if self.purchases is None:
            raise ValueError("fit first")
        s = summaries(frame)
        tx = clv.bgnbd_expected(self.purchases, horizon_days, s["x"], s["t_x"], s["T"])
        value = np.zeros(len(frame))
        cur = frame["currency"].to_numpy()
        for c in set(cur):
            mask = cur == c
            model = self.values.get(c)
            if isinstance(model, clv.GammaGamma):
                value[mask] = clv.gamma_gamma_mean(model, s["n_tx"][mask], s["m"][mask])
            elif model is not None:
                value[mask] = model
            else:  # a currency unseen at fit time: its customers' own mean value
                value[mask] = s["m"][mask]
        return tx * value

    def describe(self) -> dict[str, object]:
        p = self.purchases
        return {"bgnbd": None if p is None else {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b},
                "gamma_gamma": {c: ({"p": v.p, "q": v.q, "v": v.v}
                                    if isinstance(v, clv.GammaGamma) else {"mean_value": v})
                                for c, v in self.values.items()}}


def currency_scale(revenue_to_date: np.ndarray) -> float:
    """A currency's error unit: its customers' mean net revenue to date (known at the
    origin and never near zero, unlike the future revenue of a quiet currency)."""
    r = np.asarray(revenue_to_date, dtype=float)
    for v in (float(np.mean(r)) if len(r) else 0.0, float(np.mean(np.abs(r))) if len(r) else 0.0):
        if v > 0:
            return v
    return 1.0


def ltv_errors(actual: np.ndarray, pred: np.ndarray, currency: np.ndarray,
               revenue_to_date: np.ndarray | None = None) -> dict[str, object]:
    """Total and per-user error per currency and over currencies.

    Shown per currency and as customer-weighted means over currencies: ``total_error``
    (predicted - actual total) / actual total (signed), ``per_user_error`` MAE / mean
    actual revenue (null for a currency without future revenue). The ``score`` (lower is
    better) uses a stable unit instead, the currency's mean revenue to date: |predicted -
    actual total| per customer plus the MAE, both in that unit, customer-weighted over
    currencies (relative errors explode when a currency's future revenue is near zero)."""
    y, p = np.asarray(actual, dtype=float), np.asarray(pred, dtype=float)
    cur = np.asarray(currency)
    rev = np.ones_like(y) if revenue_to_date is None else np.asarray(revenue_to_date, float)
    per: dict[str, dict[str, float]] = {}
    for c in sorted(set(cur.tolist())):
        mask = cur == c
        n = int(mask.sum())
        total, total_pred = float(y[mask].sum()), float(p[mask].sum())
        mae = float(np.mean(np.abs(y[mask] - p[mask])))
        mean = float(y[mask].mean())
        unit = currency_scale(rev[mask])
        per[c] = {"rows": n, "total_actual": total, "total_predicted": total_pred,
                  "total_error": (total_pred - total) / total if total > 0 else float("nan"),
                  "mae": mae, "rmse": float(np.sqrt(np.mean((y[mask] - p[mask]) ** 2))),
                  "per_user_error": mae / mean if mean > 0 else float("nan"),
                  "unit": unit,
                  "score": abs(total_pred - total) / (n * unit) + mae / unit}
    if not per:
        return {"rows": 0, "total_error": float("nan"), "total_abs_error": float("nan"),
                "per_user_error": float("nan"), "score": float("nan"), "by_currency": {}}

    def weighted(key: str, fn: object = None) -> float:
        vals = np.array([v[key] for v in per.values()], dtype=float)
        if fn is not None:
            vals = np.abs(vals)
        w = np.array([v["rows"] for v in per.values()], dtype=float)
        ok = np.isfinite(vals)
        return float(np.sum(vals[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else float("nan")

    return {"rows": len(y), "total_error": weighted("total_error"),
            "total_abs_error": weighted("total_error", abs),
            "per_user_error": weighted("per_user_error"), "score": weighted("score"),
            "by_currency": per}


def score_gain_interval(actual: np.ndarray, pred: np.ndarray, base: np.ndarray,
                        currency: np.ndarray, revenue_to_date: np.ndarray | None = None, *,
                        resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the score gain (baseline score - model score, as in
    :func:`ltv_errors`) from a paired bootstrap of the customers (resampled within each
    currency; the same customers for both predictions). Vectorised in blocks."""
    y, p, b = (np.asarray(v, dtype=float) for v in (actual, pred, base))
    cur = np.asarray(currency)
    rev = np.ones_like(y) if revenue_to_date is None else np.asarray(revenue_to_date, float)
    gen = np.random.default_rng(seed)
    groups = [np.flatnonzero(cur == c) for c in sorted(set(cur.tolist()))]
    units = [currency_scale(rev[rows]) for rows in groups]
    weights = np.array([len(rows) for rows in groups], dtype=float) / max(len(y), 1)
    block = max(1, 2_000_000 // max(len(y), 1))  # resamples x customers per block

    def score(q: np.ndarray, yy: np.ndarray, unit: float) -> np.ndarray:
        n = yy.shape[1]
        return (np.abs(q.sum(axis=1) - yy.sum(axis=1)) / (n * unit)
                + np.abs(yy - q).mean(axis=1) / unit)

    chunks = []
    for start in range(0, resamples, block):
        k = min(block, resamples - start)
        gain = np.zeros(k)
        for rows, unit, w in zip(groups, units, weights, strict=True):
            idx = rows[gen.integers(0, len(rows), (k, len(rows)))]
            gain += w * (score(b[idx], y[idx], unit) - score(p[idx], y[idx], unit))
        chunks.append(gain)
    if not chunks:
        return float("nan"), float("nan")
    g = np.concatenate(chunks)
    tail = (1 - confidence) / 2
    low, high = np.quantile(g, [tail, 1 - tail])
    return float(low), float(high)


def backtest_candidates(test: pd.DataFrame, days: int, gbm: object | None = None, *,
                        resamples: int = 1000, seed: int = 0,
                        ) -> tuple[dict[str, dict[str, object]], str]:
    """Score the candidates on one split: ``test`` holds the customers at the origin (their
    history up to it) and ``future_revenue`` over the ``days`` after it; the probabilistic
    model is fitted on ``test``'s history only, ``gbm`` (trained elsewhere on data before
    the origin) is scored when given. Returns the scores (with the paired bootstrap
    interval of each model's gain over the baseline) and the chosen candidate."""
    y, cur = test["future_revenue"].to_numpy(float), test["currency"].to_numpy()
    rev = test["revenue_to_date"].to_numpy(float)
    preds = {"run_rate": run_rate(test, days),
             "bgnbd_gg": ProbabilisticLTV().fit(test).predict(test, days)}
    if gbm is not None:
        preds["gbm"] = gbm.predict(test[list(LTV_FEATURES)])  # type: ignore[attr-defined]
    preds = {k: np.maximum(np.asarray(v, dtype=float), 0.0) for k, v in preds.items()}
    scores = {k: ltv_errors(y, v, cur, rev) for k, v in preds.items()}
    for k, v in preds.items():
        if k != BASELINE:
            low, high = score_gain_interval(y, v, preds[BASELINE], cur, rev,
                                            resamples=resamples, seed=seed)
            scores[k] = {**scores[k], "gain_low": low, "gain_high": high}
    return scores, choose(scores)


def choose(scores: dict[str, dict[str, object]]) -> str:
    """The candidate with the lowest finite ``score`` (ties: the earlier in CANDIDATES);
    the baseline when none has one."""
    best, best_score = BASELINE, float("inf")
    for name in sorted(scores, key=lambda n: CANDIDATES.index(n) if n in CANDIDATES else 99):
        s = scores[name].get("score")
        if isinstance(s, float | int) and np.isfinite(s) and float(s) < best_score - 1e-12:
            best, best_score = name, float(s)
    return best
