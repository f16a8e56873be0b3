"""Planted incidents end to end: the generator plants a bot burst and a checkout outage
(``PlantedIncidents``), the loader and the transform job (dbt + ml) run, and the signals
are checked: what is found, at which severity and direction, and that nothing else is.

The outage at this size (a couple of purchases a day) is below what any calibrated test
can tell from noise; the detector's handling of an outage of a detectable size is in
tests/test_planted_incidents.py. Here the outage day is the as-of date: it must be scored
(not left out for lack of a two-sided fit) and must not be read as good news.
"""

from __future__ import annotations

import json
import logging
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
        import os
        if os.environ.get("KEEP_PLANTED"):
            import shutil
            shutil.copy(warehouse, os.environ["KEEP_PLANTED"])
        yield duckdb.connect(str(warehouse), read_only=True), truth


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *args) -> list[tuple]:
    return con.execute(sql, list(args)).fetchall()


def test_the_generator_names_its_planted_incidents(built):
    _, truth = built
    assert truth["bot_burst"]["share"] == 0.05 and truth["bot_burst"]["factor"] == 3.0
    assert truth["outage"]["drop"] == 0.7


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
    weekday = _rows(con, "select creator_id, count(*) from ml.insights where kind = "
                         "'pattern' and finding_key like '%|weekday' group by 1 having "
                         "count(*) > 1")
    for creator, _n in weekday:  # two weekday findings only when the days differ
        days = _rows(con, "select evidence from ml.insights where creator_id = ? and "
                          "finding_key like '%|weekday'", creator)
        strongest = {json.loads(e[0])["strongest"] for e in days}
        assert len(strongest) == len(days)
