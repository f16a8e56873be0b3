"""Insights: short ranked statements built from the marts and the other ml tables.

Everything here is pure (frames in, frames out); :func:`models_ml.analyse.generate_insights`
reads the inputs and writes ``ml.insights``.

A *finding* is one statement about one creator (or ``__all__``): its ``finding_key``
(creator, kind, metric, subject; never the date) names it across days, its ``fingerprint``
hashes its material content (rounded numbers, direction, severity bucket). A run keeps the
findings whose ``significance`` reaches the setting ``ml.insights_min_significance``, drops
those whose latest earlier emission had the same fingerprint, keeps at most
``ml.insights_max_per_kind`` per creator and kind, ranks the rest per creator and
keeps at most ``ml.insights_max_per_creator`` of them.

Significance per kind (a number in [0, 1]; higher = more certain):

* anomaly: ``1 - p`` of the robust score as a two-sided normal z;
* experiment: ``1 - p`` Holm-corrected across the experiment's metrics;
* correlation: ``1 - q`` (Benjamini-Hochberg);
* pattern: weekday seasonality ``1 - p`` of Kruskal-Wallis across weekdays; week over week
  ``1 - p`` of a paired t-test by weekday (counts, revenue) or a two-proportion z-test
  (rates); segments ``1 - p`` of a binomial test of the largest share against 1/k;
* opportunity: ``1 - p`` of a one-sided z-test (high-risk users' expected churn against the
  population's; a creator's automation rate against the other creators');
* forecast: ``1 - p`` of the change of level (mean forecast against the mean of the last
  four weeks) as a normal z over the forecast's own daily uncertainty (95% interval / 3.92);
* milestone: an all-time high of the latest day among n days: ``1 - 1/n`` (the chance that
  the last of n exchangeable days is the highest is 1/n); a cumulative count crossing a
  round number is a counted fact: 1.

Fingerprints (what must change for a finding to be emitted again): anomaly direction and
severity; experiment significance, SRM flag and lift to 5 points; forecast and week-over-
week direction and change to 10 points (automation rate: 5 percentage points); weekday
pattern strongest/weakest day and spread to 25 points; correlation sign and value to 0.1;
shares to 5 points, automation gap to 2 points; a record's value to two significant figures;
a crossing's threshold.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from models_ml.io import dumps
from models_ml.metric_specs import REVENUE_PREFIX, format_value, good_or_bad, spec

ALL = "__all__"
KINDS = ("pattern", "anomaly", "correlation", "opportunity", "milestone", "experiment",
         "forecast")
SPEC_COLUMNS = ["insight_id", "as_of_date", "creator_id", "kind", "title", "description",
                "recommendation", "metric", "evidence", "significance", "impact", "rank"]
COLUMNS = [*SPEC_COLUMNS, "finding_key", "fingerprint", "status", "first_seen"]
COLUMN_TYPES = {"insight_id": "object", "as_of_date": "object", "creator_id": "object",
                "kind": "object", "title": "object", "description": "object",
                "recommendation": "object", "metric": "object", "evidence": "object",
                "significance": "float64", "impact": "float64", "rank": "int64",
                "finding_key": "object", "fingerprint": "object", "status": "object",
                "first_seen": "object"}
COLUMN_DOCS = {
    "insight_id": "Id of the row: hash of as_of_date and finding_key.",
    "as_of_date": "As-of date of the run that emitted the insight (rows of earlier dates stay).",
    "creator_id": "Creator the insight is about; '__all__' = all creators.",
    "kind": "pattern, anomaly, correlation, opportunity, milestone, experiment or forecast.",
    "title": "One-line statement with its numbers (data strings unescaped: escape on display).",
    "description": "Plain-language explanation quoting the numbers and the test behind them.",
    "recommendation": "What to do about it.",
    "metric": "Metric the insight is about (net_revenue_<currency> per currency).",
    "evidence": "JSON: the numbers behind the statement.",
    "significance": "In [0, 1]: 1 - p-value for tests, a documented score otherwise "
                    "(docs/metrics.md); only rows >= ml.insights_min_significance are kept.",
    "impact": "Relative size of the effect (relative change, lift, |correlation|, share), >= 0.",
    "rank": "Rank within as_of_date and creator_id (1 = most important: significance x "
            "impact capped at 1).",
    "finding_key": "Stable name of the finding across days: creator|kind|metric|subject.",
    "fingerprint": "Hash of the finding's material content; a finding whose latest earlier "
                   "emission had the same fingerprint is not emitted again.",
    "status": "'new' (never emitted before) or 'changed' (emitted before with another "
              "fingerprint).",
    "first_seen": "as_of_date of the finding's first emission.",
}
SQL_TYPES = {"insight_id": "varchar", "as_of_date": "date", "creator_id": "varchar",
             "kind": "varchar", "title": "varchar", "description": "varchar",
             "recommendation": "varchar", "metric": "varchar", "evidence": "varchar",
             "significance": "double", "impact": "double", "rank": "bigint",
             "finding_key": "varchar", "fingerprint": "varchar", "status": "varchar",
             "first_seen": "date"}
METRIC_NAMES = {"dau": "DAU", "mau": "MAU", "wau": "WAU", "sessions": "sessions",
                "automation_rate": "automation rate", "fallback_rate": "fallback rate",
                "response_time_p95": "response time p95", "goals_completed": "goals completed"}
LOWER_IS_BETTER = {"response_time_p95", "fallback_rate"}
WEEKDAY_SAME_SHAPE = 0.8
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
Z95 = 1.959964


@dataclass(frozen=True)
class InsightParams:
    """The ``ml.insights_*`` settings the builders use."""

    recent_days: int = 7
    pattern_weeks: int = 8
    top_drivers: int = 3


@dataclass
class InsightInputs:
    """Frames the builders read (any may be empty).

    engagement: date, creator_id, dau, mau, sessions (marts.engagement_daily);
    conversation: date, creator_id, sessions, automated_sessions (marts.conversation_daily);
    revenue: date, currency, creator_id, net_revenue (marts.revenue_daily);
    goals: completed_on (marts.goal_progress); the rest are the ml tables of their names.
    """

    engagement: pd.DataFrame = field(default_factory=pd.DataFrame)
    conversation: pd.DataFrame = field(default_factory=pd.DataFrame)
    revenue: pd.DataFrame = field(default_factory=pd.DataFrame)
    goals: pd.DataFrame = field(default_factory=pd.DataFrame)
    anomalies: pd.DataFrame = field(default_factory=pd.DataFrame)
    experiments: pd.DataFrame = field(default_factory=pd.DataFrame)
    forecast: pd.DataFrame = field(default_factory=pd.DataFrame)
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    churn: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- formatting


def fmt_count(x: float) -> str:
    """1234.4 -> '1,234'."""
    return f"{round(float(x)):,}"


def fmt_num(x: float) -> str:
    """Thousands separators; one decimal below 100."""
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def fmt_pct(x: float, signed: bool = False) -> str:
    """0.1234 -> '12.3%' ('+12.3%' when signed)."""
    return f"{float(x) * 100:{'+' if signed else ''}.1f}%"


def fmt_money(x: float, currency: str) -> str:
    return f"{float(x):,.2f} {currency}"


def fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def metric_name(metric: str) -> str:
    return spec(metric).label


def fmt_value(metric: str, x: float) -> str:
    """A metric's value by its declared unit (models_ml.metric_specs)."""
    return format_value(metric, x)


