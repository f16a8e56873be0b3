"""Planted incidents on synthetic series of the demo's size (sample_exports/series.py):
what the detector finds, at which severity and direction, and that it finds nothing else.

* outage: a day where 70 % of purchases (and their revenue) drop, mid-series and on the
  as-of date itself;
* bot burst: 5 % of users run three times their sessions on one day;
* flat metric: automation rate exactly 1.0 (with rounding residue);
* natural dip: a 15 % dip on a day, within the metric's own noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models_ml import anomalies, insights
from models_ml.metric_specs import good_or_bad, spec
from sample_exports import series
from warehouse.settings import MLSettings

THRESHOLD = MLSettings().anomaly_threshold
DAYS = 90
DATES = pd.date_range("2026-01-05", periods=DAYS, freq="D")
MEDIUM_OR_WORSE = {"medium", "high"}
SEEDS = range(5)


def _shape(name: str) -> series.SeriesShape:
    return next(s for s in series.DEMO_SHAPES if s.name == name)


def _detect(y: np.ndarray, unit: str) -> pd.DataFrame:
    return anomalies.series_anomalies(DATES, y, THRESHOLD, unit=unit)


def _flagged(res: pd.DataFrame) -> pd.DataFrame:
    return res[res["severity"].isin(MEDIUM_OR_WORSE)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("day", [60, DAYS - 1], ids=["mid-series", "as-of date"])
def test_an_outage_of_purchases_is_a_medium_or_worse_drop_and_nothing_else(seed, day):
    shape = _shape("purchases")
    y = series.clean(shape, DAYS, np.random.default_rng(seed))
    res = _detect(series.outage(y, day), shape.unit)
    hit = res.iloc[day]
    assert hit["severity"] in MEDIUM_OR_WORSE and hit["direction"] == "down"
    assert hit["value"] < 0.5 * hit["expected"]
    # the outage adds its day and nothing else to what the clean series raises
    assert set(_flagged(res).index) == {day} | set(_flagged(_detect(y, shape.unit)).index)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_bot_burst_is_a_spike_in_sessions_per_user_read_as_automated_traffic(seed):
    gen = np.random.default_rng(seed)
    users = series.clean(_shape("dau"), DAYS, gen)
    sessions = np.round(users * series.clean(_shape("sessions_per_user"), DAYS, gen))
    day = 70
    s, _users, per_user = series.bot_burst(sessions, users, day)
    for name, y, clean_y in (("sessions", s, sessions),
                             ("sessions_per_user", per_user, sessions / users)):
        res = _detect(y, spec(name).unit)
        assert res.loc[day, "severity"] == "high" and res.loc[day, "direction"] == "up"
        clean_flags = set(_flagged(_detect(clean_y, spec(name).unit)).index)
        assert set(_flagged(res).index) == {day} | clean_flags, name
    # the wording: possible automated traffic, not an improvement
    row = pd.DataFrame([{"date": DATES[day].date(), "creator_id": insights.ALL,
                         "metric": "sessions_per_user", "value": per_user[day],
                         "expected": float(np.median(per_user)), "score": 12.0,
                         "direction": "up", "severity": "high"}])
    (found,) = insights.from_anomalies(row, DATES[day].date())
    text = (found["title"] + found["description"] + found["recommendation"]).lower()
    assert "automated traffic" in text and "improvement" not in text


@pytest.mark.parametrize("value", [1.0, 0.0, 0.25])
def test_a_flat_metric_has_no_anomaly(value):
    res = _detect(series.flat(DAYS, value), "rate")
    assert (res["severity"] == "none").all()
    assert (res["score"] == 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_natural_dip_is_not_medium(seed):
    shape = _shape("dau")
    y = series.clean(shape, DAYS, np.random.default_rng(seed))
    res = _detect(series.natural_dip(y, 64), shape.unit)
    assert res.loc[64, "severity"] in ("none", "low")
    assert set(_flagged(res).index) == set(_flagged(_detect(y, shape.unit)).index)


@pytest.mark.parametrize("shape", series.DEMO_SHAPES, ids=lambda s: s.name)
def test_clean_series_raise_at_most_a_handful_of_medium_anomalies(shape):
    """A quarter of clean series (five seeds): at most one medium-or-worse day each on
    average (the year-long rate per as-of run is in bench/anomaly_false_positives.py)."""
    counts = [len(_flagged(_detect(series.clean(shape, DAYS, np.random.default_rng(s)),
                                   shape.unit))) for s in SEEDS]
    assert np.mean(counts) <= 1.0, counts


def test_metrics_declare_whether_up_is_good():
    assert good_or_bad("dau", "up") == "good" and good_or_bad("fallback_rate", "up") == "bad"
    assert good_or_bad("net_revenue_eur", "down") == "bad"
    assert spec("sessions_per_user").automation_signal
    assert good_or_bad("sessions_per_user", "up") == "neutral"


# --------------------------------------------------------------------------- count scores


@pytest.mark.parametrize(("mu", "phi"), [(3.0, 0.0), (20.0, 0.0), (50.0, 0.1)])
def test_count_scores_are_calibrated_tail_quantiles(mu, phi):
    """On simulated counts of known mean and over-dispersion, a score beyond -z or +z is
    at most as frequent as the normal tail of z (discrete counts: at most, never more)."""
    gen = np.random.default_rng(7)
    n = 200_000
    lam = mu * (gen.gamma(1 / phi, phi, n) if phi else np.ones(n))
    y = gen.poisson(lam).astype(float)
    z = anomalies.count_scores(y, np.full(n, mu), phi)
    for cut in (1.5, 2.0, 2.5):
        nominal = stats.norm.sf(cut)
        for frac in ((z <= -cut).mean(), (z >= cut).mean()):
            assert frac <= nominal * 1.05 + 3 / np.sqrt(n)
    if mu >= 20:  # not needlessly conservative where the counts are not tiny
        assert (z <= -2.0).mean() + (z >= 2.0).mean() > 0.5 * 2 * stats.norm.sf(2.0)


def test_dispersion_is_zero_for_poisson_noise_and_recovers_phi():
    assert anomalies.dispersion(np.sqrt(40.0), 40.0) == pytest.approx(0.0, abs=1e-12)
    assert anomalies.dispersion(np.sqrt(40.0) * 0.8, 40.0) == 0.0  # under-dispersed: Poisson
    assert anomalies.dispersion(np.sqrt(50 + 0.1 * 50**2), 50.0) == pytest.approx(0.1)


def test_a_demo_sized_outage_is_within_noise():
    """At the demo's ~6 purchases a day, losing 70 % (6 to 2) is an ordinary day: the
    detector says so instead of raising a false alarm on noise of that size."""
    z = anomalies.count_scores(np.array([2.0]), np.array([6.0]), 0.0)
    assert -2.0 < z[0] < -1.0


def test_repeat_purchases_are_off_by_default_and_repeat_first_charges():
    from datetime import date

    from sample_exports.util import Timeline
    from sample_exports.world import PlantedIncidents, build_world

    tl = Timeline(start=date(2026, 1, 1), days=30)
    base = build_world(5, 300, tl).payments
    same = build_world(5, 300, tl, PlantedIncidents(repeat_purchases_per_day=0.0)).payments
    assert all(np.array_equal(getattr(base, f), getattr(same, f)) for f in
               ("user", "program", "amount_cents", "paid_ms", "refund"))
    more = build_world(5, 300, tl, PlantedIncidents(repeat_purchases_per_day=0.25)).payments
    assert (~more.refund).sum() > 3 * (~base.refund).sum()
    assert np.all(np.diff(more.paid_ms) >= 0)
    first: dict[int, tuple[int, int, int]] = {}  # user -> program, cents, time of 1st charge
    own: set[tuple[int, int, int]] = set()  # the users' own charges (user, program, cents)
    for u, p, c, t, r in zip(base.user, base.program, base.amount_cents, base.paid_ms,
                             base.refund, strict=True):
        if not r:
            first.setdefault(int(u), (int(p), int(c), int(t)))
            own.add((int(u), int(p), int(c)))
    ch = ~more.refund
    for u, p, c, t in zip(more.user[ch], more.program[ch], more.amount_cents[ch],
                          more.paid_ms[ch], strict=True):
        assert int(u) in first and t >= first[int(u)][2]  # paying users buy again, later
        assert (int(u), int(p), int(c)) in own  # the same program at the same price
