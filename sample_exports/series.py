"""Synthetic daily metric series of the demo's sizes, with optional planted incidents.

The anomaly detector's calibration (``bench/anomaly_false_positives.py``) and the
planted-incident tests (``tests/test_planted_incidents.py``) read these. Levels and noise
are those of the demo warehouse (2,000 users, seed 1): DAU ~166 a day (noise ~4.5%),
sessions ~246 (~6%), automation rate ~94% of ~250 sessions, response time p95 ~2,500 ms
(~4%), net revenue ~180 a day (~45%: a handful of purchases of varied prices); and a
shop's purchases, 100 a day (the volume at which a 70 % outage is told from noise), and
the demo's own, ~6 a day (at which it is not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEEKLY = np.array([1.05, 1.12, 1.15, 1.1, 1.0, 0.8, 0.78])  # Monday .. Sunday


@dataclass(frozen=True)
class SeriesShape:
    """A clean daily series: ``level`` x weekly pattern x (1 + noise), or a Poisson count
    (``unit`` count) overdispersed by ``noise``; ``rate`` series are binomial shares of
    ``volume`` trials."""

    name: str
    unit: str
    level: float
    noise: float
    volume: float = 0.0


DEMO_SHAPES: tuple[SeriesShape, ...] = (
    SeriesShape("dau", "count", 166.0, 0.03),
    SeriesShape("sessions", "count", 246.0, 0.04),
    SeriesShape("sessions_per_user", "ratio", 1.48, 0.03),
    SeriesShape("automation_rate", "rate", 0.94, 0.0, volume=250.0),
    SeriesShape("response_time_p95", "ms", 2500.0, 0.04),
    SeriesShape("net_revenue_eur", "money", 180.0, 0.45),
    SeriesShape("purchases", "count", 100.0, 0.05),
    SeriesShape("purchases_demo", "count", 6.0, 0.15),
)


def clean(shape: SeriesShape, days: int, gen: np.random.Generator,
          start_weekday: int = 0) -> np.ndarray:
    """``days`` values of a clean series (no incident)."""
    season = WEEKLY[(np.arange(days) + start_weekday) % 7]
    if shape.unit == "count":
        lam = shape.level * season * gen.gamma(1 / shape.noise**2, shape.noise**2, days)
        return gen.poisson(lam).astype(float)
    if shape.unit == "rate":
        n = np.maximum(1, gen.poisson(shape.volume * season))
        return gen.binomial(n, shape.level) / n
    if shape.unit == "ratio":  # a ratio does not follow the weekly pattern of its parts
        return shape.level * (1 + gen.normal(0, shape.noise, days))
    return np.maximum(0.0, shape.level * season * (1 + gen.normal(0, shape.noise, days)))


def flat(days: int, value: float = 1.0) -> np.ndarray:
    """A metric that never moves (automation rate exactly 1.0), with the rounding residue
    of a computed value."""
    return np.full(days, value) * (1 + np.where(np.arange(days) % 3 == 0, 1e-16, 0.0))


def outage(y: np.ndarray, day: int, drop: float = 0.7) -> np.ndarray:
    """``drop`` of the day's value gone (a checkout outage losing 70 % of purchases)."""
    out = np.array(y, dtype=float)
    out[day] *= 1 - drop
    return out


def natural_dip(y: np.ndarray, day: int, dip: float = 0.15) -> np.ndarray:
    """A dip within what the metric does on its own (15 % on a quiet day)."""
    out = np.array(y, dtype=float)
    out[day] *= 1 - dip
    return out


def bot_burst(sessions: np.ndarray, users: np.ndarray, day: int, n_users: int = 2000,
              share: float = 0.05, factor: float = 3.0, sessions_per_user: float = 1.48
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``share`` of all ``n_users`` users run ``factor`` times a user's usual sessions on
    ``day`` (those not active that day become active). Returns sessions, active users and
    sessions per active user after the burst."""
    s, u = np.array(sessions, dtype=float), np.array(users, dtype=float)
    bots = share * n_users
    already = bots * u[day] / n_users  # bots that were active anyway
    s[day] += bots * factor * sessions_per_user - already * sessions_per_user
    u[day] += bots - already
    return s, u, s / np.maximum(u, 1.0)