def _who(creator: str) -> str:
    return "all creators" if creator == ALL else f"creator {creator}"


def _audience(creator: str) -> str:
    """Whose audience a milestone is shared with: the creator's, or the platform's own."""
    return "your audience" if creator == ALL else f"creator {creator}'s audience"


def name_creators(rows: list[dict], names: dict[str, str]) -> list[dict]:
    """The findings with "creator <id>" (as :func:`_who` writes it) in their title,
    description and recommendation replaced by the creator's name, where it is known;
    ids, evidence and fingerprints are unchanged."""
    known = {str(k): str(v) for k, v in names.items() if k and v and str(v).strip()}
    if not known:
        return rows
    pattern = re.compile(r"\bcreator (" + "|".join(
        re.escape(k) for k in sorted(known, key=len, reverse=True)) + r")(?![\w-])")
    out = []
    for r in rows:
        r = dict(r)
        for key in ("title", "description", "recommendation"):
            if isinstance(r.get(key), str):
                r[key] = pattern.sub(lambda m: known[m.group(1)], r[key])
        out.append(r)
    return out


def _bucket(x: float, step: float) -> float:
    """x rounded to a multiple of step (the fingerprint's tolerance)."""
    return round(round(float(x) / step) * step, 6) if math.isfinite(float(x)) else 0.0


def _sig2(x: float) -> float:
    """x to two significant figures (a record is news again once it moves that much)."""
    return float(f"{float(x):.2g}")


def _finite(x: Any, default: float = 0.0) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


# --------------------------------------------------------------------------- a finding


def finding(as_of: date, creator: str, kind: str, metric: str, subject: str, title: str,
            description: str, recommendation: str, evidence: dict[str, Any],
            significance: float, impact: float, material: dict[str, Any]) -> dict[str, Any]:
    """One candidate row; ``material`` is what the fingerprint hashes."""
    key = f"{creator}|{kind}|{metric}|{subject}"
    return {
        "insight_id": hashlib.sha256(f"{as_of}|{key}".encode()).hexdigest()[:16],
        "as_of_date": as_of, "creator_id": str(creator), "kind": kind, "title": title,
        "description": description, "recommendation": recommendation, "metric": metric,
        "evidence": dumps({"creator_id": str(creator), **evidence}),
        "significance": float(np.clip(_finite(significance), 0.0, 1.0)),
        "impact": abs(_finite(impact)), "finding_key": key,
        "fingerprint": hashlib.sha256(dumps(material).encode()).hexdigest()[:16],
        "_material": material}


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.normalize()


def _daily(frame: pd.DataFrame, value: str, as_of: date) -> pd.Series:
    """One creator's daily series up to as_of, missing days 0 (counts, sums)."""
    s = frame.groupby(_dates(frame["date"]))[value].sum().astype(float)
    s = s[s.index <= pd.Timestamp(as_of)]
    if s.empty:
        return s
    return s.reindex(pd.date_range(s.index.min(), pd.Timestamp(as_of), freq="D"),
                     fill_value=0.0)


def _series_by_group(frame: pd.DataFrame, value: str, as_of: date,
                     group: str = "creator_id") -> Iterator[tuple[str, pd.Series]]:
    """(group, daily series up to as_of) per group, sorted; nothing when the frame is
    empty or lacks the column."""
    if frame.empty or value not in frame.columns:
        return
    for key, g in frame.groupby(group, sort=True):
        yield key, _daily(g, value, as_of)


# --------------------------------------------------------------------------- anomaly


def _anomaly_advice(metric: str, up: bool, day: date, creator: str) -> str:
    """What to do about a departure, by whether the move is good for the metric."""
    where = f"Check releases, incidents and campaigns of {day} for {_who(creator)}; "
    verdict = good_or_bad(metric, "up" if up else "down")
    if verdict == "good":
        return where + "if it came from a change of yours, find what worked and keep it."
    if verdict == "bad":
        return where + f"fix the cause of the {metric_name(metric)} {'rise' if up else 'fall'}."
    return where + "find its cause before acting on it."


def from_anomalies(anoms: pd.DataFrame, as_of: date, recent_days: int = 7) -> list[dict]:
    """One finding per creator, day and pattern: a rise of a metric that signals automated
    traffic (sessions per active user) that day folds in the same day's rises of sessions
    and DAU as one 'possible automated traffic' finding."""
    if anoms.empty:
        return []
    when = _dates(anoms["date"])
    a = anoms[(when > pd.Timestamp(as_of) - pd.Timedelta(days=recent_days))
              & (when <= pd.Timestamp(as_of)) & anoms["severity"].isin(["medium", "high"])]
    out = []
    for (creator, day_ts), g in a.groupby([a["creator_id"], _dates(a["date"])], sort=True):
        day = pd.Timestamp(day_ts).date()
        bots = g[g["metric"].map(lambda m: spec(m).automation_signal)
                 & (g["direction"] == "up")]
        rest = g
        if len(bots):
            out.append(_automated_traffic(g, bots, as_of, str(creator), day))
            rest = g[~g["metric"].isin([*bots["metric"], *AUTOMATION_COMPANIONS])
                     | (g["direction"] != "up")]
        lost = rest[(rest["metric"] == PURCHASES) & (rest["direction"] == "down")]
        if len(lost):
            out.append(_lost_purchases(rest, lost.iloc[0], as_of, str(creator), day))
            rest = rest[~(((rest["metric"] == PURCHASES)
                           | rest["metric"].str.startswith(REVENUE_PREFIX))
                          & (rest["direction"] == "down"))]
        for r in rest.sort_values("metric").itertuples():
            out.append(_one_anomaly(r, as_of, str(creator), day))
    return out


