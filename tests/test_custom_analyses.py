"""Custom analyses: YAML files in a folder become Dagster assets (read-only SQL on the
serving database, HTML + CSV output), with daily and weekly jobs and schedules."""

from __future__ import annotations

import csv
import logging
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from orchestration.assets.analyses import (
    ANALYSES_GROUP,
    SERVING_KEY,
    analysis_key,
    build_analyses,
)
from orchestration.resources import ReportsResource, ServingResource
from reports.custom import AnalysisError, load_analysis, parse_analysis, run_query
from warehouse.settings import read_paths

REPO_ANALYSES = Path(__file__).resolve().parents[1] / "analyses"

GOOD = {
    "name": "weekly_active_by_creator",
    "description": "WAU per creator",
    "schedule": "weekly",
    "sql": "select date, creator_id, wau from marts.engagement_daily "
           "where creator_id <> '__all__' order by date, creator_id",
    "chart": {"type": "line", "x": "date", "y": "wau", "series": "creator_id"},
}
BAR = {
    "name": "fallback_by_day",
    "schedule": "daily",
    "sql": "select date, fallback_rate from marts.nlu_daily order by date",
    "chart": {"type": "bar", "x": "date", "y": "fallback_rate"},
}


@pytest.fixture
def serving_db(tmp_path: Path) -> Path:
    path = tmp_path / "serving.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA ml")
    con.execute("CREATE TABLE marts.engagement_daily (date DATE, creator_id VARCHAR, "
                "dau BIGINT, wau BIGINT, mau BIGINT)")
    con.execute("""INSERT INTO marts.engagement_daily VALUES
        ('2026-03-01', '__all__', 30, 4321, 9000),
        ('2026-03-01', 'c1', 10, 1234, 3000),
        ('2026-03-01', 'c2', 20, 3087, 6000),
        ('2026-03-02', 'c1', 11, 1250, 3010),
        ('2026-03-02', 'c2', 19, 3100, 6100),
        ('2026-03-02', '<script>alert(1)</script>', 1, 7, 7),
        ('2026-03-02', '=HYPERLINK("http://evil")', 1, 8, 8)""")
    con.execute("CREATE TABLE marts.nlu_daily (date DATE, classifications BIGINT, "
                "mean_confidence DOUBLE, low_confidence_rate DOUBLE, fallback_rate DOUBLE, "
                "creator_id VARCHAR)")
    con.execute("""INSERT INTO marts.nlu_daily VALUES
        ('2026-03-01', 400, 0.81, 0.2, 0.125, '__all__'),
        ('2026-03-02', 380, 0.79, 0.22, 0.375, '__all__')""")
    con.close()
    return path


def _folder(tmp_path: Path, files: dict[str, dict | str]) -> Path:
    folder = tmp_path / "analyses"
    folder.mkdir(exist_ok=True)
    for filename, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (folder / filename).write_text(text, encoding="utf-8")
    return folder


def _resources(tmp_path: Path, serving_db: Path) -> dict[str, dg.ConfigurableResource]:
    return {
        "serving": ServingResource(path=str(serving_db)),
        "reports": ReportsResource(path=str(tmp_path / "reports")),
    }


def _materialize(assets: list, tmp_path: Path, serving_db: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources=_resources(tmp_path, serving_db),
                          raise_on_error=False)


def _failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.step_key: str(e.step_failure_data.error)
            for e in result.all_events if e.is_step_failure}


