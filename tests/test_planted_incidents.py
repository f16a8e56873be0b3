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