#: metrics whose same-day rise is part of an automated-traffic pattern, not news of its own
AUTOMATION_COMPANIONS = ("sessions", "dau")
#: a drop of purchases folds in the same day's drops of net revenue (one lost-checkout finding)
PURCHASES = "purchases"


def _lost_purchases(g: pd.DataFrame, lead: Any, as_of: date, creator: str,
                    day: date) -> dict:
    """A day of far fewer purchases (and the net revenue they took with them): a checkout
    or payment failure until shown otherwise."""
    parts = g[(g["direction"] == "down") & ((g["metric"] == PURCHASES)
                                            | g["metric"].str.startswith(REVENUE_PREFIX))]
    parts = parts.sort_values("metric", key=lambda m: m != PURCHASES)
    said = "; ".join(
        f"{metric_name(r.metric)} {fmt_value(r.metric, _finite(r.value))} against an expected "
        f"{fmt_value(r.metric, _finite(r.expected))} (score {_finite(r.score):.1f}, "
        f"{r.severity})" for r in parts.itertuples())
    score = _finite(lead["score"])
    p = 2 * stats.norm.sf(abs(score))
    rel = (_finite(lead["value"]) - _finite(lead["expected"])) / max(
        abs(_finite(lead["expected"])), 1e-9)
    severity = "high" if (parts["severity"] == "high").any() else str(lead["severity"])
    return finding(
        as_of, creator, "anomaly", "lost_purchases", str(day),
        f"Purchases dropped on {day} ({_who(creator)}): possible checkout outage",
        f"On {day} far fewer purchases went through than usual: {said}. A drop of "
        "purchases on one day while people keep coming is the mark of a failing checkout "
        "or payment provider rather than of lower demand.",
        f"Check the checkout and the payment provider's logs and status for {day}, the "
        "failed or abandoned payments of that day, and any release that touched checkout; "
        "contact the users whose payments failed.",
        {"date": day, "metrics": parts["metric"].tolist(), "score": score,
         "relative_change": rel, "severity": severity, "direction": "down", "p_value": p},
        1 - p, rel, {"direction": "down", "severity": severity})


def _one_anomaly(r: Any, as_of: date, creator: str, day: date) -> dict:
    value, expected, score = _finite(r.value), _finite(r.expected), _finite(r.score)
    rel = (value - expected) / max(abs(expected), 1e-9)
    name = metric_name(r.metric)
    up = r.direction == "up"
    p = 2 * stats.norm.sf(abs(score))
    return finding(
        as_of, creator, "anomaly", r.metric, str(day),
        f"{name} {'spiked' if up else 'dropped'} on {day} ({_who(creator)})",
        f"{name[0].upper()}{name[1:]} on {day}: {fmt_value(r.metric, value)} against an "
        f"expected {fmt_value(r.metric, expected)} ({fmt_pct(rel, signed=True)}; "
        f"score {score:.1f}, {r.severity} severity).",
        _anomaly_advice(r.metric, up, day, creator),
        {"date": day, "value": value, "expected": expected, "relative_change": rel,
         "score": score, "severity": r.severity, "direction": r.direction, "p_value": p},
        1 - p, rel, {"direction": r.direction, "severity": r.severity})


def _automated_traffic(g: pd.DataFrame, bots: pd.DataFrame, as_of: date, creator: str,
                       day: date) -> dict:
    """Rises of per-user activity (and of sessions, DAU) on one day: possible bots."""
    lead = bots.sort_values("score", ascending=False).iloc[0]
    parts = g[(g["direction"] == "up") & g["metric"].isin(
        [*bots["metric"], *AUTOMATION_COMPANIONS])].sort_values("metric")
    said = "; ".join(
        f"{metric_name(r.metric)} {fmt_value(r.metric, _finite(r.value))} against an expected "
        f"{fmt_value(r.metric, _finite(r.expected))} (score {_finite(r.score):.1f})"
        for r in parts.itertuples())
    score = _finite(lead["score"])
    p = 2 * stats.norm.sf(abs(score))
    rel = (_finite(lead["value"]) - _finite(lead["expected"])) / max(
        abs(_finite(lead["expected"])), 1e-9)
    severity = "high" if (parts["severity"] == "high").any() else "medium"
    return finding(
        as_of, creator, "anomaly", "automated_traffic", str(day),
        f"Possible automated traffic on {day} ({_who(creator)})",
        f"On {day} the activity per active user rose far above its usual level: {said}. "
        "More sessions per user on one day, not more users, is the mark of bots, scripts "
        "or client retries rather than of real engagement.",
        f"Look at the users with the most sessions on {day} for {_who(creator)} (the "
        "flagged bursts in ml.user_behaviour_anomalies), check their devices, agents and "
        "request rates, and exclude confirmed bots before reading that day's engagement.",
        {"date": day, "metrics": parts["metric"].tolist(), "score": score,
         "relative_change": rel, "severity": severity, "direction": "up", "p_value": p},
        1 - p, rel, {"direction": "up", "severity": severity})


# --------------------------------------------------------------------------- experiment