def _materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_a_good_analysis_renders_html_and_csv_with_the_numbers(
    tmp_path: Path, serving_db: Path
) -> None:
    built = build_analyses(_folder(tmp_path, {"wau.yaml": GOOD, "bar.yaml": BAR}), "UTC")
    result = _materialize(built.assets, tmp_path, serving_db)
    assert result.success
    out = tmp_path / "reports" / "analyses" / "weekly_active_by_creator"
    (html_file,) = out.glob("*.html")
    (csv_file,) = out.glob("*.csv")
    assert html_file.stem == csv_file.stem == date.fromisoformat(html_file.stem).isoformat()
    html = html_file.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "WAU per creator" in html and "1,234" in html and "3,087" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # data is escaped
    with csv_file.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["date", "creator_id", "wau"]
    assert ["2026-03-01", "c1", "1234"] in rows and ["2026-03-02", "c2", "3100"] in rows
    assert ["2026-03-02", "'=HYPERLINK(\"http://evil\")", "8"] in rows  # formula neutralised
    assert len(rows) == 1 + 6
    assert stat.S_IMODE(csv_file.stat().st_mode) == 0o640
    bar_html = next((tmp_path / "reports" / "analyses" / "fallback_by_day").glob("*.html"))
    assert "<svg" in bar_html.read_text(encoding="utf-8")
    meta = result.asset_materializations_for_node("analyses__weekly_active_by_creator")[0]
    assert meta.metadata["rows"].value == 6 and meta.metadata["truncated"].value is False


def test_analysis_charts_are_the_reports_vega_lite_specs(tmp_path: Path, serving_db: Path) -> None:
    """The charts come from reports/specs.py (vl-convert's SVG, class "marks", axis
    groups), not the hand-drawn SVG of the former reports/charts.py (polylines, its
    Helvetica font attribute); text x values keep their order; no script."""
    from reports.custom import render_analysis

    text_x = {"name": "by_creator", "schedule": "daily",
              "sql": "select creator_id, sum(wau) as wau from marts.engagement_daily "
                     "group by creator_id order by creator_id",
              "chart": {"type": "line", "x": "creator_id", "y": "wau"}}
    for raw in (GOOD, BAR, text_x):
        spec = parse_analysis(raw, tmp_path / f"{raw['name']}.yaml")
        result = run_query(serving_db, spec.sql)
        page = render_analysis(spec, result, date(2026, 3, 2))
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="marks"' in page, raw["name"]
        assert "role-axis" in page
        assert "<polyline" not in page and 'font-family="Helvetica, Arial' not in page
        assert "<script" not in page.lower()
    # a rate is drawn in percent, as the table shows it (BAR charts fallback_rate)
    bar = parse_analysis(BAR, tmp_path / "bar.yaml")
    page = render_analysis(bar, run_query(serving_db, bar.sql), date(2026, 3, 2))
    assert "37.5%" in page.split("<table")[0] and "0.375" not in page
    empty = parse_analysis({**BAR, "sql": "select date, fallback_rate from marts.nlu_daily "
                                          "where false"}, tmp_path / "e.yaml")
    page = render_analysis(empty, run_query(serving_db, empty.sql), date(2026, 3, 2))
    assert "no data to chart" in page and "<svg" not in page


def test_the_row_cap_keeps_the_first_rows(tmp_path: Path, serving_db: Path) -> None:
    built = build_analyses(_folder(tmp_path, {"wau.yaml": {**GOOD, "max_rows": 2}}), "UTC")
    result = _materialize(built.assets, tmp_path, serving_db)
    assert result.success
    csv_file = next((tmp_path / "reports" / "analyses" / GOOD["name"]).glob("*.csv"))
    assert len(csv_file.read_text().splitlines()) == 3
    meta = result.asset_materializations_for_node("analyses__weekly_active_by_creator")[0]
    assert meta.metadata["truncated"].value is True


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("selec date from marts.engagement_daily", "Parser Error"),
        ("select * from marts.no_such_mart", "Catalog Error"),
        ("select no_such_column from marts.engagement_daily", "Binder Error"),
    ],
)
def test_a_broken_query_fails_that_asset_alone(
    tmp_path: Path, serving_db: Path, sql: str, error: str
) -> None:
    folder = _folder(tmp_path, {"good.yaml": GOOD,
                                "broken.yaml": {"name": "broken", "schedule": "daily", "sql": sql}})
    built = build_analyses(folder, "UTC")
    result = _materialize(built.assets, tmp_path, serving_db)
    assert not result.success
    assert _materialized(result) == {analysis_key("weekly_active_by_creator")}
    failures = _failures(result)
    assert set(failures) == {"analyses__broken"}
    assert "broken.yaml" in failures["analyses__broken"]
    assert error in failures["analyses__broken"]


