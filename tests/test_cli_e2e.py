"""`insights demo`, `run` and `status` end to end: real files, DuckDB, Dagster and dbt."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo") / "data"
    env = {
        "INSIGHTS_LANDING_DIR": str(data / "landing"),
        "INSIGHTS_WAREHOUSE": str(data / "warehouse.duckdb"),
        "DAGSTER_HOME": str(data / "dagster_home"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        result = runner.invoke(app, ["demo", "--users", "80", "--days", "9"])
        yield data, result, mp


def test_demo_builds_the_mart_and_prints_a_summary(demo):
    data, result, _ = demo
    assert result.exit_code == 0, result.output
    out = result.output
    assert "events loaded" in out and "events rejected" in out
    assert "engagement_daily" in out
    assert "warehouse.duckdb" in out
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        n, creators = con.execute(
            "SELECT count(*), count(DISTINCT creator_id) FROM marts.engagement_daily"
        ).fetchone()
        assert n > 0 and creators > 1
        # the mart agrees with the raw layer: DAU of __all__ on a day = distinct active users
        day, dau = con.execute(
            "SELECT date, dau FROM marts.engagement_daily WHERE creator_id = '__all__' "
            "ORDER BY date DESC LIMIT 1"
        ).fetchone()
        expected = con.execute(
            """
            SELECT count(DISTINCT user_id) FROM raw.events
            WHERE is_current AND user_id IS NOT NULL AND event_ts::DATE = ?
              AND event_type IN ('conversation_start', 'user_message', 'user_feedback',
                  'lesson_started', 'lesson_completed', 'exercise_attempted',
                  'goal_created', 'goal_completed')
            """,
            [day],
        ).fetchone()[0]
        assert dau == expected
        assert con.execute(
            "SELECT bool_and(reconciles) FROM raw.file_reconciliation"
        ).fetchone()[0]
    finally:
        con.close()


def test_demo_runs_are_recorded_for_the_dagster_ui(demo):
    data, _, _ = demo
    instance = dg.DagsterInstance.from_config(str(data / "dagster_home"))
    runs = instance.get_runs()
    assert runs and all(r.is_success for r in runs)
    assert {r.job_name for r in runs} == {"refresh_job"}
    manifest = json.loads((data / "landing" / "_generator_manifest.json").read_text())
    incomplete = manifest["incomplete_day"]
    mats = instance.fetch_materializations(dg.AssetKey(["raw", "events"]), limit=100).records
    partitions = {m.partition_key for m in mats}
    assert partitions and incomplete not in partitions


def test_status_shows_loaded_rejected_and_waiting_days(demo):
    _, _, _ = demo
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "events" in result.output
    assert "invalid_json" in result.output
    assert "every loaded file reconciles" in result.output


def test_second_run_loads_nothing_and_keeps_the_mart(demo):
    data, _, _ = demo
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    before = con.execute("SELECT * FROM marts.engagement_daily ORDER BY ALL").fetchall()
    con.close()
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "no new or changed export day" in result.output
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    after = con.execute("SELECT * FROM marts.engagement_daily ORDER BY ALL").fetchall()
    con.close()
    assert before == after


def test_reload_of_a_range_gives_identical_tables(demo):
    data, _, _ = demo
    manifest = json.loads((data / "landing" / "_generator_manifest.json").read_text())
    day = manifest["first_export_date"]

    def snapshot():
        con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
        try:
            return (
                con.execute("SELECT * EXCLUDE (load_id, loaded_at) FROM raw.events "
                            "ORDER BY ALL").fetchall(),
                con.execute("SELECT * FROM marts.engagement_daily ORDER BY ALL").fetchall(),
            )
        finally:
            con.close()

    before = snapshot()
    result = runner.invoke(app, ["run", "--start", day, "--end", day, "--reload"])
    assert result.exit_code == 0, result.output
    assert "loading 1 export days" in result.output
    assert snapshot() == before


def test_personal_data_never_leaves_the_raw_layer(demo):
    data, _, _ = demo
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        emails, names = con.execute(
            "SELECT list(email), list(display_name) FROM raw.users"
        ).fetchone()
        assert emails and names
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema NOT IN ('raw', 'information_schema', 'pg_catalog') "
            "AND data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        assert columns
        leaks = []
        for schema, table, column in columns:
            hits = con.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" '
                f'WHERE "{column}"::VARCHAR LIKE \'%@example.com%\''
            ).fetchone()[0]
            if hits:
                leaks.append(f"{schema}.{table}.{column}")
        assert leaks == []
        assert not [c for c in columns if c[2] in ("email", "display_name")]
    finally:
        con.close()