def from_experiments(res: pd.DataFrame, as_of: date) -> list[dict]:
    out: list[dict] = []
    if res.empty:
        return out
    rows = res[~res["is_control"].astype(bool)].copy()
    # one finding per experiment and variant: its primary metric (else its most certain)
    rows["_primary"] = rows["is_primary"].astype(bool) if "is_primary" in rows.columns \
        else False
    rows = rows.sort_values(["experiment_id", "variant", "_primary", "p_value_holm", "metric"],
                            ascending=[True, True, False, True, True])
    others = {k: g for k, g in rows.groupby(["experiment_id", "variant"], sort=False)}
    rows = rows.drop_duplicates(["experiment_id", "variant"])
    for r in rows.itertuples():
        also = others[(r.experiment_id, r.variant)].iloc[1:]
        also_text = "; other metrics: " + ", ".join(
            f"{m} {fmt_pct(_finite(lift), signed=True)} (Holm {fmt_p(_finite(ph, 1.0))})"
            for m, lift, ph in zip(also["metric"], also["lift"], also["p_value_holm"],
                                   strict=True)) if len(also) else ""
        sig = bool(r.significant)
        lift, p_holm = _finite(r.lift), _finite(r.p_value_holm, 1.0)
        srm_p = _finite(r.srm_p_value, 1.0)
        srm = srm_p < 0.01
        if srm:
            rec = (f"Do not trust this result: the split of users between variants is off "
                   f"(sample-ratio mismatch, {fmt_p(srm_p)}); fix the assignment first.")
        elif sig and lift > 0:
            rec = f"Roll out {r.variant}: it lifts {r.metric} by {fmt_pct(lift)}."
        elif sig:
            rec = f"Do not roll out {r.variant}: it lowers {r.metric} by {fmt_pct(-lift)}."
        else:
            rec = ("Keep collecting: the test cannot yet tell this effect from noise "
                   f"(detectable lift at this size: {fmt_pct(_finite(r.mde_lift))}).")
        out.append(finding(
            as_of, ALL, "experiment", r.metric, f"{r.experiment_id}|{r.variant}",
            f"{r.experiment_id}: {r.variant} {fmt_pct(lift, signed=True)} on {r.metric} "
            f"({'significant' if sig else 'not significant'})",
            f"{fmt_count(r.conversions)} of {fmt_count(r.users)} users converted "
            f"({fmt_pct(_finite(r.conversion_rate))}); difference against control "
            f"{_finite(r.rate_difference) * 100:+.1f} points (95% CI "
            f"{_finite(r.ci_low) * 100:+.1f} to {_finite(r.ci_high) * 100:+.1f}), "
            f"{fmt_p(_finite(r.p_value, 1.0))}, Holm-corrected {fmt_p(p_holm)}; power "
            f"{fmt_pct(_finite(r.power))}{also_text}.",
            rec,
            {"experiment_id": r.experiment_id, "variant": r.variant, "users": r.users,
             "conversions": r.conversions, "conversion_rate": r.conversion_rate,
             "p_value": r.p_value, "p_value_holm": r.p_value_holm, "lift": r.lift,
             "ci": [r.ci_low, r.ci_high], "power": r.power, "mde_lift": r.mde_lift,
             "srm_p_value": r.srm_p_value},
            1 - p_holm, lift,
            {"significant": sig, "lift": _bucket(lift, 0.05), "srm": srm}))
    return out


# --------------------------------------------------------------------------- forecast


def from_forecast(fc: pd.DataFrame, engagement: pd.DataFrame, as_of: date,
                  history_days: int = 28) -> list[dict]:
    """Per creator and metric: the mean forecast against the mean of the last four weeks."""
    out: list[dict] = []
    if fc.empty or engagement.empty:
        return out
    for (creator, metric), f in fc.groupby(["creator_id", "metric"], sort=True):
        if metric not in engagement.columns:
            continue
        h = _daily(engagement[engagement["creator_id"] == creator], metric, as_of)
        h = h.tail(history_days)
        if len(h) < 14 or h.mean() <= 0:
            continue
        f_mean, h_mean = float(f["forecast"].mean()), float(h.mean())
        change = f_mean / h_mean - 1
        sd = float(((f["upper_95"] - f["lower_95"]) / (2 * Z95)).mean())
        z = abs(f_mean - h_mean) / sd if sd > 0 else (math.inf if f_mean != h_mean else 0.0)
        p = float(2 * stats.norm.sf(z))
        method = str(f["method"].iloc[0]) if "method" in f.columns else "model"
        name = metric_name(metric)
        up = change >= 0
        out.append(finding(
            as_of, creator, "forecast", metric, f"next_{len(f)}_days",
            f"{name} expected {'up' if up else 'down'} {fmt_pct(abs(change))} over the next "
            f"{len(f)} days ({_who(creator)})",
            f"{name} is forecast to average {fmt_num(f_mean)} per day over the next {len(f)} "
            f"days against {fmt_num(h_mean)} in the last {len(h)} days "
            f"({fmt_pct(change, signed=True)}; {method}, daily uncertainty +/-{fmt_num(sd)}).",
            f"Plan capacity and campaigns for the higher {name} of {_who(creator)}." if up
            else f"Plan a re-engagement campaign for {_who(creator)} to counter the "
            f"expected decline of {name}.",
            {"forecast_mean": f_mean, "history_mean": h_mean, "change": change,
             "daily_sd": sd, "horizon_days": len(f), "history_days": len(h),
             "method": method, "p_value": p},
            1 - p, change, {"direction": "up" if up else "down", "change": _bucket(change, 0.1)}))
    return out


# --------------------------------------------------------------------------- correlation


def from_drivers(drv: pd.DataFrame, as_of: date, top: int = 3) -> list[dict]:
    if drv.empty:
        return []
    d = drv[drv["significant"].astype(bool)].sort_values(["importance_mean", "feature"],
                                                        ascending=[False, True])
    out = []
    for r in d.head(top).itertuples():
        corr, q = _finite(r.correlation), _finite(r.q_value, 1.0)
        pos = corr >= 0
        out.append(finding(
            as_of, ALL, "correlation", r.feature, "retention_30d",
            f"{r.feature} goes with {'higher' if pos else 'lower'} 30-day retention",
            f"Spearman correlation {corr:+.2f} between {r.feature} and 30-day retention "
            f"(Benjamini-Hochberg q = {q:.3f}); permutation importance "
            f"{_finite(r.importance_mean):.3f} ROC-AUC. A correlation, not a proven cause.",
            _driver_advice(r.feature, pos),
            {"correlation": corr, "q_value": q, "importance": r.importance_mean},
            1 - q, corr, {"direction": "+" if pos else "-", "correlation": _bucket(corr, 0.1)}))
    return out