@pytest.mark.parametrize(
    "sql",
    [
        "insert into marts.engagement_daily values ('2026-03-03', 'x', 1, 1, 1)",
        "create table marts.evil as select 1 as a",
        "delete from marts.engagement_daily",
        "copy (select 1) to '{tmp}/leak.csv'",
        "attach '{tmp}/other.duckdb' as other",
        "select * from read_csv('/etc/passwd')",
        "set enable_external_access = true",
    ],
)
def test_writes_and_file_access_fail_read_only(
    tmp_path: Path, serving_db: Path, sql: str
) -> None:
    sql = sql.format(tmp=tmp_path)
    folder = _folder(tmp_path, {"w.yaml": {"name": "writer", "schedule": "daily", "sql": sql}})
    result = _materialize(build_analyses(folder, "UTC").assets, tmp_path, serving_db)
    assert not result.success
    assert "w.yaml" in _failures(result)["analyses__writer"]
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        assert con.execute("select count(*) from marts.engagement_daily").fetchone() == (7,)
        assert con.execute("select count(*) from duckdb_tables()").fetchone() == (2,)
    finally:
        con.close()
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_read_only_connection_directly(serving_db: Path) -> None:
    with pytest.raises(duckdb.Error, match="read-only"):
        run_query(serving_db,
                  "insert into marts.nlu_daily values ('2026-03-05', 1, 1, 1, 1, '__all__')")
    result = run_query(serving_db, "select 1 as a; select 2 as b")
    assert result.columns == ["b"] and result.rows == [(2,)]


def test_a_long_query_is_interrupted(serving_db: Path) -> None:
    with pytest.raises(duckdb.Error):
        run_query(serving_db, "select count(*) from range(100000000000) a",
                  timeout_s=0.5)


