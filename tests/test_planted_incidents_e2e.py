"""Planted incidents end to end: the generator plants a bot burst and a checkout outage
(``PlantedIncidents``), the loader and the transform job (dbt + ml + alerts) run, and the
signals are checked: what is found, at which severity and direction, and that nothing
else on the platform's series is.

The outage is on the as-of date (scored from the days before it only). The generator's
default purchase volume (a few a day) cannot show a 70 % outage apart from noise, so this
run adds repeat purchases (``repeat_purchases_per_day``: a shop's volume, ~50 a day);
the demo's numbers are unchanged. Besides the two planted incidents the generator always
has one of its own (one creator's agents slow on one day: response time p95 up). A flat
metric (automation rate exactly 1.0 every day, as on a real clickstream) is made on a
copy of the warehouse and scored by the same asset function; the weekends (DAU ~30 %
below weekdays) are the natural dips.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date

import dagster as dg
import duckdb
import pytest

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import PlantedIncidents, generate_exports
from tests.dbt_support import isolate_dbt_env
from warehouse.db import connect

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow  # a whole pipeline run: not in the quick lane (README, -m "not slow")
DAYS = 58
BOT_DAY = DAYS - 5  # within the insights' recent days of the as-of date
AS_OF_DAY = DAYS - 2  # the last complete export day
REPEAT_PURCHASES = 0.25  # a shop's purchase volume (tens a day) to measure the outage on


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from orchestration.definitions import defs

    root = tmp_path_factory.mktemp("planted")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    manifest = generate_exports(landing, seed=21, users=800, days=DAYS,
                                incidents=PlantedIncidents(
                                    outage_day=AS_OF_DAY, bot_day=BOT_DAY,
                                    repeat_purchases_per_day=REPEAT_PURCHASES))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSIGHTS_LANDING_DIR", str(landing))
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        isolate_dbt_env(mp, warehouse)
        con = connect(warehouse)
        ensure_schema(con)
        days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
        for entity in landing_entities():
            load_entity_days(con, landing, entity, days, info=log.debug)
        con.close()
        result = defs.resolve_job_def("transform_job").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert result.success
        truth = json.loads(manifest.manifest_path.read_text())["truth"]["planted"]
        flat = root / "flat.duckdb"  # a copy for the flat-metric test, which changes it
        shutil.copy(warehouse, flat)
        yield duckdb.connect(str(warehouse), read_only=True), {**truth, "_flat": flat,
                                                               "_manifest": manifest}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *args) -> list[tuple]:
    return con.execute(sql, list(args)).fetchall()


def test_the_generator_names_its_planted_incidents(built):
    _, truth = built
    assert truth["bot_burst"]["share"] == 0.05 and truth["bot_burst"]["factor"] == 3.0
    assert truth["outage"]["drop"] == 0.7
    assert truth["repeat_purchases_per_day"] == REPEAT_PURCHASES


def _platform_flags(con) -> set[tuple[str, date, str, str]]:
    return set(_rows(con, "select metric, date, direction, severity from ml.metric_anomalies "
                          "where creator_id = '__all__' and severity in ('medium', 'high')"))


def test_exactly_the_incidents_are_flagged_on_the_platform_series(built):
    con, truth = built
    bot = date.fromisoformat(truth["bot_burst"]["date"])
    outage = date.fromisoformat(truth["outage"]["date"])
    own = json.loads(truth["_manifest"].manifest_path.read_text())["truth"]["incident"]
    slow = date.fromisoformat(own["date"])
    flags = _platform_flags(con)
    by_day = {(m, d): (direction, sev) for m, d, direction, sev in flags}
    # the outage on the as-of date: purchases at least medium, down
    assert by_day[("purchases", outage)][0] == "down"
    # the bot burst: per-user activity a high spike
    assert by_day[("sessions_per_user", bot)] == ("up", "high")
    # the generator's own incident: response time up
    assert by_day[("response_time_p95", slow)][0] == "up"
    # nothing else: only the three days, only the metrics each incident moves
    allowed = {outage: {"purchases", *(m for m, _ in by_day if m.startswith("net_revenue_"))},
               bot: {"sessions_per_user", "events_per_user", "sessions", "dau"},
               slow: {"response_time_p95"}}
    assert all(m in allowed.get(d, set()) for m, d in by_day), sorted(by_day)
    assert all(direction == "down" for (m, d), (direction, _) in by_day.items() if d == outage)
    assert all(direction == "up" for (m, d), (direction, _) in by_day.items() if d == bot)


def test_the_natural_dips_are_not_flagged(built):
    con, truth = built
    bot = date.fromisoformat(truth["bot_burst"]["date"])
    weekend_dau = _rows(con, "select avg(dau) filter (where isodow(date) >= 6) / avg(dau) "
                             "filter (where isodow(date) < 6) from marts.engagement_daily "
                             "where creator_id = '__all__'")[0][0]
    assert weekend_dau < 0.85  # the weekends are dips of the generator's weekly pattern
    flagged = _rows(con, "select metric, date from ml.metric_anomalies where creator_id = "
                         "'__all__' and metric in ('dau', 'sessions') and severity in "
                         "('medium', 'high') and date <> ?", bot)
    assert flagged == []


def test_the_outage_on_the_as_of_date_is_one_lost_purchases_finding_and_alerts(built):
    con, truth = built
    day = truth["outage"]["date"]
    rows = _rows(con, "select title, description, recommendation, evidence from ml.insights "
                      "where creator_id = '__all__' and metric = 'lost_purchases'")
    assert len(rows) == 1
    title, description, recommendation, evidence = rows[0]
    assert day in title and "checkout" in title.lower()
    assert "purchases" in description and "checkout" in recommendation.lower()
    assert json.loads(evidence)["direction"] == "down"
    # the revenue drop of that day is folded in, not a finding of its own
    alone = _rows(con, "select metric from ml.insights where kind = 'anomaly' and creator_id "
                       "= '__all__' and (metric = 'purchases' or metric like 'net_revenue_%')")
    assert alone == []
    fired = _rows(con, "select rule, severity, message from ops.alerts where rule = "
                       "'purchases_drop' and cast(date as varchar) = ?", day)
    assert len(fired) == 1 and fired[0][1] in ("medium", "high")
    assert "ml.metric_anomalies" in fired[0][2] and "Report:" in fired[0][2]


def test_a_flat_metric_has_no_anomaly(built):
    from models_ml.analyse import detect_metric_anomalies
    from warehouse.settings import MLSettings

    _, truth = built
    con = duckdb.connect(str(truth["_flat"]))
    try:
        # every session automated: the rate is exactly 1.0 every day, computed as the
        # mart computes it (with its rounding residue)
        con.execute("update marts.conversation_daily set automated_sessions = sessions, "
                    "automation_rate = cast(sessions as double) / nullif(sessions, 0)")
        assert con.execute("select count(distinct automation_rate) from "
                           "marts.conversation_daily where creator_id = '__all__'"
                           ).fetchone()[0] == 1
        detect_metric_anomalies(con, MLSettings())
        rows = con.execute("select count(*) from ml.metric_anomalies where metric = "
                           "'automation_rate'").fetchone()[0]
        assert rows == 0
        assert con.execute("select count(*) from ml.metric_anomalies where metric = "
                           "'purchases'").fetchone()[0] > 0  # the rest is still scored
    finally:
        con.close()


def test_the_bot_burst_is_a_high_spike_of_sessions_per_user_and_nothing_else_is(built):
    con, truth = built
    bot_day = date.fromisoformat(truth["bot_burst"]["date"])
    found = _rows(con, "select date, direction, severity from ml.metric_anomalies "
                       "where creator_id = '__all__' and metric = 'sessions_per_user' "
                       "and severity in ('medium', 'high')")
    assert found == [(bot_day, "up", "high")]
    sessions = _rows(con, "select date, direction from ml.metric_anomalies where creator_id "
                          "= '__all__' and metric = 'sessions' and severity in ('medium', "
                          "'high')")
    assert sessions == [(bot_day, "up")]
    # nothing else moved on the overall series of the engagement metrics
    others = _rows(con, "select metric, date from ml.metric_anomalies where creator_id = "
                        "'__all__' and metric in ('dau', 'automation_rate', 'fallback_rate') "
                        "and severity in ('medium', 'high')")
    assert [m for m in others if m[1] != bot_day] == []


def test_the_bot_burst_is_read_as_automated_traffic_not_an_improvement(built):
    con, truth = built
    rows = _rows(con, "select title, description, recommendation from ml.insights "
                      "where creator_id = '__all__' and kind = 'anomaly' "
                      "and finding_key like '%automated_traffic%'")
    assert len(rows) == 1
    text = " ".join(rows[0]).lower()
    assert truth["bot_burst"]["date"] in text and "automated traffic" in text
    assert "improvement" not in text
    sessions_findings = _rows(con, "select count(*) from ml.insights where kind = 'anomaly' "
                                   "and creator_id = '__all__' and metric = 'sessions'")
    assert sessions_findings == [(0,)]  # folded into the automated-traffic finding
    bursts = _rows(con, "select count(*) filter (where is_burst) from "
                        "ml.user_behaviour_anomalies")[0][0]
    assert bursts > 0


def test_the_outage_day_as_of_date_is_scored_and_never_good_news(built):
    con, truth = built
    day = date.fromisoformat(truth["outage"]["date"])
    assert _rows(con, "select max(date) from marts.engagement_daily") == [(day,)]
    ups = _rows(con, "select metric from ml.metric_anomalies where date = ? and "
                     "metric like 'net_revenue_%' and direction = 'up'", day)
    assert ups == []


def test_insights_have_one_row_per_finding(built):
    con, _ = built
    rows = _rows(con, "select creator_id, kind, title, recommendation from ml.insights")
    assert len({(c, k, t) for c, k, t, _ in rows}) == len(rows)
    # no two findings of a creator and kind share their advice (paired metrics fold)
    assert len({(c, k, r) for c, k, _, r in rows}) == len(rows)
    days = _rows(con, "select creator_id, json_extract_string(evidence, '$.date') as d, "
                      "count(*) from ml.insights where kind = 'anomaly' group by all "
                      "having count(*) > 1")
    assert days == []  # one anomaly finding per creator and day
    weekday = _rows(con, "select creator_id, count(*) from ml.insights where kind = "
                         "'pattern' and finding_key like '%|weekday' group by 1 having "
                         "count(*) > 1")
    for creator, _n in weekday:  # two weekday findings only when the days differ
        days = _rows(con, "select evidence from ml.insights where creator_id = ? and "
                          "finding_key like '%|weekday'", creator)
        strongest = {json.loads(e[0])["strongest"] for e in days}
        assert len(strongest) == len(days)