DRIVER_ADVICE = {
    "attempts_28": "Put an exercise in front of new users in their first sessions",
    "correct_rate_28": "Match exercise difficulty to the learner so more attempts succeed",
    "goals_created": "Prompt new users to set a learning goal in their first week",
    "goals_completed": "Size first goals so they can be completed within two weeks",
    "sessions_28": "Give users a reason to come back within the week (reminders, streaks)",
    "conversations_28": "Invite users to ask the assistant a question early",
    "avg_session_minutes_28": "Make the first sessions long enough to finish one lesson",
    "charges_to_date": "Offer paid content once a user is engaged, not before",
    "plan_pro": "Show free users what the pro plan adds",
    "plan_team": "Offer the team plan to users who learn with others",
    "tenure_days": "Re-engage long-standing users with new content",
}


def _driver_advice(feature: str, positive: bool) -> str:
    """Advice specific to the feature (a correlation, so: test it before rolling out)."""
    base = DRIVER_ADVICE.get(feature)
    if base is None:
        base = (f"Encourage more {feature.replace('_', ' ')}" if positive
                else f"Watch users with high {feature.replace('_', ' ')}")
    return f"{base}; test it as an experiment, since a correlation is not a proven cause."


# --------------------------------------------------------------------------- opportunity


def from_churn(pred: pd.DataFrame, as_of: date) -> list[dict]:
    """High-risk users: their expected churn against the scored population's (one-sided z)."""
    if pred.empty:
        return []
    p = pred["churn_probability"].astype(float)
    high = (pred["risk_band"] == "high").to_numpy()
    n_high = int(high.sum())
    if n_high == 0:
        return []
    expected = float(p[high].sum())
    base = float(p.mean())
    var = float((p[high] * (1 - p[high])).sum())
    z = (expected - n_high * base) / math.sqrt(var) if var > 0 else math.inf
    share = n_high / len(pred)
    model = str(pred["model_version"].iloc[0]) if "model_version" in pred.columns else ""
    return [finding(
        as_of, ALL, "opportunity", "churn_probability", "high_risk_users",
        f"{fmt_count(n_high)} active users at high churn risk",
        f"{fmt_pct(share)} of the {fmt_count(len(pred))} recently active users "
        f"({fmt_count(n_high)}) are in the high churn-risk band; about "
        f"{fmt_count(expected)} of them are expected to leave, against "
        f"{fmt_count(n_high * base)} at the average risk of {fmt_pct(base)} "
        f"(model {model}).",
        f"Reach out to the {fmt_count(n_high)} high-risk users with a re-engagement message "
        "this week.",
        {"high_risk_users": n_high, "scored_users": len(pred), "expected_churners": expected,
         "mean_probability": base, "z": z},
        float(stats.norm.cdf(z)), share,
        {"share": _bucket(share, 0.05)})]


def automation_opportunities(conv: pd.DataFrame, as_of: date,
                             window_days: int = 28) -> list[dict]:
    """Creators whose automation rate of the last weeks is below the other creators'."""
    if conv.empty:
        return []
    c = conv[(_dates(conv["date"]) > pd.Timestamp(as_of) - pd.Timedelta(days=window_days))
             & (_dates(conv["date"]) <= pd.Timestamp(as_of))]
    tot = c.groupby("creator_id")[["sessions", "automated_sessions"]].sum().astype(float)
    if ALL not in tot.index:
        return []
    out = []
    for creator, r in tot.drop(index=ALL).iterrows():
        n1, x1 = r["sessions"], r["automated_sessions"]
        n2 = tot.loc[ALL, "sessions"] - n1
        x2 = tot.loc[ALL, "automated_sessions"] - x1
        if n1 <= 0 or n2 <= 0:
            continue
        r1, r2 = x1 / n1, x2 / n2
        if r1 >= r2:
            continue
        pooled = (x1 + x2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (r2 - r1) / se if se > 0 else math.inf
        missed = (r2 - r1) * n1
        out.append(finding(
            as_of, str(creator), "opportunity", "automation_rate", "vs_other_creators",
            f"Automation rate of {_who(str(creator))} {fmt_pct(r1)} against {fmt_pct(r2)} "
            "elsewhere",
            f"In the last {window_days} days, {_who(str(creator))} automated "
            f"{fmt_pct(r1)} of its {fmt_count(n1)} sessions against {fmt_pct(r2)} for the "
            f"other creators ({(r1 - r2) * 100:+.1f} points, one-sided "
            f"{fmt_p(float(stats.norm.sf(z)))}); at their rate about {fmt_count(missed)} more "
            "sessions would have needed no human.",
            "Review this creator's escalations to humans and add answers or workflows for "
            "the most frequent ones.",
            {"window_days": window_days, "sessions": n1, "automation_rate": r1,
             "other_sessions": n2, "other_automation_rate": r2, "sessions_to_gain": missed},
            float(stats.norm.cdf(z)), (r2 - r1) / max(r2, 1e-9),
            {"gap": _bucket(r2 - r1, 0.02)}))
    return out


# --------------------------------------------------------------------------- pattern


def weekday_patterns(frame: pd.DataFrame, metric: str, as_of: date,
                     weeks: int = 8) -> list[dict]:
    """Per creator: the strongest weekday against the weakest (Kruskal-Wallis over weeks)."""
    out: list[dict] = []
    name = metric_name(metric)
    for creator, s in _series_by_group(frame, metric, as_of):
        s = s.tail(7 * weeks)
        if len(s) < 14 or s.sum() <= 0:
            continue
        groups = [s[s.index.dayofweek == d].to_numpy() for d in range(7)]
        if min(len(x) for x in groups) < 2:
            continue
        try:
            p = float(stats.kruskal(*groups).pvalue)
        except ValueError:  # all values identical
            continue
        means = np.array([x.mean() for x in groups])
        best, worst = int(np.argmax(means)), int(np.argmin(means))
        if not math.isfinite(p) or means[best] == means[worst]:
            continue
        ratio = means[best] / means[worst] - 1 if means[worst] > 0 else math.inf
        spread = (means[best] - means[worst]) / means.mean()
        n_weeks = min(len(x) for x in groups)
        versus = (f"{fmt_pct(ratio, signed=True)} vs {WEEKDAYS[worst]}s"
                  if math.isfinite(ratio) else f"none on {WEEKDAYS[worst]}s")
        out.append(finding(
            as_of, str(creator), "pattern", metric, "weekday",
            f"{WEEKDAYS[best]}s are the strongest day for {name} ({versus}; "
            f"{_who(str(creator))})",
            f"Over the last {n_weeks} weeks, {name} averaged {fmt_num(means[best])} on "
            f"{WEEKDAYS[best]}s against {fmt_num(means[worst])} on {WEEKDAYS[worst]}s "
            f"(Kruskal-Wallis across weekdays, {fmt_p(p)}).",
            f"Schedule campaigns and new content for {WEEKDAYS[best]}s; plan maintenance and "
            f"expect lower {name} on {WEEKDAYS[worst]}s.",
            {"weeks": n_weeks, "weekday_means": dict(zip(WEEKDAYS, means.round(4).tolist(),
                                                         strict=True)),
             "strongest": WEEKDAYS[best], "weakest": WEEKDAYS[worst],
             "ratio": ratio, "p_value": p},
            1 - p, spread,
            {"best": WEEKDAYS[best], "worst": WEEKDAYS[worst],
             "spread": _bucket(min(spread, 10.0), 0.25)}))
    return out


def _paired_p(last: np.ndarray, prev: np.ndarray) -> float:
    """Two-sided p of the paired t-test by weekday; 0 for a constant non-zero difference."""
    d = last - prev
    if np.allclose(d, d[0]):
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_rel(last, prev).pvalue)


