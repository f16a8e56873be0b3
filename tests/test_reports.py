"""Reports: the pure building blocks (chart specs, HTML, exports, periods, settings), and the
daily/weekly reports rendered from the demo warehouse: they hold the mart numbers, data
from the tables comes out inert, the files are indexed with their sha256, a missing table
gives "no data", and the two Dagster assets materialize."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import stat
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.reports import report_assets
from orchestration.resources import ReportsResource, WarehouseResource
from reports import content, exports, html, index
from reports.render import file_stem, render
from warehouse.db import table_exists
from warehouse.settings import ReportsSettings

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x","y")'
CFG = ReportsSettings(max_creators=2)


# --------------------------------------------------------------------------- pure


def test_esc_and_table_escape_everything() -> None:
    assert html.esc(None) == ""
    assert html.esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    out = html.table(["<b>col</b>"], [[SCRIPT], [3], [None], [0.25]])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "&lt;b&gt;col&lt;/b&gt;" in out
    assert '<td class="num">3</td>' in out and '<td class="num">0.250</td>' in out
    assert html.section(SCRIPT, "<p>ok</p>").count("&lt;script&gt;") == 1


def test_page_is_self_contained_and_printable() -> None:
    doc = html.page(SCRIPT, [html.section("s", html.no_data())], subtitle=SCRIPT)
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert "<script" not in doc.lower()
    assert "@media print" in doc
    assert not re.search(r"(src|href)=\"https?://", doc)
    assert "no data" in doc


def test_the_hand_drawn_chart_module_is_gone() -> None:
    """Every chart is a Vega-Lite spec (reports/specs.py) but the Sankey (no such mark),
    which draws its own frame: nothing imports reports/charts.py any more."""
    import importlib.util

    assert importlib.util.find_spec("reports.charts") is None
    from reports import sankey

    svg = sankey.sankey_chart([], title=SCRIPT)
    assert "no data" in svg and "&lt;script&gt;" in svg and "<script" not in svg


def test_text_x_values_of_a_line_spec_keep_their_order() -> None:
    """Text x values (a custom analysis' categories) are ordinal, in first-seen order;
    numbers stay quantitative (numpy ints too), dates temporal."""
    import numpy as np

    from reports import specs

    assert specs._x_type(["b", "a"]) == "O" and specs._x_type([np.int64(1), 2.5]) == "Q"
    assert specs._x_type([date(2026, 1, 1)]) == "T"
    spec = specs.line_spec(specs.series_frame({"y": [("zeta", 1.0), ("alpha", 2.0)]}),
                           title="t").to_dict()
    layer = spec.get("layer", [spec])[0]
    assert layer["encoding"]["x"]["type"] == "ordinal"
    assert layer["encoding"]["x"]["sort"] == ["zeta", "alpha"]


@pytest.mark.parametrize("value,expected", [
    (FORMULA, "'" + FORMULA), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("", ""), (-1, -1), (None, None),
    (2.5, 2.5),
])
def test_safe_cell(value: object, expected: object) -> None:
    assert exports.safe_cell(value) == expected


def test_write_csv_and_json(tmp_path: Path) -> None:
    path = exports.write_csv(tmp_path / "a" / "x.csv", ["k", "v"],
                             [[FORMULA, 1], ["d", date(2026, 1, 2)], ["n", None]])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    with path.open(newline="") as fh:
        got = list(csv.reader(fh))
    assert got == [["k", "v"], ["'" + FORMULA, "1"], ["d", "2026-01-02"], ["n", ""]]
    jpath = exports.write_json(tmp_path / "x.json", {"d": date(2026, 1, 2), "n": float("nan")})
    assert stat.S_IMODE(jpath.stat().st_mode) == 0o640
    assert json.loads(jpath.read_text()) == {"d": "2026-01-02", "n": None}


def test_periods() -> None:
    thursday = date(2026, 1, 8)
    d = content.daily_period(thursday)
    assert (d.start, d.end, d.previous_end, d.week_ago) == (
        thursday, thursday, date(2026, 1, 7), date(2026, 1, 1))
    w = content.weekly_period(thursday)
    assert (w.start, w.end, w.previous_start, w.previous_end, w.label) == (
        date(2025, 12, 29), date(2026, 1, 4), date(2025, 12, 22), date(2025, 12, 28),
        "2026-W01")
    sunday = content.weekly_period(date(2026, 1, 11))
    assert (sunday.start, sunday.end) == (date(2026, 1, 5), date(2026, 1, 11))


def test_monthly_and_quarterly_periods_are_the_last_complete_ones() -> None:
    mid_february = date(2026, 2, 14)
    m = content.period_for("monthly", mid_february)  # February is not over: January
    assert (m.start, m.end, m.previous_start, m.previous_end, m.label) == (
        date(2026, 1, 1), date(2026, 1, 31), date(2025, 12, 1), date(2025, 12, 31),
        "2026-01")
    last_day = content.period_for("monthly", date(2026, 2, 28))  # the month just ended
    assert (last_day.start, last_day.end, last_day.label) == (
        date(2026, 2, 1), date(2026, 2, 28), "2026-02")
    q = content.period_for("quarterly", mid_february)
    assert (q.start, q.end, q.previous_start, q.previous_end, q.label) == (
        date(2025, 10, 1), date(2025, 12, 31), date(2025, 7, 1), date(2025, 9, 30),
        "2025-Q4")
    q1 = content.period_for("quarterly", date(2026, 3, 31))
    assert (q1.start, q1.end, q1.label) == (date(2026, 1, 1), date(2026, 3, 31), "2026-Q1")
    with pytest.raises(ValueError, match="daily, weekly, monthly, quarterly"):
        content.period_for("yearly", mid_february)


def test_config_and_file_names() -> None:
    assert ReportsSettings.model_validate({}) == ReportsSettings()
    assert ReportsSettings.model_validate({"top_insights": 3}).top_insights == 3
    with pytest.raises(ValueError):
        ReportsSettings.model_validate({"nope": 1})
    with pytest.raises(ValueError):
        ReportsSettings.model_validate({"max_creators": -1})
    assert file_stem("__all__") == "overall"
    assert file_stem("cr_001") == "creator_cr_001"
    assert "/" not in file_stem("../../etc") and file_stem("a/b") != file_stem("a_b")


# --------------------------------------------------------------------------- rendered


@pytest.fixture
def warehouse(demo_warehouse: Path):
    """A private copy of the demo warehouse: (path, connection)."""
    con = duckdb.connect(str(demo_warehouse))
    assert table_exists(con, "marts", "engagement_daily")
    yield demo_warehouse, con
    con.close()


def _plant_insight(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """An insight for the overall report whose text is hostile."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    con.execute("""CREATE TABLE IF NOT EXISTS ml.insights (
        insight_id VARCHAR, as_of_date DATE, creator_id VARCHAR, kind VARCHAR, title VARCHAR,
        description VARCHAR, recommendation VARCHAR, metric VARCHAR, evidence VARCHAR,
        significance DOUBLE, impact DOUBLE, rank INTEGER)""")
    con.execute(
        "INSERT INTO ml.insights (insight_id, as_of_date, creator_id, kind, title, "
        "description, recommendation, metric, significance, impact, rank) "
        "VALUES ('planted', ?, '__all__', 'pattern', ?, 'd', ?, 'dau', 0.99, 1.0, -1)",
        [as_of, SCRIPT, FORMULA])


def test_report_renders_with_the_mart_numbers_and_inert_data(warehouse, tmp_path) -> None:
    _, con = warehouse
    as_of = content.as_of_date(con)
    assert as_of is not None
    [(dau,)] = con.execute("SELECT dau FROM marts.engagement_daily "
                           "WHERE creator_id = '__all__' AND date = ?", [as_of]).fetchall()
    _plant_insight(con, as_of)
    con.execute("UPDATE marts.session_drop_off SET drop_off_point = ? WHERE drop_off_point = "
                "(SELECT max(drop_off_point) FROM marts.session_drop_off)", [SCRIPT])
    con.execute("UPDATE marts.funnel_steps SET step_name = ? WHERE step = 1", [FORMULA])

    root = tmp_path / "reports"
    result = render(con, root, "daily", CFG, run_id="test-run")
    assert result.reports == 3 and len(result.files) == 9
    folder = root / "daily" / as_of.isoformat()
    page = (folder / "overall.html").read_text()
    data = json.loads((folder / "overall.json").read_text())
    with (folder / "overall.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))

    # the numbers of the marts
    dau_json = next(m for m in data["headline"] if m["metric"] == "dau")
    assert dau_json["value"] == dau
    assert data["report"]["period_end"] == as_of.isoformat()
    dau_csv = next(r for r in rows if r["section"] == "engagement" and r["metric"] == "dau")
    assert float(dau_csv["value"]) == dau
    row = re.search(r"<td>dau</td><td class=\"num\">([^<]+)</td>", page)
    assert row and row.group(1) == html.fmt(float(dau))
    # inert: escaped in HTML, neutralised in CSV, kept verbatim in JSON
    assert "<script>" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
    assert "<script" not in page.lower()
    values = [r["value"] for r in rows] + [r["metric"] for r in rows]
    assert "'" + FORMULA in values and FORMULA not in values
    assert not any(v.startswith(("=", "+", "@")) for v in values if v)
    assert any(i["rows"][0][2] == SCRIPT for s in data["sections"] if s["name"] == "insights"
               for i in s["tables"])
    # every section is there; the data-quality link is relative
    for title in ("Headline metrics", "Engagement", "Retention", "Funnels", "Conversation",
                  "Mastery", "Revenue", "Forecasts", "Anomalies", "Top insights",
                  "Data quality", "Data freshness"):
        assert f"<h2>{title}" in page, title
    assert 'href="../../data_quality/index.html"' in page
    assert page.count("<svg") >= 3


def test_index_lists_every_file_with_its_sha256_and_is_idempotent(warehouse, tmp_path):
    _, con = warehouse
    root = tmp_path / "reports"
    first = render(con, root, "weekly", CFG, run_id="r1")
    again = render(con, root, "weekly", CFG, run_id="r2")
    # the demo's own reports are indexed too (its run_id): look at this test's renders
    listed = con.execute("SELECT path, bytes, sha256, format, kind, run_id, report_id "
                         "FROM ops.reports WHERE run_id IN ('r1', 'r2') ORDER BY path"
                         ).fetchall()
    assert len(listed) == len(first.files) == len(again.files) == 9
    assert {r[3] for r in listed} == {"html", "csv", "json"}
    assert {r[4] for r in listed} == {"weekly"} and {r[5] for r in listed} == {"r2"}
    for path, size, sha, *_ in listed:
        blob = (root / path).read_bytes()
        assert len(blob) == size and hashlib.sha256(blob).hexdigest() == sha
    assert (root / "index.html").exists()
    assert first.overall_html("weekly") == again.overall_html("weekly")
    assert index.report_id("weekly", again.files[0].period_end, "__all__") in {
        r[6] for r in listed}


def test_a_missing_table_gives_no_data(warehouse, tmp_path) -> None:
    _, con = warehouse
    for table in ("marts.funnel_steps", "marts.revenue_daily", "ml.insights",
                  "ml.engagement_forecast"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("DROP VIEW IF EXISTS ops.data_quality_checks")
    con.execute("DELETE FROM marts.conversation_daily")
    result = render(con, tmp_path / "r", "daily", ReportsSettings(per_creator=False))
    page = (tmp_path / "r" / result.overall_html("daily")).read_text()
    for title in ("Funnels (all creators)", "Top insights and recommendations",
                  "Data quality"):
        assert f"<h2>{title}</h2>\n<p class=\"nodata\">no data</p>" in page, title
    assert "<h2>Engagement</h2>" in page


def test_an_empty_warehouse_renders_nothing(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    result = render(con, tmp_path / "r", "daily", CFG)
    assert result.files == [] and result.as_of is None
    con.close()


def test_the_assets_materialize(warehouse, tmp_path) -> None:
    path, con = warehouse
    con.close()
    root = tmp_path / "reports"
    res = dg.materialize(report_assets, resources={
        "warehouse": WarehouseResource(path=str(path)),
        "reports": ReportsResource(path=str(root))})
    assert res.success
    keys = {e.materialization.asset_key for e in res.get_asset_materialization_events()}
    assert keys == {dg.AssetKey(["reports", k])
                    for k in ("daily", "weekly", "monthly", "quarterly")}
    charts = {}
    for event in res.get_asset_materialization_events():
        meta = event.materialization.metadata
        assert meta["files"].value > 0 and meta["seconds"].value >= 0
        assert Path(meta["overall_html"].value).exists()
        charts[event.materialization.asset_key.path[-1]] = (
            meta["charts"].value, meta["charts_from_cache"].value)
    # the kinds of one run share the charts they draw from the same rows (the engagement
    # series, the funnels, the forecasts): the weekly, rendered last here (independent
    # steps run in key order), takes most of its charts from the cache
    assert all(0 <= cached <= drawn for drawn, cached in charts.values())
    drawn, cached = charts["weekly"]
    assert drawn > 0 and cached > drawn / 2, charts
    with duckdb.connect(str(path), read_only=True) as ro:
        kinds = {k for (k,) in ro.execute("SELECT DISTINCT kind FROM ops.reports").fetchall()}
    assert kinds == {"daily", "weekly", "monthly", "quarterly"}


def test_system_health_section_holds_the_api_calls_of_the_period(warehouse) -> None:
    """The weekly report's system-health table: per endpoint, the week's calls and the
    error rate over them, recomputed here from the api_call events (not from the mart)."""
    _, con = warehouse
    as_of = content.as_of_date(con)
    assert as_of is not None
    data = content.gather(con, "weekly", as_of, "__all__", CFG)
    health = next(s for s in data.sections if s.name == "system_health")
    assert health.available, "the demo's agents make API calls"
    shown = {r[0]: (r[1], r[2]) for r in health.tables[0].rows}
    expected = {e: (n, errors / n) for e, n, errors in con.execute(
        "SELECT coalesce(endpoint, '(none)'), count(*), count(*) FILTER (status_code >= 400) "
        "FROM staging.stg_events WHERE event_type = 'api_call' AND event_date BETWEEN ? AND ? "
        "GROUP BY ALL", [data.period.start, data.period.end]).fetchall()}
    total = sum(n for n, _ in expected.values())
    errors = sum(n * rate for n, rate in expected.values())
    assert shown.pop("__all__") == pytest.approx((total, errors / total))
    assert set(shown) <= set(expected)
    for endpoint, (calls, rate) in shown.items():
        assert calls == expected[endpoint][0]
        assert rate == pytest.approx(expected[endpoint][1])
    assert len(shown) == min(len(expected), CFG.top_intents)


def test_satisfaction_and_agents_hold_the_feedback_of_the_period(warehouse) -> None:
    """The weekly report's satisfaction table and agent table, recomputed here from the
    user_feedback events of the week (CSAT = share of ratings 4 or 5)."""
    _, con = warehouse
    as_of = content.as_of_date(con)
    assert as_of is not None
    data = content.gather(con, "weekly", as_of, "__all__", CFG)
    conversation = next(s for s in data.sections if s.name == "conversation")
    tables = {t.name: t for t in conversation.tables}
    shown = dict(tables["satisfaction (all creators)"].rows)
    [(ratings, satisfied, total)] = con.execute(
        "SELECT count(*), count(*) FILTER (rating >= 4), sum(rating) FROM staging.stg_events "
        "WHERE event_type = 'user_feedback' AND rating IS NOT NULL "
        "AND event_date BETWEEN ? AND ?", [data.period.start, data.period.end]).fetchall()
    assert ratings > 0
    assert shown["ratings"] == ratings
    assert shown["csat"] == pytest.approx(satisfied / ratings)
    assert shown["mean_rating"] == pytest.approx(total / ratings)
    by_agent = {a: (n, ok / n) for a, n, ok in con.execute(
        "SELECT agent_id, count(*), count(*) FILTER (rating >= 4) FROM staging.stg_events "
        "WHERE event_type = 'user_feedback' AND rating IS NOT NULL AND agent_id IS NOT NULL "
        "AND event_date BETWEEN ? AND ? GROUP BY agent_id",
        [data.period.start, data.period.end]).fetchall()}
    for agent, *_, csat, n in tables["agents (all creators)"].rows:
        if n:
            assert (n, csat) == pytest.approx(by_agent[agent])


def test_content_section_sums_the_platforms_increments_of_the_period(warehouse) -> None:
    """Reach per platform in the weekly report, recomputed from the content_metrics
    increments of the week (impressions and followers gained)."""
    _, con = warehouse
    as_of = content.as_of_date(con)
    assert as_of is not None
    data = content.gather(con, "weekly", as_of, "__all__", CFG)
    section = next(s for s in data.sections if s.name == "content")
    reach = next(t for t in section.tables if t.name == "reach")
    shown = {r[0]: (r[1], r[5]) for r in reach.rows}
    expected = {p: (i, f) for p, i, f in con.execute(
        "SELECT content_platform, sum(coalesce(impressions, 0)), "
        "sum(coalesce(followers_gained, 0)) FROM staging.stg_content_metrics "
        "WHERE metrics_date BETWEEN ? AND ? GROUP BY ALL",
        [data.period.start, data.period.end]).fetchall()}
    assert shown and shown == expected


def test_a_monthly_report_prints_to_a_pdf_holding_its_numbers(warehouse, tmp_path) -> None:
    """`render(..., pdf=True)`: headless Chromium prints each report's HTML beside it; the
    PDF's text (read back with pypdf) has the title and the headline's mean DAU of the
    month, recomputed here from the mart; the PDF is indexed in ops.reports."""
    from pypdf import PdfReader

    from tests.reliability.browser import require_chromium

    require_chromium()
    _, con = warehouse
    month_end = date(2026, 1, 31)  # the demo's 9 days lie in January 2026
    cfg = ReportsSettings(per_creator=False)
    result = render(con, tmp_path / "reports", "monthly", cfg, as_of=month_end, pdf=True)
    pdfs = [f for f in result.files if f.format == "pdf"]
    assert len(pdfs) == 1 and pdfs[0].kind == "monthly"
    text = " ".join(page.extract_text() for page in
                    PdfReader(tmp_path / "reports" / pdfs[0].path).pages)
    assert "Monthly report 2026-01: All creators" in text
    [(dau,)] = con.execute(
        "SELECT avg(dau) FROM marts.engagement_daily WHERE creator_id = '__all__' "
        "AND date BETWEEN '2026-01-01' AND '2026-01-31'").fetchall()
    assert f"dau {html.fmt(float(dau))} " in text  # the row of the headline table
    indexed = con.execute("SELECT count(*) FROM ops.reports WHERE kind = 'monthly' "
                          "AND format = 'pdf'").fetchall()
    assert indexed == [(1,)]


def test_creator_report_names_the_creator_and_shows_its_own_numbers(warehouse, tmp_path):
    """A per-creator report: the creator's name (marts.creators) in the title and the
    headings, and the funnel, NLU, drop-off, mastery, retention and lifecycle sections
    hold that creator's rows of the marts (creator_id), not the `__all__` rows."""
    _, con = warehouse
    as_of = content.as_of_date(con)
    assert as_of is not None
    creator = content.creators(con, 1)[0]
    [(name,)] = con.execute("SELECT name FROM marts.creators WHERE creator_id = ?",
                            [creator]).fetchall()
    assert name
    data = content.gather(con, "weekly", as_of, creator, CFG)
    assert data.creator_name == name
    sections = {s.name: s for s in data.sections}
    assert sections["funnel"].title == f"Funnels ({name})"
    assert sections["mastery"].title == f"Mastery progress by topic ({name})"

    def step_users(who: str) -> list[tuple]:
        return con.execute("SELECT funnel, step, users FROM marts.funnel_steps "
                           "WHERE creator_id = ? ORDER BY funnel, step", [who]).fetchall()

    shown = [(r[0], r[1], r[3]) for r in sections["funnel"].tables[0].rows]
    assert shown == step_users(creator) and shown != step_users("__all__")
    drop = next(t for t in sections["conversation"].tables if t.name.startswith("session"))
    assert drop.name == f"session drop-off points ({name}, to date)"
    [(top,)] = con.execute("SELECT max(sessions) FROM marts.session_drop_off "
                           "WHERE creator_id = ?", [creator]).fetchall()
    assert drop.rows[0][1] == top
    learners = dict(con.execute(
        "SELECT topic, count(DISTINCT user_id) FROM marts.topic_mastery "
        "WHERE creator_id = ? GROUP BY topic", [creator]).fetchall())
    assert {r[0]: r[1] for r in sections["mastery"].tables[0].rows} == learners

    # retention: a signup has no creator, so the creator's report shows the first event-start
    # definition (first lesson -> lesson completed) over the creator's own events; the
    # curve is the cohort-size weighted mean of its covered cells, point by point
    retention = sections["retention"]
    assert retention.title == ("Retention (weekly lesson_started cohorts, returning with "
                               f"lesson_completed, {name})")

    def curve(definition: str, who: str) -> list[tuple[int, float]]:
        cells = con.execute(
            "SELECT period, retained_users, cohort_size FROM marts.retention "
            "WHERE definition = ? AND creator_id = ? AND is_covered "
            "AND cohort_start <= ?", [definition, who, data.period.end]).fetchall()
        sums: dict[int, list[int]] = {}
        for k, kept, size in cells:
            sums.setdefault(k, [0, 0])
            sums[k][0] += kept
            sums[k][1] += size
        return [(k, kept / size) for k, (kept, size) in sorted(sums.items())]

    assert retention.charts.get("curve", []) == pytest.approx(
        curve("lesson_started_completed_weekly", creator))

    def cohorts(definition: str, who: str) -> list[tuple]:
        return con.execute(
            "SELECT cohort_start, cohort_size FROM marts.retention WHERE definition = ? "
            "AND creator_id = ? AND period = 0 AND cohort_start <= ? "
            "ORDER BY cohort_start DESC LIMIT ?",
            [definition, who, data.period.end, CFG.retention_cohorts]).fetchall()

    def shown_cohorts(section: content.Section) -> list[tuple]:
        table = next(t for t in section.tables if t.name == "cohorts")
        return [(r[0], r[1]) for r in table.rows]

    own = shown_cohorts(retention)
    assert own and own == cohorts("lesson_started_completed_weekly", creator)
    assert own != cohorts("lesson_started_completed_weekly", "__all__")
    overall = {s.name: s for s in content.gather(con, "weekly", as_of, "__all__",
                                                 CFG).sections}["retention"]
    assert overall.charts.get("curve", []) == pytest.approx(
        curve("signup_any_weekly", "__all__"))
    assert shown_cohorts(overall) == cohorts("signup_any_weekly", "__all__") != []
    # lifecycle of the daily report's day (the demo's 9 days hold no covered week after
    # the first): the creator's own statuses
    daily = content.gather(con, "daily", as_of, creator, CFG)
    engagement = next(s for s in daily.sections if s.name == "engagement")
    lifecycle = next(t for t in engagement.tables if t.name == "lifecycle")
    statuses = dict(con.execute(
        "SELECT status, users FROM marts.user_lifecycle WHERE period_grain = 'day' "
        "AND creator_id = ? AND period_start = ?", [creator, daily.period.start]).fetchall())
    assert {r[0]: r[1] for r in lifecycle.rows} == statuses and sum(statuses.values()) > 0

    root = tmp_path / "reports"
    render(con, root, "weekly", CFG, run_id="creator-names")
    page = next((root / "weekly").glob(f"*/{file_stem(creator)}.html")).read_text()
    assert f"{html.esc(name)} ({creator})" in page
    assert f"<h2>Funnels ({html.esc(name)})" in page


def test_the_funnel_section_has_a_trend_and_breakdown_charts(warehouse, tmp_path) -> None:
    """The trend line is funnel_trends' conversion to the last step on complete days; the
    breakdown bars are funnel_breakdowns' first-touch conversion per value."""
    _, con = warehouse
    sec = content.funnel_section(con)
    trend, bars = sec.charts["trend"], sec.charts["breakdowns"]
    assert trend and bars
    funnel, points = next(iter(trend.items()))
    day, rate = points[-1]
    [(expected,)] = con.execute(
        "SELECT conversion_rate FROM marts.funnel_trends WHERE funnel = ? AND creator_id = "
        "'__all__' AND entry_period_grain = 'day' AND entry_period = ? AND is_complete AND "
        "step = (SELECT max(step) FROM marts.funnel_trends WHERE funnel = ?)",
        [funnel, day, funnel]).fetchall()
    assert rate == pytest.approx(expected)
    assert len(points) <= content.TREND_DAYS
    name, (labels, values) = next(iter(bars.items()))
    breakdown_funnel, field_name = name.split(" by ")
    rates = dict(con.execute(
        "SELECT coalesce(breakdown_value, '(none)'), conversion_rate FROM marts.funnel_breakdowns "
        "WHERE funnel = ? AND breakdown_field = ? AND attribution = 'first_touch' AND "
        "creator_id = '__all__' AND step = (SELECT max(step) FROM marts.funnel_breakdowns "
        "WHERE funnel = ?)", [breakdown_funnel, field_name, breakdown_funnel]).fetchall())
    assert 0 < len(labels) <= content.BREAKDOWN_VALUES
    assert all(values[i] == pytest.approx(rates[label]) for i, label in enumerate(labels))
    render(con, tmp_path / "reports", "weekly", CFG, run_id="test-run")
    page = next((tmp_path / "reports" / "weekly").glob("*/overall.html")).read_text()
    assert "Conversion to the last step by day of entry" in page
    assert f"Conversion {name} (first touch)" in page


# --------------------------------------------------------------------------- presentation


def test_one_format_per_unit_in_tables() -> None:
    """Rates as percent, money with the row's currency code, 0 shown as 0."""
    out = html.table(["currency", "net_revenue", "conversion_rate", "week_1", "users"],
                     [["EUR", 1234.5, 0.164, 0.25, 0], ["USD", 0.0, 1.0, None, 12]])
    assert "1,234.50 EUR" in out and "0.00 USD" in out
    assert "16.4%" in out and "25.0%" in out and "100.0%" in out
    assert "0.164" not in out
    assert '<td class="num">0</td>' in out
    assert html.table(["cost_savings"], [[10.0]], currency="USD").count("10.00 USD") == 1
    assert html.column_unit("mase_ets") == "" and html.column_unit("error_rate") == "rate"


def test_retention_tail_points_of_few_cohorts_are_cut_and_named() -> None:
    from reports.render import MIN_CURVE_COHORTS, tail_cut

    curve = [(0, 1.0), (1, 0.5), (2, 0.4), (3, 0.9)]
    kept, cut = tail_cut(curve, {0: 9, 1: 8, 2: MIN_CURVE_COHORTS, 3: 2})
    assert kept == curve[:3] and cut == [3]


def test_a_retention_curve_cut_whole_draws_no_empty_chart() -> None:
    """A young creator's curve, every week averaging too few cohorts: no chart with empty
    axes, a note saying why (the table keeps the numbers)."""
    from reports.content import ReportData, Section, Table
    from reports.render import MIN_CURVE_COHORTS, section_html

    def retention(cohorts: int) -> Section:
        return Section("retention", "Retention", tables=[Table(
            "curve", ["week", "retention_rate", "cohorts"], [[0, 0.8, cohorts]])],
            charts={"curve": [(0, 0.8)], "curve_cohorts": [(0, cohorts)],
                    "curve_unit": "week"})

    day = date(2026, 1, 14)
    data = ReportData(kind="daily", period=content.period_for("daily", day), as_of=day,
                      creator_id="__all__", headline=[], sections=[])
    young = section_html(retention(MIN_CURVE_COHORTS - 1), data, "dq.html")
    assert "<svg" not in young
    assert (f"No chart: weeks 0 all average fewer than {MIN_CURVE_COHORTS} cohorts "
            "(the table keeps them).") in young
    assert "80.0%" in young  # the table
    grown = section_html(retention(MIN_CURVE_COHORTS), data, "dq.html")
    assert grown.count("<svg") == 1 and "No chart" not in grown


def test_chart_specs_render_to_inline_svg_without_script() -> None:
    from reports import specs

    d = [date(2026, 1, i) for i in range(1, 29)]
    chart = specs.line_spec(
        specs.series_frame({"dau": [(x, 250.0 + 20 * i) for i, x in enumerate(d)],
                            SCRIPT: [(x, 100.0) for x in d]}),
        title=SCRIPT, y_title="users",
        bands=specs.band_frame({"95%": [(x, 0.0, 900.0) for x in d]}))
    svg = specs.to_svg(chart)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg.lower() and "&lt;script&gt;" in svg
    assert not re.search(r"(src|href)=\"https?://", svg)
    # nice ticks (multiples of 100/200/250), never 278 / 556 / 834
    ticks = [int(t.replace(",", "")) for t in re.findall(r">(\d[\d,]*)</text>", svg)]
    assert ticks and all(t % 50 == 0 for t in ticks), ticks
    # a long category label is kept whole
    label = "hypothesis testing and statistical inference"
    bars = specs.to_svg(specs.bar_spec(specs.bar_frame([label, "b"], [0.42, 0.1]),
                                       title="mastery", percent=True))
    assert label in bars and "42.0%" in bars
    # bidi controls from the data are made visible, as in the HTML text
    rlo = specs.to_svg(specs.bar_spec(specs.bar_frame(["a\u202eb"], [1.0]), title="t\u2066"))
    assert "\u202e" not in rlo and "\u2066" not in rlo and "[U+202E]" in rlo


def test_summary_block_says_what_changed_and_what_needs_attention() -> None:
    from reports.content import Metric, ReportData, Section, Table
    from reports.render import html_document, summary_items

    period = content.daily_period(date(2026, 2, 28))
    dq = Section("data_quality", "Data quality", charts={"counts": {"failed": 2, "passed": 9}})
    anomalies = Section("anomalies", "Anomalies", tables=[Table(
        "anomalies", ["date", "metric", "value", "expected", "score", "direction",
                      "severity"], [[date(2026, 2, 27), "dau", 90.0, 140.0, -4.2, "down",
                                     "high"]])])
    fc = Section("forecast", "Forecasts", tables=[Table(
        "backtest", ["metric", "chosen", "fallback_reason"],
        [["dau", "seasonal_naive", "ETS MASE 1.3 >= seasonal naive 1.0"]])])
    data = ReportData("daily", period, period.end, "cr_005", [
        Metric("engagement", "dau", 120.0, 100.0, 110.0),
        Metric("conversations", "automation_rate", 0.5, 0.45, None, "rate"),
        Metric("conversations", "cost_savings", 50.0, 40.0, None, "money", "USD"),
        Metric("revenue", "net_revenue_EUR", 0.0, 10.0, None, "money", "EUR")],
        [dq, anomalies, fc], "Ada Lovelace")
    changed, attention = summary_items(data)
    assert any(c.startswith("DAU 120 (+20.0% vs previous 100)") for c in changed)
    assert any("+5.0 pp" in c for c in changed)
    texts = " | ".join(t for _, t in attention)
    assert "2 data-quality check(s) failed" in texts and "dau on 2026-02-27" in texts
    assert "seasonal naive" in texts
    doc = html_document(data, rendered_at=datetime(2026, 3, 1), dq_link="dq.html")
    assert doc.index('class="summary"') < doc.index("Headline metrics")
    assert "Ada Lovelace" in doc and "50.00 USD" in doc and "0.00 EUR" in doc
    assert "<script" not in doc.lower()


def test_durations_are_humanised_and_zero_stays_zero() -> None:
    """Seconds columns (time to convert, session length) read as durations, one format:
    never a raw count of seconds; 0 is 0, only a missing value is "-"."""
    out = html.table(["step", "users", "median_seconds_to_step", "net_revenue"],
                     [[1, 0, 0.0, 0.0], [2, 5, 240.0, 1.5], [3, 9, 8280.0, None],
                      [4, 2, 129600.0, 2.0]], currency="EUR")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", out)
    assert cells[2] == "0 s" and cells[6] == "4 min" and cells[10] == "2.3 h"
    assert cells[14] == "1.5 d" and cells[1] == "0" and cells[3] == "0.00 EUR"
    assert cells[11] == "-"
    assert "240" not in out and "8,280" not in out and "129,600" not in out
    assert html.duration(42.4) == "42 s" and html.duration(270) == "4.5 min"
    assert html.duration(36 * 86400) == "36 d"
    # a long "metric | value" table: the metric's name gives the unit
    depth = html.table(["metric", "value"], [["mean_duration_s", 95.0], ["sessions", 95.0]])
    assert "1.6 min" in depth and '<td class="num">95</td>' in depth


def _alerts_section(rows: list[dict]) -> object:
    from reports.content import Section, Table

    return Section("alerts", "Alerts", tables=[Table(
        "alerts", ["date", "severity", "rule", "creator", "metric", "message"],
        [[r["date"], r["severity"], r["rule"], r["creator_id"], r["metric"], r["message"]]
         for r in rows])], charts={"alerts": rows})


def test_the_summary_lists_the_alerts_of_the_period_with_their_severity() -> None:
    from reports.content import ReportData, Section
    from reports.render import SUMMARY_ALERTS, html_document, summary_items

    period = content.daily_period(date(2026, 2, 28))
    fired = [{"date": period.end, "severity": sev, "rule": f"rule_{i}", "creator_id": cr,
              "creator_name": "Ada Lovelace" if cr == "cr_005" else None, "metric": "dau",
              "message": f"DAU fell {i}0% <b>{sev}</b> Report: /x/daily/overall.html"}
             for i, (sev, cr) in enumerate([("high", "cr_005"), ("medium", "__all__"),
                                            ("low", "__all__")] * 3)]
    data = ReportData("daily", period, period.end, content.ALL, [], [_alerts_section(fired)])
    _, attention = summary_items(data)
    alerts = [(level, t) for level, t in attention if t.startswith("alert")]
    assert len(alerts) == SUMMARY_ALERTS
    assert alerts[0] == ("bad", "alert, high: DAU fell 00% <b>high</b> (Ada Lovelace)")
    assert alerts[1] == ("warn", "alert, medium: DAU fell 10% <b>medium</b>")
    assert alerts[2][0] == "info" and "Report:" not in " ".join(t for _, t in alerts)
    assert any(t.startswith(f"{len(fired) - SUMMARY_ALERTS} more alert(s)")
               for _, t in attention)
    doc = html_document(data, rendered_at=datetime(2026, 3, 1), dq_link="dq.html")
    summary = doc[doc.index('class="summary"'):doc.index("Headline metrics")]
    assert '<li class="bad">alert, high: DAU fell 00% &lt;b&gt;high&lt;/b&gt;' in summary
    quiet = ReportData("daily", period, period.end, content.ALL, [], [_alerts_section([])])
    assert summary_items(quiet)[1] == []
    assert "no alert fired" in html_document(quiet, rendered_at=datetime(2026, 3, 1),
                                             dq_link="dq.html")
    dq = Section("data_quality", "Data quality", charts={"counts": {"failed": 1}})
    quiet.sections.append(dq)
    assert [t for _, t in summary_items(quiet)[1]] == [
        "1 data-quality check(s) failed", "no alert fired for the period"]


def _plant_alerts(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    from alerts.store import ensure_tables

    ensure_tables(con)
    con.execute("DELETE FROM ops.alerts")
    creator = content.creators(con, 1)[0]
    for aid, sev, day, who_, msg in [
        ("a1", "high", as_of, "__all__", "planted: DAU fell 40% below last Tuesday"),
        ("a2", "medium", as_of, creator, "planted: fallback rate 31% above 25%"),
        ("a3", "high", as_of - timedelta(days=3), "__all__", "planted: stale, not today"),
    ]:
        con.execute("INSERT INTO ops.alerts VALUES (?, 'r', 'threshold', ?, ?, ?, 'dau', 1, "
                    "2, ?, now()::TIMESTAMP, 'run', '{}')", [aid, sev, day, who_, msg])


def test_reports_list_the_alerts_fired_for_their_period(warehouse, tmp_path) -> None:
    """A planted alert reaches the summary of the overall daily report and of its
    creator's report (not another creator's); an alert of an earlier day stays out of
    the daily report but is in the weekly one covering it."""
    _, con = warehouse
    as_of = content.as_of_date(con)
    _plant_alerts(con, as_of)
    creator = content.creators(con, 1)[0]
    root = tmp_path / "reports"
    render(con, root, "daily", CFG, run_id="t")
    folder = root / "daily" / as_of.isoformat()

    def summary(path: Path) -> str:
        page = path.read_text()
        return page[page.index('class="summary"'):page.index("Headline metrics")]

    overall = summary(folder / "overall.html")
    assert '<li class="bad">alert, high: planted: DAU fell 40%' in overall
    assert "alert, medium: planted: fallback rate 31% above 25%" in overall
    assert "not today" not in overall
    own = summary(folder / f"{file_stem(creator)}.html")
    assert "fallback rate 31%" in own and "DAU fell 40%" not in own
    others = [p for p in folder.glob("creator_*.html") if p.stem != file_stem(creator)]
    assert all("planted" not in summary(p) for p in others)
    page = (folder / "overall.html").read_text()
    assert "<h2>Alerts</h2>" in page
    data = json.loads((folder / "overall.json").read_text())
    [sec] = [s for s in data["sections"] if s["name"] == "alerts"]
    assert [r[1] for r in sec["tables"][0]["rows"]] == ["high", "medium"]
    p = content.weekly_period(as_of)
    if p.start <= as_of - timedelta(days=3) <= p.end:
        render(con, root, "weekly", CFG, run_id="t")
        assert "not today" in summary(root / "weekly" / p.label / "overall.html")


def test_the_funnel_table_shows_time_to_step_humanised_and_fits(warehouse) -> None:
    """funnel_steps' median seconds to each step, as a duration (never raw seconds)."""
    from reports.render import section_html

    _, con = warehouse
    sec = content.funnel_section(con)
    [steps] = [t for t in sec.tables if t.name == "steps"]
    at = steps.columns.index("median_seconds_to_step")
    seconds = [r[at] for r in steps.rows if r[at] is not None]
    assert seconds, "the demo's funnels have times to their steps"
    out = section_html(sec, None, "dq.html")  # type: ignore[arg-type]
    table = out[out.index("<h3>steps</h3>"):]
    table = table[:table.index("</table>")].replace("<wbr>", "")
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in table.split("<tr>")[2:]]
    shown = [r[at] for r in rows]
    assert len(shown) == len(steps.rows)
    assert all(re.fullmatch(r"\d+(\.\d)? (s|min|h|d)|-", c) for c in shown), shown
    assert [html.duration(s) for s in seconds] == [c for c in shown if c != "-"]


def test_long_identifiers_wrap_at_their_separators_only() -> None:
    """Report tables and the data-quality page let a long identifier wrap after _ . /
    (a <wbr>), never inside a number, an entity or a short text; the data-quality page
    leaves out the columns no outcome fills."""
    from data_quality.html_summary import render as dq_render

    out = html.table(["expectation", "value", "note"],
                     [["expect_column_values_to_be_between", 0.123, "a_b"],
                      ["ml.model_drift x/y", 1.5, "</b>&x_y_z_long_text"]])
    assert "expect_<wbr>column_<wbr>values_<wbr>to_<wbr>be_<wbr>between" in out
    assert "ml.<wbr>model_<wbr>drift x/<wbr>y" in out and "<td>a_b</td>" in out
    assert "&lt;/b&gt;&amp;x_<wbr>y_<wbr>z_<wbr>long_<wbr>text" in out
    assert "0.123" in out and "0.<wbr>" not in out
    assert "anywhere" not in html.CSS
    page = dq_render([("marts/x", "gx", "passed", 1, 0, datetime(2026, 1, 1, 1, 2, 3, 456))],
                     [("marts.x", None, "expect_column_values_to_be_unique", "c", "d",
                       "blocking", True, "0 of 3 rows", None)], datetime(2026, 1, 1))
    assert "<th>batch</th>" not in page and "<th>examples</th>" not in page
    assert "expect_<wbr>column_<wbr>values" in page and "2026-01-01 01:02:03<" in page


def test_stale_exports_of_the_same_age_are_one_attention_line():
    """Entities exported together go stale together: one summary line per age (oldest
    first), naming them, not one line per entity."""
    from reports.content import ReportData, Section, Table, period_for
    from reports.render import summary_items

    freshness = Section("freshness", "Freshness", [Table(
        "freshness", ["entity", "age_days"],
        [["events", 279], ["users", 279], ["payments", 3], ["creators", 1]])])
    data = ReportData("daily", period_for("daily", date(2026, 3, 1)), date(2026, 3, 1),
                      "__all__", [], [freshness])
    _, attention = summary_items(data)
    stale = [text for level, text in attention if "exports are" in text]
    assert stale == ["events, users exports are 279 days old",
                     "payments exports are 3 days old"]