def test_malformed_files_do_not_break_the_definitions(
    tmp_path: Path, serving_db: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the CLI (run in process by other tests) stops our loggers propagating to the root
    monkeypatch.setattr(logging.getLogger("orchestration"), "propagate", True)
    folder = _folder(tmp_path, {
        "good.yaml": GOOD,
        "not_yaml.yaml": "name: [unclosed\nsql: : :",
        "no_sql.yaml": {"name": "no_sql", "schedule": "daily"},
        "bad_schedule.yaml": {"name": "hourly_thing", "schedule": "hourly", "sql": "select 1"},
        "a_list.yaml": "- 1\n- 2\n",
        "zz_dup.yaml": {**GOOD, "description": "the same name again"},
        "notes.txt": "not an analysis",
    })
    built = build_analyses(folder, "UTC")
    keys = {k for a in built.assets for k in a.keys}
    assert keys == {analysis_key(n) for n in (
        "weekly_active_by_creator", "not_yaml", "no_sql", "bad_schedule", "a_list", "zz_dup")}
    assert "not_yaml.yaml" in caplog.text and "no_sql.yaml" in caplog.text
    defs = dg.Definitions(assets=built.assets, jobs=built.jobs, schedules=built.schedules,
                          resources=_resources(tmp_path, tmp_path / "serving.duckdb"))
    defs.get_repository_def().get_all_jobs()  # resolves every job: the definitions load
    result = _materialize(built.assets, tmp_path, serving_db)
    assert _materialized(result) == {analysis_key("weekly_active_by_creator")}
    failures = _failures(result)
    assert "not_yaml.yaml" in failures["analyses__not_yaml"]
    assert "cannot be read as YAML" in failures["analyses__not_yaml"]
    assert "missing sql" in failures["analyses__no_sql"]
    assert "schedule must be one of" in failures["analyses__bad_schedule"]
    assert "already used by" in failures["analyses__zz_dup"]
    # broken files run daily, so the problem shows in the runs
    assert analysis_key("no_sql") in built.by_schedule["daily"]


def test_a_chart_on_a_missing_column_names_the_column(tmp_path: Path, serving_db: Path) -> None:
    spec = {**GOOD, "chart": {"type": "line", "x": "date", "y": "weekly_users"}}
    built = build_analyses(_folder(tmp_path, {"c.yaml": spec}), "UTC")
    result = _materialize(built.assets, tmp_path, serving_db)
    message = _failures(result)["analyses__weekly_active_by_creator"]
    assert "c.yaml" in message and "weekly_users" in message


def test_assets_depend_on_the_serving_database_and_the_marts_they_read(tmp_path: Path) -> None:
    spec = {**BAR, "sql": "select * from marts.nlu_daily join ML.metric_anomalies using (date)",
            "depends_on": ["marts.intent_daily"]}
    built = build_analyses(_folder(tmp_path, {"d.yaml": spec}), "UTC")
    (asset,) = built.assets
    assert asset.asset_deps[analysis_key("fallback_by_day")] == {
        SERVING_KEY, dg.AssetKey(["marts", "nlu_daily"]), dg.AssetKey(["ml", "metric_anomalies"]),
        dg.AssetKey(["marts", "intent_daily"])}
    assert asset.group_names_by_key[analysis_key("fallback_by_day")] == ANALYSES_GROUP


def test_schedules_run_the_right_jobs_in_the_reporting_time_zone(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"wau.yaml": GOOD, "bar.yaml": BAR,
                                "bar2.yaml": {**BAR, "name": "second_daily"}})
    built = build_analyses(folder, "Europe/Berlin")
    schedules = {s.name: s for s in built.schedules}
    daily, weekly = schedules["analyses_daily_schedule"], schedules["analyses_weekly_schedule"]
    assert (daily.cron_schedule, daily.execution_timezone) == ("0 9 * * *", "Europe/Berlin")
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 9 * * 1", "Europe/Berlin")
    assert daily.job_name == "analyses_daily_job" and weekly.job_name == "analyses_weekly_job"
    jobs = {j.name: j for j in built.jobs}
    defs = dg.Definitions(assets=built.assets, jobs=built.jobs, schedules=built.schedules,
                          resources=_resources(tmp_path, tmp_path / "serving.duckdb"))
    repo = defs.get_repository_def()
    daily_keys = repo.get_job("analyses_daily_job").asset_layer.executable_asset_keys
    weekly_keys = repo.get_job("analyses_weekly_job").asset_layer.executable_asset_keys
    assert daily_keys == {analysis_key("fallback_by_day"), analysis_key("second_daily")}
    assert weekly_keys == {analysis_key("weekly_active_by_creator")}
    assert set(jobs) == {"analyses_daily_job", "analyses_weekly_job"}
    # a tick: Monday 09:00 in Berlin is 08:00 UTC in March (CET)
    tick = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = weekly.evaluate_tick(context).run_requests
    assert requests is not None and len(requests) == 1
    from dagster._utils.schedules import cron_string_iterator

    next_weekly = next(cron_string_iterator(
        datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp(), weekly.cron_schedule,
        weekly.execution_timezone))
    assert next_weekly.isoformat() == "2026-03-02T09:00:00+01:00"
    next_daily = next(cron_string_iterator(
        datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp(), daily.cron_schedule,
        daily.execution_timezone))
    assert next_daily.isoformat() == "2026-07-02T09:00:00+02:00"


def test_no_files_no_jobs(tmp_path: Path) -> None:
    built = build_analyses(tmp_path / "missing", "UTC")
    assert (built.assets, built.jobs, built.schedules) == ([], [], [])


def test_analyses_dir_from_the_environment(tmp_path: Path) -> None:
    assert read_paths({"INSIGHTS_ANALYSES_DIR": str(tmp_path)}).analyses == tmp_path.resolve()
    assert read_paths({}).analyses == REPO_ANALYSES