def week_over_week(frame: pd.DataFrame, metric: str, as_of: date, value: str | None = None,
                   group: str = "creator_id") -> list[dict]:
    """Per ``group``: the last 7 days against the 7 before, paired by weekday.

    For revenue, pass the frame of one currency and metric ``net_revenue_<currency>``."""
    out: list[dict] = []
    name = metric_name(metric)
    money = metric.startswith("net_revenue_")
    for creator, s in _series_by_group(frame, value or metric, as_of, group):
        if len(s) < 14:
            continue
        last, prev = s.iloc[-7:].to_numpy(), s.iloc[-14:-7].to_numpy()
        a, b = float(last.sum()), float(prev.sum())
        if b <= 0 or a == b:
            continue
        change = a / b - 1
        p = _paired_p(last, prev)
        up = change > 0
        start = (pd.Timestamp(as_of) - pd.Timedelta(days=6)).date()
        if money:
            level = (f"{fmt_value(metric, a)} in the 7 days {start} to {as_of} against "
                     f"{fmt_value(metric, b)} in the 7 days before")
        else:
            level = (f"averaged {fmt_num(a / 7)} per day in the 7 days {start} to {as_of} "
                     f"against {fmt_num(b / 7)} in the 7 days before")
        out.append(finding(
            as_of, str(creator), "pattern", metric, "week_over_week",
            f"{name} {'up' if up else 'down'} {fmt_pct(abs(change))} week over week "
            f"({_who(str(creator))})",
            f"{name[0].upper()}{name[1:]} {level} ({fmt_pct(change, signed=True)}; paired by "
            f"weekday, {fmt_p(p)}).",
            f"Find what drove the rise of {name} (campaigns, content, releases) and repeat "
            "it." if up else
            f"Look into the fall of {name}: check last week's releases, content gaps and "
            "campaigns.",
            {"last_7_days": a, "previous_7_days": b, "change": change, "p_value": p,
             "window_end": as_of},
            1 - p, change, {"direction": "up" if up else "down", "change": _bucket(change, 0.1)}))
    return out


