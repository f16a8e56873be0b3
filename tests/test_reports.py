"""Reports: the pure building blocks (charts, HTML, exports, periods, settings), and the
daily/weekly reports rendered from the demo warehouse: they hold the mart numbers, data
from the tables comes out inert, the files are indexed with their sha256, a missing table
gives "no data", and the two Dagster assets materialize."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import stat
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.reports import report_assets
from orchestration.resources import ReportsResource, WarehouseResource
from reports import charts, content, exports, html, index
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


def test_line_chart_is_inline_svg_with_bands_and_escaped_text() -> None:
    d = [date(2026, 1, i) for i in range(1, 6)]
    svg = charts.line_chart(
        {SCRIPT: [(x, float(i)) for i, x in enumerate(d)], "gap": [(d[0], None), (d[1], 2.0)]},
        title=SCRIPT, y_label="<y>",
        bands={"95%": [(x, 0.0, 9.0) for x in d], "80%": [(x, 1.0, 5.0) for x in d]})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "&lt;y&gt;" in svg
    assert svg.count("<polygon") == 2 and "<polyline" in svg
    assert "2026-01-01" in svg and "2026-01-05" in svg


def test_charts_without_data_say_so() -> None:
    assert "no data" in charts.line_chart({}, title="t")
    assert "no data" in charts.line_chart({"a": [(1, None)]}, title="t")
    assert "no data" in charts.bar_chart([], [], title="t")


def test_bar_chart_escapes_labels_and_handles_negatives() -> None:
    svg = charts.bar_chart([SCRIPT, "b", "c"], [3.0, -1.0, 0.0], title="<t>")
    assert "<script" not in svg and "&lt;t&gt;" in svg
    assert svg.count("<rect") == 4  # background + 3 bars


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
    assert keys == {dg.AssetKey(["reports", "daily"]), dg.AssetKey(["reports", "weekly"])}
    for event in res.get_asset_materialization_events():
        meta = event.materialization.metadata
        assert meta["files"].value > 0 and meta["seconds"].value >= 0
        assert Path(meta["overall_html"].value).exists()
    with duckdb.connect(str(path), read_only=True) as ro:
        kinds = {k for (k,) in ro.execute("SELECT DISTINCT kind FROM ops.reports").fetchall()}
    assert kinds == {"daily", "weekly"}


def test_creator_report_names_the_creator_and_shows_its_own_numbers(warehouse, tmp_path):
    """A per-creator report: the creator's name (marts.creators) in the title and the
    headings, and the funnel, NLU, drop-off and mastery sections hold that creator's rows
    of the marts (creator_id), not the `__all__` rows."""
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
