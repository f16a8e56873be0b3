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

Each is scored by its total error (per currency, |predicted - actual| / actual of the
currency's total) and its per-user error (MAE / mean actual, per currency), both averaged
over currencies; the candidate with the lowest sum is published (ties: the simpler one,
in the order of ``CANDIDATES``). Amounts are never summed across currencies.
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


def ltv_errors(actual: np.ndarray, pred: np.ndarray, currency: np.ndarray) -> dict[str, object]:
    """Total and per-user error, per currency and averaged over currencies (``score`` =
    total_abs_error + per_user_error, lower is better)."""
    y, p = np.asarray(actual, dtype=float), np.asarray(pred, dtype=float)
    cur = np.asarray(currency)
    per: dict[str, dict[str, float]] = {}
    for c in sorted(set(cur.tolist())):
        mask = cur == c
        total, total_pred = float(y[mask].sum()), float(p[mask].sum())
        mae = float(np.mean(np.abs(y[mask] - p[mask])))
        mean = float(y[mask].mean())
        per[c] = {"rows": int(mask.sum()), "total_actual": total, "total_predicted": total_pred,
                  "total_error": (total_pred - total) / total if total > 0 else float("nan"),
                  "mae": mae, "rmse": float(np.sqrt(np.mean((y[mask] - p[mask]) ** 2))),
                  "per_user_error": mae / mean if mean > 0 else float("nan")}
    if not per:
        return {"rows": 0, "total_error": float("nan"), "total_abs_error": float("nan"),
                "per_user_error": float("nan"), "score": float("nan"), "by_currency": {}}
    tot = np.array([v["total_error"] for v in per.values()])
    pue = np.array([v["per_user_error"] for v in per.values()])
    ok = np.isfinite(tot) & np.isfinite(pue)
    t_err = float(np.mean(tot[ok])) if ok.any() else float("nan")
    t_abs = float(np.mean(np.abs(tot[ok]))) if ok.any() else float("nan")
    pu = float(np.mean(pue[ok])) if ok.any() else float("nan")
    return {"rows": len(y), "total_error": t_err, "total_abs_error": t_abs,
            "per_user_error": pu, "score": t_abs + pu, "by_currency": per}


def score_gain_interval(actual: np.ndarray, pred: np.ndarray, base: np.ndarray,
                        currency: np.ndarray, *, resamples: int = 1000,
                        confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the score gain (baseline score - model score, as in
    :func:`ltv_errors`) from a paired bootstrap of the customers (resampled within each
    currency; the same customers for both predictions). Vectorised per currency."""
    y, p, b = (np.asarray(v, dtype=float) for v in (actual, pred, base))
    cur = np.asarray(currency)
    gen = np.random.default_rng(seed)
    groups = [np.flatnonzero(cur == c) for c in sorted(set(cur.tolist()))]
    block = max(1, 2_000_000 // max(len(y), 1))  # resamples x customers per block

    def score(q: np.ndarray, yy: np.ndarray) -> np.ndarray:
        total, mean = yy.sum(axis=1), yy.mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(q.sum(axis=1) - total) / total + np.abs(yy - q).mean(axis=1) / mean

    chunks = []
    for start in range(0, resamples, block):
        k = min(block, resamples - start)
        parts = []
        for rows in groups:
            idx = rows[gen.integers(0, len(rows), (k, len(rows)))]
            parts.append(score(b[idx], y[idx]) - score(p[idx], y[idx]))
        stack = np.vstack(parts)
        ok = np.isfinite(stack)
        with np.errstate(invalid="ignore", divide="ignore"):  # no finite part: NaN, dropped
            chunks.append(np.where(ok, stack, 0.0).sum(axis=0) / ok.sum(axis=0))
    g = np.concatenate(chunks) if chunks else np.zeros(0)
    g = g[np.isfinite(g)]
    if not len(g):
        return float("nan"), float("nan")
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
    preds = {"run_rate": run_rate(test, days),
             "bgnbd_gg": ProbabilisticLTV().fit(test).predict(test, days)}
    if gbm is not None:
        preds["gbm"] = gbm.predict(test[list(LTV_FEATURES)])  # type: ignore[attr-defined]
    preds = {k: np.maximum(np.asarray(v, dtype=float), 0.0) for k, v in preds.items()}
    scores = {k: ltv_errors(y, v, cur) for k, v in preds.items()}
    for k, v in preds.items():
        if k != BASELINE:
            low, high = score_gain_interval(y, v, preds[BASELINE], cur, resamples=resamples,
                                            seed=seed)
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