def automation_week_over_week(conv: pd.DataFrame, as_of: date) -> list[dict]:
    """Per creator: automation rate of the last 7 days against the 7 before (z-test)."""
    out: list[dict] = []
    if conv.empty:
        return out
    day = _dates(conv["date"])
    end = pd.Timestamp(as_of)
    last = conv[(day > end - pd.Timedelta(days=7)) & (day <= end)]
    prev = conv[(day > end - pd.Timedelta(days=14)) & (day <= end - pd.Timedelta(days=7))]
    cols = ["sessions", "automated_sessions"]
    a = last.groupby("creator_id")[cols].sum().astype(float)
    b = prev.groupby("creator_id")[cols].sum().astype(float)
    for creator in sorted(set(a.index) & set(b.index), key=str):
        n1, x1 = a.loc[creator, "sessions"], a.loc[creator, "automated_sessions"]
        n2, x2 = b.loc[creator, "sessions"], b.loc[creator, "automated_sessions"]
        if n1 <= 0 or n2 <= 0:
            continue
        r1, r2 = x1 / n1, x2 / n2
        if r1 == r2:
            continue
        pooled = (x1 + x2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p = float(2 * stats.norm.sf(abs(r1 - r2) / se)) if se > 0 else 0.0
        up = r1 > r2
        out.append(finding(
            as_of, str(creator), "pattern", "automation_rate", "week_over_week",
            f"Automation rate {'up' if up else 'down'} {abs(r1 - r2) * 100:.1f} points week "
            f"over week ({_who(str(creator))})",
            f"The assistant handled {fmt_pct(r1)} of {fmt_count(n1)} sessions without a human "
            f"in the last 7 days against {fmt_pct(r2)} of {fmt_count(n2)} the week before "
            f"(two-proportion z-test, {fmt_p(p)}).",
            "Keep the changes that raised automation." if up else
            "Look at the new escalations to humans: which intents or workflows fail now?",
            {"rate_last_7_days": r1, "rate_previous_7_days": r2, "sessions_last_7_days": n1,
             "sessions_previous_7_days": n2, "p_value": p},
            1 - p, (r1 - r2) / max(r2, 1e-9),
            {"direction": "up" if up else "down", "change": _bucket(r1 - r2, 0.05)}))
    return out


SEGMENT_ADVICE = {
    "dormant": "send a win-back message with what is new since they left",
    "at risk": "re-engage them this week, before they lapse (a reminder of their goal or "
               "streak)",
    "casual": "give them a reason to come back within the week (a short lesson, a "
              "reminder)",
    "steady": "nudge them toward a first goal so their habit sticks",
    "learners": "suggest the next exercises on their topics",
    "power learners": "offer advanced content and ask them for referrals",
    "power users": "offer advanced features and ask them for referrals",
    "paying regulars": "keep them with early access and thank-you offers",
}


def _segment_advice(label: str, users: int) -> str:
    """Advice for the segment by its name (the part before a distinguishing trait)."""
    base = label.split(",")[0].strip()
    what = SEGMENT_ADVICE.get(base, "tailor content and messages to them")
    return f"For the {fmt_count(users)} users in '{label}': {what}."


def from_segments(seg: pd.DataFrame, as_of: date) -> list[dict]:
    """The largest segment; significance from a binomial test of its share against 1/k."""
    if seg.empty:
        return []
    counts = seg["segment_label"].astype(str).value_counts()
    counts = counts.reindex(sorted(counts.index, key=lambda k: (-counts[k], k)))
    n, k = int(counts.sum()), len(counts)
    if k < 2:
        return []
    top = counts.index[0]
    share = counts.iloc[0] / n
    p = float(stats.binomtest(int(counts.iloc[0]), n, 1 / k, alternative="greater").pvalue)
    shares = (counts / n).round(4)
    return [finding(
        as_of, ALL, "pattern", "segment", "largest_segment",
        f"{top} is the largest segment ({fmt_pct(share)} of users)",
        f"Of {fmt_count(n)} users, " + ", ".join(
            f"{fmt_count(counts[lab])} ({fmt_pct(shares[lab])}) are {lab}"
            for lab in counts.index) + f"; the largest share against an even 1/{k}: "
        f"{fmt_p(p)}.",
        _segment_advice(str(top), int(counts.iloc[0])),
        {"counts": {str(lab): int(c) for lab, c in counts.items()},
         "shares": {str(lab): float(v) for lab, v in shares.items()}, "p_value": p},
        1 - p, share, {"largest": top, "share": _bucket(share, 0.05)})]


# --------------------------------------------------------------------------- milestone


def round_numbers(upto: float, minimum: float = 100) -> list[float]:
    """1, 2, 5 x 10^k from ``minimum`` up to ``upto`` (100, 200, 500, 1000, ...)."""
    out: list[float] = []
    k = 0
    while True:
        for m in (1, 2, 5):
            t = m * 10.0 ** k
            if t > upto:
                return out
            if t >= minimum:
                out.append(t)
        k += 1


def records(frame: pd.DataFrame, metric: str, as_of: date,
            label: str | None = None) -> list[dict]:
    """Per creator: the as-of day's value above every earlier day (an all-time high)."""
    out: list[dict] = []
    name = label or metric_name(metric)
    for creator, s in _series_by_group(frame, metric, as_of):
        if len(s) < 2 or s.index[-1] != pd.Timestamp(as_of):
            continue
        today, before = float(s.iloc[-1]), float(s.iloc[:-1].max())
        if today <= before or today <= 0:
            continue
        n = len(s)
        prev_day = s.iloc[:-1].idxmax().date()
        margin = today / before - 1 if before > 0 else 1.0
        out.append(finding(
            as_of, str(creator), "milestone", metric, "all_time_high",
            f"{name} at an all-time high of {fmt_value(metric, today)} "
            f"({_who(str(creator))})",
            f"On {as_of}, {name} reached {fmt_value(metric, today)}, above the previous high "
            f"of {fmt_value(metric, before)} on {prev_day} ({fmt_pct(margin, signed=True)}) over "
            f"{fmt_count(n)} days of history.",
            "Celebrate it with the community and find out what brought people in.",
            {"value": today, "previous_high": before, "previous_high_date": prev_day,
             "days_of_history": n},
            1 - 1 / n, margin, {"value": _sig2(today)}))
    return out


def crossings(frame: pd.DataFrame, metric: str, as_of: date, recent_days: int = 7,
              value: str | None = None, minimum: float = 100,
              group: str = "creator_id") -> list[dict]:
    """Per group: the cumulative total crossing a round number within the recent days."""
    out: list[dict] = []
    name = metric_name(metric)
    money = metric.startswith("net_revenue_")
    for creator, s in _series_by_group(frame, value or metric, as_of, group):
        if s.empty:
            continue
        total = float(s.sum())
        before = float(s[s.index <= pd.Timestamp(as_of) - pd.Timedelta(days=recent_days)].sum())
        crossed = [t for t in round_numbers(total, minimum) if t > before]
        if not crossed:
            continue
        t = crossed[-1]
        cum = s.cumsum()
        day = cum[cum >= t].index[0].date()
        shown = fmt_value(metric, t) if money else fmt_count(t)
        out.append(finding(
            as_of, str(creator), "milestone", metric, "cumulative",
            f"{shown if money else fmt_count(t) + ' ' + name} in total "
            f"({_who(str(creator))})",
            f"Total {name} ({_who(str(creator))}) passed {shown} on {day} and stands at"
            f" {fmt_value(metric, total) if money else fmt_count(total)} on {as_of}.",
            f"Share the {shown if money else fmt_count(t) + ' ' + name} milestone with "
            f"{_audience(str(creator))}; it is good social proof.",
            {"threshold": t, "crossed_on": day, "total": total, "since": s.index[0].date()},
            1.0, 0.2, {"threshold": t}))
    return out


def goal_records(goals: pd.DataFrame, as_of: date, recent_days: int = 7) -> list[dict]:
    """Goals completed per day (all creators): a record day and round-number totals."""
    if goals.empty or "completed_on" not in goals.columns:
        return []
    done = goals.dropna(subset=["completed_on"])
    if done.empty:
        return []
    daily = done.assign(date=_dates(done["completed_on"]), creator_id=ALL, goals_completed=1)
    return [*records(daily, "goals_completed", as_of, "goals completed in a day"),
            *crossings(daily, "goals_completed", as_of, recent_days, minimum=10)]


# --------------------------------------------------------------------------- all together


def build(inp: InsightInputs, as_of: date, params: InsightParams | None = None) -> list[dict]:
    """Every candidate finding, before the significance filter and the de-duplication."""
    prm = params or InsightParams()
    eng, conv, rev = inp.engagement, inp.conversation, inp.revenue
    rows = [
        *from_anomalies(inp.anomalies, as_of, prm.recent_days),
        *from_experiments(inp.experiments, as_of),
        *from_drivers(inp.drivers, as_of, prm.top_drivers),
        *from_churn(inp.churn, as_of),
        *from_segments(inp.segments, as_of),
        *automation_opportunities(conv, as_of),
        *automation_week_over_week(conv, as_of),
        *goal_records(inp.goals, as_of, prm.recent_days),
    ]
    rows += paired(weekday_patterns(eng, "dau", as_of, prm.pattern_weeks),
                   weekday_patterns(eng, "sessions", as_of, prm.pattern_weeks),
                   same_weekday_shape)
    rows += paired(week_over_week(eng, "dau", as_of), week_over_week(eng, "sessions", as_of),
                   same_direction)
    # DAU and sessions forecast to move the same way are one outlook, not two
    fc = from_forecast(inp.forecast, eng, as_of)
    rows += paired([r for r in fc if r["metric"] == "dau"],
                   [r for r in fc if r["metric"] == "sessions"], same_direction)
    rows += [r for r in fc if r["metric"] not in ("dau", "sessions")]
    for metric in ("dau", "mau"):
        rows += records(eng, metric, as_of)
    rows += crossings(eng, "sessions", as_of, prm.recent_days)
    if not rev.empty:  # one currency at a time: never mix currencies
        for cur, g in rev.groupby("currency", sort=True):
            metric = f"net_revenue_{str(cur).lower()}"
            rows += week_over_week(g, metric, as_of, value="net_revenue")
            rows += crossings(g, metric, as_of, prm.recent_days, value="net_revenue")
    return rows


def same_weekday_shape(a: dict, b: dict) -> bool:
    """Two weekday patterns are one when their weekday means go together (Pearson r of the
    seven means >= WEEKDAY_SAME_SHAPE): DAU and sessions rise and fall on the same days even
    when noise makes a different day the single strongest."""
    ma = list(json.loads(a["evidence"])["weekday_means"].values())
    mb = list(json.loads(b["evidence"])["weekday_means"].values())
    if np.std(ma) == 0 or np.std(mb) == 0:
        return False
    return float(np.corrcoef(ma, mb)[0, 1]) >= WEEKDAY_SAME_SHAPE


def same_direction(a: dict, b: dict) -> bool:
    return a["_material"].get("direction") == b["_material"].get("direction")


def paired(first: list[dict], second: list[dict],
           same: Callable[[dict, dict], bool]) -> list[dict]:
    """One finding per creator for a pattern two paired metrics (DAU and sessions) share:
    where ``same`` holds for a creator's two findings, the second folds into the first
    (its title joins the first's description); otherwise both stay."""
    by_creator = {r["creator_id"]: r for r in first}
    out = list(first)
    for r in second:
        mate = by_creator.get(r["creator_id"])
        if mate is None or not same(mate, r):
            out.append(r)
            continue
        mate["description"] += f" {metric_name(r['metric']).capitalize()} show the same " \
            f"pattern: {r['title']}."
    return out


def select(rows: list[dict], history: pd.DataFrame, as_of: date, min_significance: float,
           max_per_creator: int, max_per_kind: int | None = None) -> pd.DataFrame:
    """Keep the significant findings not emitted unchanged before, ranked per creator.

    ``history``: earlier rows of ml.insights (any dates; those of ``as_of`` or later are
    ignored, so a rerun of a date gives the same answer)."""
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("rank", "status",
                                                                      "first_seen")])
    if out.empty:
        return empty()
    out = out[out["significance"] >= min_significance]
    # one row per finding (the most significant; ties by id)
    out = out.sort_values(["finding_key", "significance", "insight_id"],
                          ascending=[True, False, True]).drop_duplicates("finding_key")
    prev = _previous(history, as_of)
    last = out["finding_key"].map(prev["fingerprint"]) if len(prev) else pd.Series(
        None, index=out.index, dtype="object")
    out = out[last.isna() | (last != out["fingerprint"])].copy()
    out["status"] = np.where(out["finding_key"].isin(prev.index), "changed", "new")
    first = out["finding_key"].map(prev["first_seen"]) if len(prev) else pd.Series(
        None, index=out.index, dtype="object")
    out["first_seen"] = [f if isinstance(f, date) else as_of for f in first]
    out["_score"] = out["significance"] * out["impact"].clip(upper=1.0)
    out = out.sort_values(["creator_id", "_score", "finding_key"],
                          ascending=[True, False, True])
    if max_per_kind is not None:  # no kind crowds out the others
        out = out[out.groupby(["creator_id", "kind"]).cumcount() < max_per_kind]
    out["rank"] = out.groupby("creator_id").cumcount() + 1
    out = out[out["rank"] <= max_per_creator]
    out["evidence"] = out["evidence"].map(lambda s: json.dumps(json.loads(s), sort_keys=True))
    return out.drop(columns="_score").reset_index(drop=True)[COLUMNS].astype(
        {"rank": "int64", "significance": "float64", "impact": "float64"})


