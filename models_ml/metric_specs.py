"""What each monitored daily metric is: its unit, whether up is good, and whether a rise
hints at automated traffic. Anomaly scoring (its noise floor), insight wording (direction,
advice, number formats) and the alert messages read these declarations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["count", "rate", "money", "ms", "ratio"]
REVENUE_PREFIX = "net_revenue_"
FUNNEL_PREFIX = "funnel_conversion_"  # funnel_conversion_<funnel>: a funnel's daily conversion


@dataclass(frozen=True)
class MetricSpec:
    """``up_is_good`` None: neither direction is good or bad in itself.
    ``automation_signal``: a rise is first of all a sign of possible automated traffic
    (bots, scripts, retries), not of more engagement."""

    name: str
    label: str
    unit: Unit
    up_is_good: bool | None
    automation_signal: bool = False
    currency: str = ""
    #: judged at any daily volume (the platform's revenue and purchases); other series
    #: below ``ml.anomaly_min_volume`` are left out
    any_volume: bool = False


METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("dau", "DAU", "count", True),
    MetricSpec("wau", "WAU", "count", True),
    MetricSpec("mau", "MAU", "count", True),
    MetricSpec("sessions", "sessions", "count", True),
    MetricSpec("sessions_per_user", "sessions per active user", "ratio", None,
               automation_signal=True),
    MetricSpec("events_per_user", "events per active user", "ratio", None,
               automation_signal=True),
    MetricSpec("automation_rate", "automation rate", "rate", True),
    MetricSpec("fallback_rate", "fallback rate", "rate", False),
    MetricSpec("response_time_p95", "response time p95", "ms", False),
    MetricSpec("goals_completed", "goals completed", "count", True),
    MetricSpec("purchases", "purchases", "count", True, any_volume=True),
)}


def spec(metric: str) -> MetricSpec:
    """The declaration of ``metric``; net_revenue_<currency> is money in that currency,
    funnel_conversion_<funnel> a rate; unknown metrics are counts (``*_rate``: rates) of
    no good direction."""
    if metric in METRICS:
        return METRICS[metric]
    if metric.startswith(REVENUE_PREFIX):
        cur = metric.removeprefix(REVENUE_PREFIX).upper()
        return MetricSpec(metric, f"net revenue ({cur})", "money", True, currency=cur,
                          any_volume=True)
    if metric.startswith(FUNNEL_PREFIX):
        name = metric.removeprefix(FUNNEL_PREFIX)
        return MetricSpec(metric, f"{name} funnel conversion", "rate", True)
    unit: Unit = "rate" if metric.endswith("_rate") else "count"
    return MetricSpec(metric, metric.replace("_", " "), unit, None)


def format_value(metric: str, x: float) -> str:
    """A metric's value by its unit: rates as %, counts as integers, money with its
    currency, ratios with two decimals, durations in ms."""
    s = spec(metric)
    x = float(x)
    if s.unit == "rate":
        return f"{x * 100:.1f}%"
    if s.unit == "money":
        return f"{x:,.2f} {s.currency}"
    if s.unit == "ms":
        return f"{x:,.0f} ms"
    if s.unit == "ratio":
        return f"{x:,.2f}"
    return f"{round(x):,}"


def good_or_bad(metric: str, direction: str) -> str:
    """'good', 'bad' or 'neutral' for a move of ``metric`` in ``direction`` (up/down)."""
    up_good = spec(metric).up_is_good
    if up_good is None:
        return "neutral"
    return "good" if (direction == "up") == up_good else "bad"