def test_the_shipped_examples_parse_and_run(tmp_path: Path, serving_db: Path) -> None:
    files = sorted(REPO_ANALYSES.glob("*.yaml"))
    assert files
    for path in files:
        load_analysis(path)
    result = _materialize(build_analyses(REPO_ANALYSES, "UTC").assets, tmp_path, serving_db)
    assert result.success, _failures(result)


def test_parse_errors_name_the_file(tmp_path: Path) -> None:
    source = tmp_path / "x.yaml"
    with pytest.raises(AnalysisError, match=r"x\.yaml.*chart\.type"):
        parse_analysis({**GOOD, "chart": {"type": "pie", "x": "a", "y": "b"}}, source)
    with pytest.raises(AnalysisError, match="name"):
        parse_analysis({**GOOD, "name": "Has Spaces"}, source)
    with pytest.raises(AnalysisError, match="depends_on"):
        parse_analysis({**GOOD, "depends_on": ["raw.events"]}, source)
    with pytest.raises(AnalysisError, match="max_rows"):
        parse_analysis({**GOOD, "max_rows": 10**9}, source)
    spec = parse_analysis({**GOOD, "depends_on": ["marts.user_lifecycle"]}, source)
    assert spec.tables == ("marts.engagement_daily", "marts.user_lifecycle")


def test_insights_analyses_run_names_the_files_by_the_datas_as_of_date(
        tmp_path: Path, serving_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`insights analyses run NAME` runs one analysis now; its files carry the serving
    database's last day (2026-03-02), not today's date."""
    from typer.testing import CliRunner

    from orchestration.cli import app

    folder = _folder(tmp_path, {"good.yaml": GOOD})
    monkeypatch.setenv("INSIGHTS_ANALYSES_DIR", str(folder))
    monkeypatch.setenv("INSIGHTS_SERVING_DB", str(serving_db))
    monkeypatch.setenv("INSIGHTS_REPORTS_DIR", str(tmp_path / "reports"))
    result = CliRunner().invoke(app, ["analyses", "run", GOOD["name"]])
    assert result.exit_code == 0, result.output
    out = tmp_path / "reports" / "analyses" / GOOD["name"]
    assert sorted(p.name for p in out.iterdir()) == ["2026-03-02.csv", "2026-03-02.html"]
    assert datetime.now(UTC).date().isoformat() not in result.output
    assert "2026-03-02" in result.output

    unknown = CliRunner().invoke(app, ["analyses", "run", "nope"])
    assert unknown.exit_code == 2 and GOOD["name"] in unknown.output


def test_python_m_orchestration_cli_knows_the_analyses_command(
        tmp_path: Path, serving_db: Path) -> None:
    """`python -m orchestration.cli analyses run` (the module run as a script, as the
    README's checkout instructions do) has every command: the entry point is last."""
    import os
    import subprocess
    import sys

    folder = _folder(tmp_path, {"good.yaml": GOOD})
    env = {**os.environ, "INSIGHTS_ANALYSES_DIR": str(folder),
           "INSIGHTS_SERVING_DB": str(serving_db),
           "INSIGHTS_REPORTS_DIR": str(tmp_path / "reports"),
           "PYTHONPATH": str(REPO_ANALYSES.parent)}
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "analyses", "run",
                           GOOD["name"]], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "reports" / "analyses" / GOOD["name"] / "2026-03-02.html").exists()


def test_insights_sql_queries_the_serving_database_read_only(
        serving_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orchestration.cli import app

    monkeypatch.setenv("INSIGHTS_SERVING_DB", str(serving_db))
    ok = CliRunner().invoke(app, ["sql", "SELECT wau FROM marts.engagement_daily "
                                  "WHERE creator_id = '__all__'"])
    assert ok.exit_code == 0 and "4321" in ok.output
    write = CliRunner().invoke(app, ["sql", "CREATE TABLE marts.x (a INT)"])
    assert write.exit_code == 2
