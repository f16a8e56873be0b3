"""Signals a reader can trust: the default alerts (revenue, funnel conversion, automated
traffic) with their evidence and report link, one insight per finding, advice by metric
and feature, numbers by unit, unique segment names and non-circular driver features."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from alerts.rules import evaluate_rule, with_report
from models_ml import drivers, insights, segments
from models_ml.features import FEATURE_COLUMNS
from models_ml.metric_specs import format_value
from warehouse.settings import AlertSettings, Rule

DAY = date(2026, 3, 14)


def _rule(name: str) -> Rule:
    return next(r for r in AlertSettings().rules if r.name == name)


def _anomaly(metric: str, direction: str, severity: str = "medium", creator: str = "__all__",
             value: float = 30.0, expected: float = 100.0, score: float = -4.0) -> dict:
    return {"date": DAY, "creator_id": creator, "metric": metric, "value": value,
            "expected": expected, "score": score, "direction": direction,
            "severity": severity}


def test_the_default_revenue_alert_fires_on_a_medium_revenue_anomaly_of_any_currency():
    rule = _rule("revenue_anomaly")
    frame = pd.DataFrame([_anomaly("net_revenue_eur", "down"),
                          _anomaly("sessions", "down"),
                          _anomaly("net_revenue_usd", "down", severity="low")])
    (alert,) = evaluate_rule(rule, frame)
    assert alert.metric == "net_revenue_eur" and alert.severity == "medium"
    assert "30.00 EUR against an expected 100.00 EUR" in alert.message
    assert "ml.metric_anomalies" in alert.message  # the evidence is named


def test_the_funnel_alert_fires_on_drops_of_a_funnels_daily_conversion_only():
    rule = _rule("funnel_conversion_drop")
    frame = pd.DataFrame([
        _anomaly("funnel_conversion_checkout", "down", value=0.2, expected=0.6),
        _anomaly("funnel_conversion_learning", "up", value=0.9, expected=0.6, score=5.0)])
    (alert,) = evaluate_rule(rule, frame)
    assert alert.metric == "funnel_conversion_checkout"
    assert "20.0% against an expected 60.0%" in alert.message


def test_the_automated_traffic_alert_names_the_suspicion_per_creator():
    rule = _rule("automated_traffic")
    frame = pd.DataFrame([
        _anomaly("sessions_per_user", "up", creator="c1", value=2.6, expected=1.5, score=9),
        _anomaly("sessions_per_user", "down", creator="c2", value=1.0, expected=1.5)])
    (alert,) = evaluate_rule(rule, frame)
    assert alert.creator_id == "c1" and "possible automated traffic" in alert.message
    assert "2.60 against an expected 1.50" in alert.message


def test_every_alert_links_the_days_report(tmp_path: Path):
    rule = _rule("automated_traffic")
    frame = pd.DataFrame([_anomaly("sessions_per_user", "up", creator="c1", score=9)])
    (alert,) = evaluate_rule(rule, frame)
    linked = with_report(alert, tmp_path)
    assert linked.message.endswith(
        f"Report: {(tmp_path / 'daily' / DAY.isoformat() / 'creator_c1.html').as_posix()}")


def test_rule_filters_are_checked_like_column_names():
    bad = {"name": "x", "kind": "anomaly", "metric_prefix": "net revenue"}
    try:
        Rule.model_validate(bad)
    except ValueError as exc:
        assert "metric_prefix" in str(exc)
    else:
        raise AssertionError("a bad metric_prefix was accepted")


# --------------------------------------------------------------------------- insights


def _weekday_engagement(days: int = 56) -> pd.DataFrame:
    dates = pd.date_range(end=pd.Timestamp(DAY), periods=days, freq="D")
    gen = np.random.default_rng(3)
    dau = 100 + 60 * (dates.dayofweek == 0) + gen.integers(0, 5, days)
    return pd.DataFrame({"date": dates, "creator_id": "c1", "dau": dau.astype(float),
                         "sessions": 2.0 * dau, "mau": 500.0})


def test_a_weekday_pattern_shared_by_dau_and_sessions_is_one_insight():
    eng = _weekday_engagement()
    rows = [r for r in insights.build(insights.InsightInputs(engagement=eng), DAY)
            if r["finding_key"].endswith("|weekday")]
    assert len(rows) == 1
    assert rows[0]["metric"] == "dau" and "Sessions show the same pattern" in \
        rows[0]["description"]


def test_an_experiment_is_one_insight_per_variant_across_windows():
    res = pd.DataFrame([
        {"experiment_id": "e1", "variant": v, "metric": m, "is_control": v == "control",
         "is_primary": m == "purchase_within_14d", "users": 1000, "conversions": c,
         "conversion_rate": c / 1000, "rate_difference": 0.05, "ci_low": 0.01,
         "ci_high": 0.09, "p_value": 0.01, "p_value_holm": 0.02, "lift": 0.4,
         "power": 0.8, "mde_lift": 0.2, "srm_p_value": 0.5, "significant": True}
        for v, c in (("control", 100), ("treatment", 140))
        for m in ("purchase_within_7d", "purchase_within_14d", "active_within_7d")])
    (row,) = insights.from_experiments(res, DAY)
    assert row["metric"] == "purchase_within_14d"
    assert "purchase_within_7d" in row["description"]


def test_a_cap_per_kind_keeps_room_for_the_other_kinds():
    rows = [insights.finding(DAY, "c1", "milestone", "dau", f"s{i}", f"t{i}", "d", "r", {},
                             0.99, 0.5, {"i": i}) for i in range(6)]
    rows.append(insights.finding(DAY, "c1", "pattern", "dau", "weekday", "p", "d", "r", {},
                                 0.99, 0.1, {}))
    out = insights.select(rows, insights.empty(), DAY, 0.9, 10, max_per_kind=3)
    assert out["kind"].value_counts().to_dict() == {"milestone": 3, "pattern": 1}


def test_numbers_follow_their_unit():
    assert format_value("mau", 34.0) == "34"
    assert format_value("automation_rate", 0.9412) == "94.1%"
    assert format_value("net_revenue_eur", 1234.5) == "1,234.50 EUR"
    assert format_value("funnel_conversion_checkout", 0.5) == "50.0%"
    eng = _weekday_engagement().assign(mau=[30.0] * 55 + [34.0])
    (rec,) = insights.records(eng, "mau", DAY)
    assert "all-time high of 34 " in rec["title"] and "34.0" not in rec["title"]


def test_a_drop_of_a_metric_where_up_is_good_asks_for_a_fix():
    row = pd.DataFrame([_anomaly("net_revenue_eur", "down", severity="high", score=-9)])
    (found,) = insights.from_anomalies(row, DAY)
    assert "fix the cause of the net revenue (EUR) fall" in found["recommendation"]
    up = pd.DataFrame([_anomaly("fallback_rate", "up", value=0.3, expected=0.1, score=9)])
    (worse,) = insights.from_anomalies(up, DAY)
    assert "fix the cause" in worse["recommendation"]
    assert "keep it" not in worse["recommendation"]


# --------------------------------------------------------------------------- segments, drivers


def test_segments_that_would_share_a_name_get_distinct_descriptive_names():
    cols = list(segments.SEGMENT_FEATURES)
    z = pd.DataFrame(0.0, index=[0, 1, 2], columns=cols)
    z.loc[0, ["active_days_28", "events_28", "sessions_28"]] = 1.5  # power
    z.loc[1, ["activity_trend", "days_since_last_active"]] = [-1.0, 0.9]  # at risk, lapsed
    z.loc[2, ["activity_trend", "events_28"]] = [-1.0, -0.8]  # at risk, fewer events
    names = segments.name_segments(z)
    assert len(set(names.values())) == 3
    assert all(n.startswith("at risk, ") for n in (names[1], names[2]))
    assert not any(n[-1].isdigit() for n in names.values())


def test_driver_features_are_neither_circular_nor_duplicated():
    cols = drivers.driver_features(FEATURE_COLUMNS)
    assert "days_since_last_active" not in cols and "attempts_total" not in cols
    assert "attempts_28" in cols and "correct_rate_28" in cols


def test_a_null_feature_is_left_out_of_its_correlation():
    gen = np.random.default_rng(0)
    y = gen.integers(0, 2, 300)
    x = np.where(gen.random(300) < 0.5, np.nan, y + gen.normal(0, 0.5, 300))
    out = drivers.correlations(pd.DataFrame({"correct_rate_28": x}), y, 0.05)
    assert out.loc[0, "correlation"] > 0.3 and bool(out.loc[0, "significant"])


def test_anomaly_rules_judge_the_as_of_date_not_the_last_day_that_departed():
    import duckdb

    from alerts.rules import evaluate_rules

    con = duckdb.connect()
    con.execute("create schema ml")
    con.execute("create table ml.metric_anomalies (date date, creator_id varchar, metric "
                "varchar, value double, expected double, score double, direction varchar, "
                "severity varchar, as_of_date date)")
    old = date(2026, 3, 1)
    con.execute("insert into ml.metric_anomalies values (?, '__all__', 'net_revenue_eur', "
                "10, 100, -6, 'down', 'high', ?)", [old, DAY])
    (quiet,) = evaluate_rules(con, [_rule("revenue_anomaly")])
    assert quiet.status == "ok" and quiet.alerts == []
    con.execute("insert into ml.metric_anomalies values (?, '__all__', 'net_revenue_eur', "
                "25, 100, -4, 'down', 'medium', ?)", [DAY, DAY])
    (fired,) = evaluate_rules(con, [_rule("revenue_anomaly")])
    assert [a.date for a in fired.alerts] == [DAY]


def test_the_demos_insights_are_one_row_per_finding(demo_warehouse):
    """On the session's demo (real generator, loader, dbt and ml): no two insights of a
    creator share a title or, within a kind, a recommendation; one anomaly finding per
    creator and day."""
    import duckdb

    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        rows = con.execute("select creator_id, kind, title, recommendation "
                           "from ml.insights").fetchall()
        days = con.execute("select creator_id, json_extract_string(evidence, '$.date'), "
                           "count(*) from ml.insights where kind = 'anomaly' group by all "
                           "having count(*) > 1").fetchall()
    finally:
        con.close()
    assert rows  # the demo has insights to judge
    assert len({(c, t) for c, _, t, _ in rows}) == len(rows)
    assert len({(c, k, r) for c, k, _, r in rows}) == len(rows)
    assert days == []