def _previous(history: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per finding_key: the fingerprint of its latest emission before as_of, its first_seen."""
    none = pd.DataFrame(columns=["fingerprint", "first_seen"])
    if history.empty or "finding_key" not in history.columns:
        return none
    h = history.dropna(subset=["finding_key"])
    when = pd.to_datetime(h["as_of_date"])
    h = h[when < pd.Timestamp(as_of)].assign(_when=when)
    if h.empty:
        return none
    seen = pd.to_datetime(h["first_seen"], errors="coerce") if "first_seen" in h.columns \
        else h["_when"]
    first = pd.concat([h["_when"], seen], axis=1).min(axis=1).groupby(h["finding_key"]).min()
    latest = h.sort_values(["_when", "insight_id"]).groupby("finding_key").tail(1)
    return pd.DataFrame({"fingerprint": latest.set_index("finding_key")["fingerprint"],
                         "first_seen": first.map(lambda x: x.date())})


def _as_dates(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(x) else pd.Timestamp(x).date() for x in s],
                     index=s.index, dtype="object")


def merge_history(history: pd.DataFrame, new: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """ml.insights after a run: earlier rows kept, rows of ``as_of`` replaced by ``new``.

    Rows without a finding_key (written before insights had a history) are dropped."""
    parts = [new] if len(new) else []
    if len(history) and "finding_key" in history.columns:
        h = history.dropna(subset=["finding_key"])
        h = h[_as_dates(h["as_of_date"]) != as_of]
        if len(h):
            parts.insert(0, h.reindex(columns=COLUMNS))
    if not parts:
        return empty()
    out = pd.concat(parts, ignore_index=True)
    for c in ("as_of_date", "first_seen"):
        out[c] = _as_dates(out[c])
    out["rank"] = out["rank"].astype("int64")
    return out.sort_values(["as_of_date", "creator_id", "rank"]).reset_index(drop=True)


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMN_TYPES.items()})

