"""ml.insights: the builders on hand-made frames, the significance filter, the ranking and
the de-duplication across as-of dates (a small DuckDB for the history). Fast and pure."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from models_ml import insights
from models_ml.analyse import generate_insights
from warehouse.settings import MLSettings

AS_OF = date(2026, 3, 2)  # a Monday
EVIL = "<script>alert(\"x\")</script>'; --"


def _days(n: int, end: date = AS_OF) -> pd.DatetimeIndex:
    return pd.date_range(end=pd.Timestamp(end), periods=n, freq="D")


def _engagement(days: int = 56) -> pd.DataFrame:
    """DAU 100 (+60 on Mondays), small noise, the last week 20% up; MAU rising."""
    rng = np.random.default_rng(7)
    rows = []
    for creator in ("c1", EVIL):
        for i, d in enumerate(_days(days)):
            dau = 100.0 + 60.0 * (d.dayofweek == 0) + float(rng.integers(0, 5))
            if i >= days - 7:
                dau *= 1.2
            rows.append({"date": d, "creator_id": creator, "dau": dau, "mau": 500.0 + i,
                         "sessions": 2 * dau})
    eng = pd.DataFrame(rows)
    total = eng.groupby("date", as_index=False)[["dau", "mau", "sessions"]].sum()
    return pd.concat([eng, total.assign(creator_id=insights.ALL)], ignore_index=True)


def _conversation(days: int = 28) -> pd.DataFrame:
    rows = []
    for d in _days(days):
        rows.append({"date": d, "creator_id": "c1", "sessions": 200.0,
                     "automated_sessions": 100.0})
        rows.append({"date": d, "creator_id": EVIL, "sessions": 200.0,
                     "automated_sessions": 170.0})
        rows.append({"date": d, "creator_id": insights.ALL, "sessions": 400.0,
                     "automated_sessions": 270.0})
    return pd.DataFrame(rows)


def _revenue(days: int = 28) -> pd.DataFrame:
    rows = []
    for i, d in enumerate(_days(days)):
        eur = 75.0 if i >= days - 7 else 50.0
        rows += [{"date": d, "currency": "EUR", "creator_id": "c1", "net_revenue": eur},
                 {"date": d, "currency": "EUR", "creator_id": insights.ALL, "net_revenue": eur},
                 {"date": d, "currency": "USD", "creator_id": insights.ALL,
                  "net_revenue": 30.0}]
    return pd.DataFrame(rows)


def _inputs() -> insights.InsightInputs:
    eng = _engagement()
    fc_days = pd.date_range(pd.Timestamp(AS_OF) + pd.Timedelta(days=1), periods=30)
    fc = pd.concat([pd.DataFrame({
        "date": fc_days, "creator_id": c, "metric": "dau", "forecast": level,
        "lower_80": level - 5, "upper_80": level + 5, "lower_95": level - 8,
        "upper_95": level + 8, "method": "ets"})
        for c, level in (("c1", 250.0), (insights.ALL, 500.0))], ignore_index=True)
    churn = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(1500)],
        "churn_probability": [0.8] * 1234 + [0.1] * 266,
        "risk_band": ["high"] * 1234 + ["low"] * 266, "model_version": "churn-x"})
    return insights.InsightInputs(
        engagement=eng, conversation=_conversation(), revenue=_revenue(),
        goals=pd.DataFrame({"completed_on": [d.date() for d in _days(30)]
                            + [AS_OF] * 4}),
        anomalies=pd.DataFrame([{
            "date": pd.Timestamp(AS_OF - timedelta(days=1)), "creator_id": EVIL,
            "metric": "sessions", "value": 1234.0, "expected": 250.0, "score": 9.0,
            "direction": "up", "severity": "high"}]),
        experiments=pd.DataFrame([{
            "experiment_id": "exp1", "metric": "purchase_within_14d", "variant": "treatment",
            "users": 1000, "conversions": 250, "conversion_rate": 0.25, "is_control": False,
            "is_primary": True, "significant": True, "lift": 0.25, "rate_difference": 0.05,
            "ci_low": 0.02, "ci_high": 0.08, "p_value": 0.0004, "p_value_holm": 0.0012,
            "power": 0.93, "mde_lift": 0.12, "srm_p_value": 0.6}]),
        forecast=fc,
        drivers=pd.DataFrame([{"feature": "active_days_28", "significant": True,
                               "correlation": 0.42, "q_value": 0.001,
                               "importance_mean": 0.05}]),
        churn=churn,
        segments=pd.DataFrame({"user_id": range(1000), "segment_label": (
            ["power learners"] * 600 + ["casual"] * 300 + ["at risk"] * 100)}))


def _select(rows: list[dict], history: pd.DataFrame | None = None, as_of: date = AS_OF,
            min_sig: float = 0.9, cap: int = 50) -> pd.DataFrame:
    return insights.select(rows, insights.empty() if history is None else history, as_of,
                           min_sig, cap)


def _one(rows: list[dict], kind: str, metric: str, creator: str = "c1") -> dict:
    hits = [r for r in rows if r["kind"] == kind and r["metric"] == metric
            and r["creator_id"] == creator]
    assert len(hits) == 1, (kind, metric, creator, [r["title"] for r in rows])
    return hits[0]


# --------------------------------------------------------------------------- builders


def test_every_kind_is_produced_per_creator_and_overall():
    out = _select(insights.build(_inputs(), AS_OF))
    assert set(out["kind"]) == set(insights.KINDS)
    assert {"c1", EVIL, insights.ALL} <= set(out["creator_id"])
    assert list(out.columns) == insights.COLUMNS
    assert set(insights.SPEC_COLUMNS) <= set(out.columns)
    assert (out["significance"] >= 0.9).all() and (out["significance"] <= 1).all()
    assert (out["status"] == "new").all() and (out["first_seen"] == AS_OF).all()
    assert out["finding_key"].is_unique and out["insight_id"].is_unique


def test_weekday_pattern_names_the_strongest_and_weakest_day_with_numbers():
    rows = insights.weekday_patterns(_engagement(), "dau", AS_OF, weeks=8)
    r = _one(rows, "pattern", "dau")
    assert r["title"].startswith("Mondays are the strongest day for DAU")
    ev = json.loads(r["evidence"])
    assert ev["strongest"] == "Monday" and ev["weeks"] == 8
    weakest = ev["weakest"]
    assert f"on {weakest}s" in r["description"]
    assert insights.fmt_num(ev["weekday_means"]["Monday"]) in r["description"]
    assert r["significance"] > 0.99
    assert r["finding_key"] == "c1|pattern|dau|weekday"


def test_week_over_week_quotes_the_change_and_its_test():
    eng = pd.DataFrame({"date": _days(14), "creator_id": "c1",
                        "dau": [100.0] * 7 + [120.0] * 7})
    r = _one(insights.week_over_week(eng, "dau", AS_OF), "pattern", "dau")
    assert r["title"] == "DAU up 20.0% week over week (creator c1)"
    assert "averaged 120 per day" in r["description"] and "against 100 " in r["description"]
    assert "+20.0%" in r["description"] and "p < 0.001" in r["description"]
    assert r["significance"] == 1.0
    noisy = eng.assign(dau=[100.0, 90, 110, 100, 95, 105, 100, 101, 89, 112, 99, 96, 104, 101])
    (n,) = insights.week_over_week(noisy, "dau", AS_OF)
    assert n["significance"] < 0.5  # +0.3%: noise
    short = eng.tail(13)  # 13 days up to the as-of date: too short
    assert insights.week_over_week(short, "dau", AS_OF) == []


def test_revenue_is_per_currency_and_never_mixed():
    rows = insights.build(insights.InsightInputs(revenue=_revenue()), AS_OF)
    eur = _one(rows, "pattern", "net_revenue_eur")
    assert "525.00 EUR" in eur["description"] and "350.00 EUR" in eur["description"]
    assert "USD" not in eur["description"] and "up 50.0%" in eur["title"]
    assert not [r for r in rows if r["metric"] == "net_revenue_usd" and r["kind"] == "pattern"]
    # 28 days x 30 USD = 840 USD: the 500 USD mark was passed before the last 7 days
    assert not [r for r in rows if r["metric"] == "net_revenue_usd"]
    # EUR of all creators: 21 x 50 + 7 x 75 = 1,575 EUR; 1,000 EUR crossed on day 20
    milestones = [r for r in rows if r["kind"] == "milestone"]
    assert all("USD" not in r["title"] for r in milestones)


def test_milestones_records_and_round_numbers():
    eng = pd.DataFrame({"date": _days(30), "creator_id": "c1",
                        "dau": [50.0] * 29 + [80.0], "sessions": [40.0] * 30})
    r = _one(insights.records(eng, "dau", AS_OF), "milestone", "dau")
    assert r["title"] == "DAU at an all-time high of 80 (creator c1)"
    assert "previous high of 50 on" in r["description"] and "+60.0%" in r["description"]
    assert r["significance"] == pytest.approx(1 - 1 / 30)
    # a record is news again once it moves by two significant figures
    base, near, far = (insights.records(eng.assign(dau=[50.0] * 29 + [v]), "dau", AS_OF)[0]
                       for v in (150.0, 152.0, 190.0))
    assert base["fingerprint"] == near["fingerprint"] != far["fingerprint"]
    tie = eng.assign(dau=[50.0] * 29 + [50.0])
    assert insights.records(tie, "dau", AS_OF) == []
    # 30 x 40 = 1,200 sessions; 1,000 was crossed on day 25, inside the last 7 days
    (c,) = insights.crossings(eng, "sessions", AS_OF, recent_days=7)
    assert c["title"] == "1,000 sessions in total (creator c1)"
    assert c["description"] == ("Total sessions (creator c1) passed 1,000 on 2026-02-25 and "
                                "stands at 1,200 on 2026-03-02.")
    assert c["significance"] == 1.0
    assert json.loads(c["evidence"])["threshold"] == 1000
    assert insights.crossings(eng, "sessions", AS_OF, recent_days=3) == []  # crossed earlier
    assert insights.round_numbers(1200) == [100, 200, 500, 1000]
    goals = pd.DataFrame({"completed_on": [d.date() for d in _days(20)] + [AS_OF] * 3})
    rec, total = insights.goal_records(goals, AS_OF)
    assert rec["title"] == "goals completed in a day at an all-time high of 4 (all creators)"
    assert total["title"] == "20 goals completed in total (all creators)"


def test_text_quotes_the_numbers_readably():
    rows = insights.build(_inputs(), AS_OF)
    churn = _one(rows, "opportunity", "churn_probability", insights.ALL)
    assert churn["title"] == "1,234 active users at high churn risk"
    assert "82.3% of the 1,500" in churn["description"] and "987" in churn["description"]
    exp = _one(rows, "experiment", "purchase_within_14d", insights.ALL)
    assert "+25.0%" in exp["title"] and "250 of 1,000 users" in exp["description"]
    assert "Roll out treatment" in exp["recommendation"]
    auto = _one(rows, "opportunity", "automation_rate")
    assert "50.0%" in auto["title"] and "85.0%" in auto["title"]
    assert "5,600 sessions" in auto["description"] and "1,960" in auto["description"]
    fc = _one(rows, "forecast", "dau")
    assert "average 250 per day" in fc["description"] and fc["title"].startswith("DAU expected up")
    anomaly = _one(rows, "anomaly", "sessions", EVIL)
    assert ("Sessions on 2026-03-01: 1,234 against an expected 250 (+393.6%"
            in anomaly["description"])
    seg = _one(rows, "pattern", "segment", insights.ALL)
    assert "600 (60.0%) are power learners" in seg["description"]
    corr = _one(rows, "correlation", "active_days_28", insights.ALL)
    assert "+0.42" in corr["description"]


def test_dangerous_creator_ids_are_kept_as_data_and_json_stays_valid():
    out = _select(insights.build(_inputs(), AS_OF))
    evil = out[out["creator_id"] == EVIL]
    assert len(evil) and (evil["finding_key"].str.startswith(EVIL + "|")).all()
    assert any(EVIL in t for t in evil["title"])  # unescaped: escaping is the reports' job
    for ev in out["evidence"]:
        assert isinstance(json.loads(ev), dict)
    assert {json.loads(ev)["creator_id"] for ev in evil["evidence"]} == {EVIL}


def test_the_builders_are_deterministic():
    a = _select(insights.build(_inputs(), AS_OF))
    b = _select(insights.build(_inputs(), AS_OF))
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------- selection


def test_significance_filter_cap_and_rank_per_creator():
    rows = [insights.finding(AS_OF, c, "pattern", "dau", f"s{i}", f"t{i}", "d", "r", {},
                             sig, impact, {"i": i})
            for c in ("a", "b") for i, (sig, impact) in enumerate(
                [(0.95, 0.1), (0.99, 0.5), (0.5, 0.9), (0.9, 0.3), (0.999, 2.0)])]
    out = _select(rows, min_sig=0.9)
    assert len(out) == 8 and (out["significance"] >= 0.9).all()
    a = out[out["creator_id"] == "a"]
    assert a["rank"].tolist() == [1, 2, 3, 4]
    assert a["finding_key"].tolist() == ["a|pattern|dau|s4", "a|pattern|dau|s1",
                                         "a|pattern|dau|s3", "a|pattern|dau|s0"]
    capped = _select(rows, min_sig=0.9, cap=2)
    assert capped.groupby("creator_id")["rank"].max().tolist() == [2, 2]
    assert len(_select(rows, min_sig=0.0)) == 10
    assert _select(rows, min_sig=1.0).empty
    assert _select([]).empty and list(_select([]).columns) == insights.COLUMNS


def test_a_finding_is_not_repeated_unless_it_changed():
    day2 = AS_OF + timedelta(days=1)

    def rows(as_of: date, severity: str, lift: float) -> list[dict]:
        return [insights.finding(as_of, "c1", "anomaly", "dau", "2026-03-01", "t", "d", "r",
                                 {}, 0.99, 0.5, {"severity": severity}),
                insights.finding(as_of, insights.ALL, "experiment", "m", "e|v", "t", "d", "r",
                                 {}, 0.99, lift, {"lift": insights._bucket(lift, 0.05)})]

    first = _select(rows(AS_OF, "high", 0.20))
    assert len(first) == 2
    second = _select(rows(day2, "high", 0.21), first, day2)  # lift 0.21 ~ 0.20: unchanged
    assert second.empty
    third = _select(rows(day2, "medium", 0.21), first, day2)
    assert third["finding_key"].tolist() == ["c1|anomaly|dau|2026-03-01"]
    assert third["status"].tolist() == ["changed"] and third["first_seen"].tolist() == [AS_OF]
    # history of the same date or later is not "earlier": a rerun gives the same answer
    merged = insights.merge_history(first, third, day2)
    again = _select(rows(day2, "medium", 0.21), merged, day2)
    pd.testing.assert_frame_equal(again, third)


# --------------------------------------------------------------------------- history (DuckDB)


def _warehouse(con: duckdb.DuckDBPyConnection, as_of: date, severity: str) -> None:
    con.execute("create schema if not exists intermediate")
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists ml")
    con.execute("create or replace table intermediate.int_as_of_date as "
                "select ?::date as as_of_date", [as_of])
    con.execute("create or replace table intermediate.int_user_activity_days as "
                "select date '2026-02-01' as activity_date")
    eng = pd.DataFrame({"date": [d.date() for d in _days(5, as_of)], "creator_id": "c1",
                        "dau": 10, "mau": 20, "sessions": 12, "wau": 15})
    con.register("eng", eng)
    con.execute("create or replace table marts.engagement_daily as select * from eng")
    anomalies = pd.DataFrame([
        {"date": date(2026, 3, 1), "creator_id": "c1", "metric": "dau", "value": 90.0,
         "expected": 40.0, "score": 9.0, "direction": "up", "severity": "high"},
        {"date": date(2026, 3, 1), "creator_id": EVIL, "metric": "sessions", "value": 9.0,
         "expected": 40.0, "score": -9.0 if severity == "high" else -6.0,
         "direction": "down", "severity": severity}])
    con.register("anomalies", anomalies)
    con.execute("create or replace table ml.metric_anomalies as select * from anomalies")


def _table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select * from ml.insights order by as_of_date, creator_id, rank").df()


def test_history_is_kept_changed_findings_return_and_reruns_are_idempotent(tmp_path):
    cfg = MLSettings(insights_recent_days=7)
    day2 = AS_OF + timedelta(days=1)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _warehouse(con, AS_OF, "high")
    generate_insights(con, cfg)
    t1 = _table(con)
    assert len(t1) == 2 and set(t1["status"]) == {"new"}
    assert set(insights.SPEC_COLUMNS) <= set(t1.columns)
    generate_insights(con, cfg)  # rerun of the same date: same table
    pd.testing.assert_frame_equal(_table(con), t1)

    _warehouse(con, day2, "medium")  # c1's anomaly unchanged, EVIL's severity changed
    summary = generate_insights(con, cfg)
    t2 = _table(con)
    assert summary["rows"] == 1
    new = t2[pd.to_datetime(t2["as_of_date"]).dt.date == day2]
    assert new["creator_id"].tolist() == [EVIL] and new["status"].tolist() == ["changed"]
    assert pd.Timestamp(new["first_seen"].iloc[0]).date() == AS_OF
    pd.testing.assert_frame_equal(
        t2[pd.to_datetime(t2["as_of_date"]).dt.date == AS_OF].reset_index(drop=True), t1)
    generate_insights(con, cfg)  # rerun of day 2: idempotent
    pd.testing.assert_frame_equal(_table(con), t2)

    _warehouse(con, day2 + timedelta(days=1), "medium")  # nothing changed: nothing new
    assert generate_insights(con, cfg)["rows"] == 0
    assert len(_table(con)) == 3
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'ml' and table_name = 'insights'").fetchall())
    assert types["as_of_date"] == "DATE" and types["first_seen"] == "DATE"
    comments = dict(con.execute(
        "select column_name, comment from duckdb_columns() "
        "where schema_name = 'ml' and table_name = 'insights'").fetchall())
    assert comments == insights.COLUMN_DOCS
    for ev in _table(con)["evidence"]:
        json.loads(ev)
    con.close()


def test_an_empty_run_still_writes_a_typed_table(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _warehouse(con, AS_OF, "high")
    con.execute("delete from ml.metric_anomalies")
    assert generate_insights(con, MLSettings())["rows"] == 0
    cols = [r[0] for r in con.execute("describe ml.insights").fetchall()]
    assert cols == insights.COLUMNS
    con.close()


def test_rows_of_the_old_format_are_replaced(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _warehouse(con, AS_OF, "high")
    old = pd.DataFrame([{c: None for c in insights.SPEC_COLUMNS}]).assign(
        insight_id="x", as_of_date=AS_OF - timedelta(days=1), rank=1, evidence="{}")
    con.register("old", old)
    con.execute("create table ml.insights as select * from old")
    assert generate_insights(con, MLSettings())["rows"] == 2
    t = _table(con)
    assert len(t) == 2 and t["finding_key"].notna().all()
    con.close()


def test_a_drop_of_a_lower_is_better_metric_is_good_news():
    anoms = pd.DataFrame([{"date": pd.Timestamp(AS_OF), "creator_id": "c1", "metric": m,
                           "value": 1000.0, "expected": 2000.0, "score": -6.0,
                           "direction": "down", "severity": "medium"}
                          for m in ("response_time_p95", "dau")])
    fast, dau = sorted(insights.from_anomalies(anoms, AS_OF), key=lambda r: r["metric"])[::-1]
    assert "response time p95 dropped" in fast["title"] and "2,000 ms" in fast["description"]
    assert "keep it" in fast["recommendation"] and "fix the cause" in dau["recommendation"]


def test_dau_and_sessions_forecast_the_same_way_are_one_outlook():
    inp = _inputs()
    fc = inp.forecast
    both = pd.concat([fc, fc.assign(metric="sessions",
                                    forecast=fc["forecast"] * 2,
                                    lower_95=fc["lower_95"] * 2, upper_95=fc["upper_95"] * 2)],
                     ignore_index=True)
    rows = [r for r in insights.build(insights.InsightInputs(
        engagement=inp.engagement, forecast=both), AS_OF) if r["kind"] == "forecast"]
    assert sorted((r["creator_id"], r["metric"]) for r in rows) == [
        ("__all__", "dau"), ("c1", "dau")]
    assert all("Sessions show the same pattern" in r["description"] for r in rows)
    # opposite directions stay two findings, each with its own advice
    down = both.assign(forecast=np.where(both["metric"] == "sessions", 1.0, both["forecast"]))
    rows = [r for r in insights.build(insights.InsightInputs(
        engagement=inp.engagement, forecast=down), AS_OF) if r["kind"] == "forecast"]
    assert len(rows) == 4 and len({(r["creator_id"], r["recommendation"]) for r in rows}) == 4


def test_a_purchases_drop_folds_the_same_days_revenue_drop_into_one_finding():
    day = pd.Timestamp(AS_OF)
    anoms = pd.DataFrame([
        {"date": day, "creator_id": insights.ALL, "metric": "purchases", "value": 17.0,
         "expected": 54.0, "score": -5.8, "direction": "down", "severity": "medium"},
        {"date": day, "creator_id": insights.ALL, "metric": "net_revenue_usd",
         "value": 1161.0, "expected": 4140.0, "score": -5.7, "direction": "down",
         "severity": "medium"}])
    rows = insights.from_anomalies(anoms, AS_OF)
    assert [r["metric"] for r in rows] == ["lost_purchases"]
    assert "checkout" in rows[0]["title"] and "1,161.00 USD" in rows[0]["description"]
    assert json.loads(rows[0]["evidence"])["metrics"] == ["purchases", "net_revenue_usd"]


def test_findings_name_creators_by_name_not_id():
    """name_creators replaces "creator <id>" (as the builders write it) in the texts with
    the creator's name; an id that merely starts with a known one, an unknown creator and
    the evidence are left alone."""
    rows = [{"creator_id": "cr_1", "title": "DAU up (creator cr_1)",
             "description": "creator cr_1 and creator cr_10 and creator cr_2",
             "recommendation": "Share it with creator cr_1's audience.",
             "evidence": {"creator": "creator cr_1"}}]
    named = insights.name_creators(rows, {"cr_1": "Sam's Club", "cr_10": "Ten", "cr_3": ""})
    assert named[0]["title"] == "DAU up (Sam's Club)"
    assert named[0]["description"] == "Sam's Club and Ten and creator cr_2"
    assert named[0]["recommendation"] == "Share it with Sam's Club's audience."
    assert named[0]["evidence"] == {"creator": "creator cr_1"}
    assert rows[0]["title"] == "DAU up (creator cr_1)"  # the input is not changed
    assert insights.name_creators(rows, {}) == rows
