"""Insights: short ranked statements built from the other ml tables (pure on frames)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from models_ml.io import dumps

COLUMNS = ["insight_id", "as_of_date", "creator_id", "kind", "title", "description",
           "recommendation", "metric", "evidence", "significance", "impact", "rank"]


def _row(as_of: date, creator: str, kind: str, metric: str, title: str, description: str,
         recommendation: str, evidence: dict[str, Any], significance: float,
         impact: float) -> dict[str, Any]:
    key = f"{as_of}|{creator}|{kind}|{metric}|{title}"
    return {"insight_id": hashlib.sha256(key.encode()).hexdigest()[:16], "as_of_date": as_of,
            "creator_id": creator, "kind": kind, "title": title, "description": description,
            "recommendation": recommendation, "metric": metric, "evidence": dumps(evidence),
            "significance": float(np.clip(significance, 0, 1)),
            "impact": float(abs(impact)) if np.isfinite(impact) else 0.0}


def from_anomalies(anoms: pd.DataFrame, as_of: date, recent_days: int = 14) -> list[dict]:
    if anoms.empty:
        return []
    a = anoms[(pd.to_datetime(anoms["date"]) > pd.Timestamp(as_of) - pd.Timedelta(
        days=recent_days)) & anoms["severity"].isin(["medium", "high"])]
    out = []
    for r in a.itertuples():
        rel = (r.value - r.expected) / max(abs(r.expected), 1e-9)
        day = pd.Timestamp(r.date).date()
        out.append(_row(
            as_of, r.creator_id, "anomaly", r.metric,
            f"{r.metric} {'spiked' if r.direction == 'up' else 'dropped'} on {day} "
            f"({r.creator_id})",
            f"{r.metric} was {r.value:.3g} against an expected {r.expected:.3g} "
            f"(robust score {r.score:.1f}, {r.severity}).",
            "Check releases, incidents and campaigns of that day for this creator.",
            {"date": str(day), "value": r.value, "expected": r.expected, "score": r.score},
            1 - 2 * norm.sf(abs(r.score)), rel))
    return out


def from_experiments(res: pd.DataFrame, as_of: date) -> list[dict]:
    out = []
    if res.empty:
        return out
    for r in res[res["is_primary"] & ~res["is_control"].astype(bool)].itertuples():
        sig = bool(r.significant)
        out.append(_row(
            as_of, "__all__", "experiment", r.metric,
            f"{r.experiment_id}: {r.variant} {'+' if r.lift >= 0 else ''}{r.lift:.0%} on "
            f"{r.metric} ({'significant' if sig else 'not significant'})",
            f"{r.conversions}/{r.users} converted ({r.conversion_rate:.1%}); difference "
            f"{r.rate_difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}], p={r.p_value:.3g} "
            f"(Holm {r.p_value_holm:.3g}); MDE {r.mde_lift:.0%} relative at this size.",
            "Roll out the variant." if sig and r.lift > 0 else
            "Keep collecting: the test cannot yet tell this effect from noise." if not sig
            else "Do not roll out the variant.",
            {"p_value": r.p_value, "p_value_holm": r.p_value_holm, "lift": r.lift,
             "ci": [r.ci_low, r.ci_high], "power": r.power, "srm_p_value": r.srm_p_value},
            1 - (r.p_value_holm if np.isfinite(r.p_value_holm) else 1.0), r.lift))
    return out


def from_forecast(fc: pd.DataFrame, history: pd.DataFrame, as_of: date) -> list[dict]:
    """The next 30 days against the last 30 for the all-creators DAU."""
    out = []
    for metric in ("dau", "sessions"):
        f = fc[(fc["creator_id"] == "__all__") & (fc["metric"] == metric)]
        h = history[history["metric"] == metric]["value"].tail(len(f))
        if f.empty or h.empty or h.mean() == 0:
            continue
        change = f["forecast"].mean() / h.mean() - 1
        out.append(_row(
            as_of, "__all__", "forecast", metric,
            f"{metric} expected {'up' if change >= 0 else 'down'} {abs(change):.0%} over the "
            f"next {len(f)} days",
            f"Mean forecast {f['forecast'].mean():.1f} per day against {h.mean():.1f} in the "
            f"last {len(h)} days ({f['method'].iloc[0]}).",
            "Plan capacity and campaigns for the expected level.",
            {"forecast_mean": f["forecast"].mean(), "history_mean": h.mean(),
             "method": f["method"].iloc[0]}, 0.8, change))
    return out


def from_drivers(drv: pd.DataFrame, as_of: date, top: int = 3) -> list[dict]:
    if drv.empty:
        return []
    d = drv[drv["significant"].astype(bool)].sort_values("importance_mean", ascending=False)
    return [_row(
        as_of, "__all__", "correlation", r.feature,
        f"{r.feature} goes with {'higher' if r.correlation >= 0 else 'lower'} 30-day retention",
        f"Spearman correlation {r.correlation:+.2f} (BH q={r.q_value:.2g}); permutation "
        f"importance {r.importance_mean:.3f} ROC-AUC.",
        "Nudge users toward this behaviour early." if r.correlation >= 0
        else "Watch users with high values of this feature.",
        {"correlation": r.correlation, "q_value": r.q_value,
         "importance": r.importance_mean}, 1 - r.q_value, r.correlation)
        for r in d.head(top).itertuples()]


def from_churn(pred: pd.DataFrame, as_of: date) -> list[dict]:
    if pred.empty:
        return []
    high = int((pred["risk_band"] == "high").sum())
    share = high / len(pred)
    return [_row(
        as_of, "__all__", "opportunity", "churn_probability",
        f"{high} active users at high churn risk",
        f"{share:.0%} of the {len(pred)} users active in the last weeks have a churn "
        f"probability in the high band (model {pred['model_version'].iloc[0]}).",
        "Reach out to high-risk users with a re-engagement message this week.",
        {"high_risk_users": high, "scored_users": len(pred)}, 0.7, share)]


def from_segments(seg: pd.DataFrame, as_of: date) -> list[dict]:
    if seg.empty:
        return []
    shares = seg["segment_label"].value_counts(normalize=True)
    return [_row(
        as_of, "__all__", "pattern", "segment",
        f"{shares.index[0]} is the largest segment ({shares.iloc[0]:.0%} of users)",
        "Segment shares: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) + ".",
        "Tailor content to the largest segments.",
        {"shares": shares.round(4).to_dict()}, 0.6, shares.iloc[0])]


def rank(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS[:-1])
    if out.empty:
        return pd.DataFrame(columns=COLUMNS)
    score = out["significance"] * out["impact"].clip(upper=1.0)
    out = out.assign(_s=score).sort_values(["_s", "insight_id"], ascending=[False, True])
    out["rank"] = np.arange(1, len(out) + 1)
    out["evidence"] = out["evidence"].map(lambda s: json.dumps(json.loads(s)))
    return out.drop(columns="_s").reset_index(drop=True)[COLUMNS]
