"""The semantic layer (issue 20) on the demo warehouse (tests/conftest.py DEMO_ARGS): every metric
through MetricFlow equals the marts, by day and creator (and the dimensions a metric is
defined over) and by day alone: exact for counts, 1e-9 for rates. The references are the
marts' own columns where the mart has the number at that grain, else a pandas
aggregation of the mart's rows. Also `insights metrics` (list, explain, query as CSV and
JSON, usage errors) and the catalogue and views the publish writes for BI tools."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from serving import metrics as sm
from serving.metrics_catalogue import publish_catalogue, view_group_by
from tests.conftest import demo_env
from tests.dbt_support import DBT_PROJECT_DIR
from warehouse.settings import load_settings

DAY = "metric_time__day"


@dataclass(frozen=True)
class Reference:
    """Where a metric's number is in the marts: ``table`` with its date column ``time``;
    ``keys`` map the query's group-by names to mart columns; ``value`` is a mart column
    at the mart's grain, or a function of a group of mart rows (to aggregate finer rows);
    ``all_row``: the mart holds creator_id = '__all__' totals."""

    table: str
    time: str
    value: str | Callable[[pd.DataFrame], float]
    keys: tuple[tuple[str, str], ...] = ()
    all_row: bool = True


def _ratio(num: str, den: str) -> Callable[[pd.DataFrame], float]:
    def value(rows: pd.DataFrame) -> float:
        n, d = rows[num].sum(min_count=1), rows[den].sum(min_count=1)
        return n / d if pd.notna(d) and d != 0 and pd.notna(n) else float("nan")
    return value


def _sum(column: str) -> Callable[[pd.DataFrame], float]:
    return lambda rows: rows[column].sum(min_count=1)


ENG = ("engagement_daily", "date")
CONV = ("conversation_daily", "date")
NLU = ("nlu_daily", "date")
RET_KEYS = (("retention_cell__definition", "definition"),
            ("retention_cell__cohort_grain", "cohort_grain"),
            ("retention_cell__period", "period"))
FUNNEL_KEYS = (("funnel_step__funnel", "funnel"), ("funnel_step__step", "step"))
REV_KEYS = (("revenue_day__currency", "currency"),)
EXP_KEYS = (("experiment_variant__experiment_id", "experiment_id"),
            ("experiment_variant__variant", "variant"))

REFERENCES: dict[str, Reference] = {
    **{m: Reference(*ENG, m) for m in ("dau", "wau", "mau", "stickiness", "active_events")},
    "sessions": Reference(*ENG, "sessions"),
    **{m: Reference(*CONV, m) for m in (
        "conversations", "automation_rate", "avg_turns", "workflow_completion_rate",
        "response_time_ms_mean", "cost_savings", "automated_sessions", "turns",
        "sessions_with_turns", "workflows_started", "workflows_completed",
        "timed_responses")},
    "conversation_sessions": Reference(*CONV, "sessions"),
    "response_time_ms_total": Reference(*CONV, lambda r: float(
        (r["response_time_ms_mean"] * r["timed_responses"]).sum(min_count=1))),
    **{m: Reference(*NLU, m) for m in (
        "classifications", "fallback_rate", "low_confidence_rate", "mean_confidence",
        "fallback_classifications", "low_confidence_classifications",
        "classifications_with_confidence")},
    "confidence_total": Reference(*NLU, lambda r: float(
        (r["mean_confidence"] * r["classifications_with_confidence"]).sum(min_count=1))),
    "retention_rate": Reference("retention", "cohort_start", "retention_rate", RET_KEYS),
    "retained_users": Reference("retention", "cohort_start", "retained_users", RET_KEYS),
    "cohort_users": Reference("retention", "cohort_start", "cohort_size", RET_KEYS),
    "funnel_users": Reference("funnel_steps", "as_of_date", "users", FUNNEL_KEYS),
    "funnel_conversion": Reference("funnel_steps", "as_of_date", "conversion_rate",
                                   FUNNEL_KEYS),
    **{m: Reference("revenue_daily", "date", m, REV_KEYS)
       for m in ("net_revenue", "charges", "refunds")},
    "mastery": Reference("topic_mastery", "as_of_date", lambda r: r["mastery"].mean(),
                         all_row=False),
    "mastery_total": Reference("topic_mastery", "as_of_date", _sum("mastery"), all_row=False),
    "user_topics": Reference("topic_mastery", "as_of_date",
                             lambda r: float(r["mastery"].notna().sum()), all_row=False),
    "goals": Reference("goal_progress", "created_date", lambda r: float(len(r)),
                       all_row=False),
    "completed_goals": Reference("goal_progress", "created_date",
                                 lambda r: float((r["status"] == "completed").sum()),
                                 all_row=False),
    "goal_completion_rate": Reference("goal_progress", "created_date",
                                      lambda r: (r["status"] == "completed").mean(),
                                      all_row=False),
    "content_engagement_rate": Reference("content_performance", "as_of_date",
                                         _ratio("engagements", "impressions"), all_row=False),
    "content_ctr": Reference("content_performance", "as_of_date",
                             _ratio("clicks", "impressions"), all_row=False),
    **{m: Reference("content_performance", "as_of_date", _sum(m), all_row=False)
       for m in ("impressions", "engagements", "clicks")},
    "enrolled_users": Reference("program_effectiveness", "as_of_date", "enrolled_users",
                                (("program", "program_id"),), all_row=False),
    "program_completions": Reference("program_effectiveness", "as_of_date", lambda r: float(
        (r["completion_rate"] * r["enrolled_users"]).sum(min_count=1)),
        (("program", "program_id"),), all_row=False),
    "program_completion_rate": Reference("program_effectiveness", "as_of_date",
                                         "completion_rate", (("program", "program_id"),),
                                         all_row=False),
    "experiment_conversion": Reference("experiment_results", "as_of_date", "conversion_rate",
                                       EXP_KEYS, all_row=False),
    "experiment_users": Reference("experiment_results", "as_of_date", "users", EXP_KEYS,
                                  all_row=False),
    "experiment_conversions": Reference("experiment_results", "as_of_date", "conversions",
                                        EXP_KEYS, all_row=False),
}


@pytest.fixture(scope="module")
def demo(demo_run, tmp_path_factory: pytest.TempPathFactory):
    """(warehouse copy, semantic manifest parsed from this project, read-only connection)."""
    data, result = demo_run
    assert result.exit_code == 0, result.output
    tmp = tmp_path_factory.mktemp("semantic")
    warehouse = tmp / "warehouse.duckdb"
    shutil.copy(data / "warehouse.duckdb", warehouse)
    from dbt.cli.main import dbtRunner

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSIGHTS_WAREHOUSE", str(warehouse))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        parsed = dbtRunner().invoke([
            "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
            str(DBT_PROJECT_DIR), "--target-path", str(tmp / "target"), "--log-path",
            str(tmp / "logs"), "--vars", json.dumps(load_settings().dbt_vars()), "--quiet"])
    assert parsed.success, parsed.exception
    manifest = sm.read_manifest(tmp / "target" / "semantic_manifest.json")
    con = duckdb.connect(str(warehouse), read_only=True)
    yield warehouse, manifest, con
    con.close()


def _mart(con: duckdb.DuckDBPyConnection, ref: Reference) -> pd.DataFrame:
    frame = con.execute(f"SELECT * FROM marts.{ref.table}").df()
    frame[ref.time] = pd.to_datetime(frame[ref.time]).dt.date
    return frame


def _expected(con: duckdb.DuckDBPyConnection, ref: Reference, name: str,
              by_creator: bool) -> pd.DataFrame:
    """The reference at (day[, creator], keys) from the mart."""
    frame = _mart(con, ref)
    has_creator = "creator_id" in frame.columns
    if ref.all_row and not by_creator:
        frame = frame[frame["creator_id"] == sm.ALL_CREATORS]
    cols = [ref.time, *(["creator_id"] if by_creator and has_creator else []),
            *(c for _, c in ref.keys)]
    if isinstance(ref.value, str):
        out = frame[[*cols, ref.value]].rename(columns={ref.value: name})
        assert not out.duplicated(cols).any(), f"{ref.table} is not at grain {cols}"
    elif frame.empty:
        out = pd.DataFrame(columns=[*cols, name])
    else:
        out = (frame.groupby(cols, dropna=False)
               .apply(ref.value, include_groups=False).rename(name).reset_index())
    names = {ref.time: DAY, "creator_id": "creator", **{c: q for q, c in ref.keys}}
    return out.rename(columns=names)


def _compare(got: pd.DataFrame, want: pd.DataFrame, name: str, keys: list[str],
             count: bool) -> None:
    assert len(got) == len(want), (name, len(got), len(want))
    merged = got.merge(want, on=keys, how="outer", suffixes=("_sl", "_mart"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    a = pd.to_numeric(merged[f"{name}_sl"], errors="coerce").astype(float)
    b = pd.to_numeric(merged[f"{name}_mart"], errors="coerce").astype(float)
    assert (a.isna() == b.isna()).all(), merged[a.isna() != b.isna()].head()
    both = a.notna()
    if count:
        assert (a[both] == b[both]).all(), merged[both & (a != b)].head()
    else:
        assert ((a[both] - b[both]).abs() <= 1e-9 * b[both].abs().clip(lower=1)).all(), \
            merged[both & ((a - b).abs() > 1e-9)].head()


def test_every_metric_has_a_reference(demo):
    _, manifest, _ = demo
    assert {i.name for i in sm.catalogue(manifest)} == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("by_creator", [True, False], ids=["day_creator", "day"])
def test_metric_equals_the_marts(demo, name: str, by_creator: bool):
    _, manifest, con = demo
    ref = REFERENCES[name]
    info = sm.explain(manifest, name)
    has_creator = sm.CREATOR in info.dimensions
    group_by = [DAY, *(["creator"] if by_creator and has_creator else []),
                *(q for q, _ in ref.keys)]
    assert set(info.default_group_by) <= set(group_by)
    got = sm.query(con, manifest, [name], group_by)
    want = _expected(con, ref, name, by_creator and has_creator)
    _compare(got, want, name, group_by, name in sm.integer_metrics(manifest))


def test_the_demo_has_numbers_to_compare(demo):
    """The equality above is not vacuous: the core marts have rows and non-null values."""
    _, manifest, con = demo
    got = sm.query(con, manifest, ["dau", "wau", "automation_rate", "fallback_rate",
                                   "mastery"], ["creator"])
    assert len(got) > 3
    for column in ("dau", "wau", "automation_rate", "fallback_rate", "mastery"):
        assert got[column].notna().any(), column


def test_dau_wau_by_day_and_creator_through_the_cli_equal_engagement_daily(demo, tmp_path):
    """The issue's "done when": `insights metrics query --metrics dau,wau --group-by
    metric_time__day,creator` equals marts.engagement_daily (nulls included)."""
    warehouse, _, con = demo
    env = {**demo_env(tmp_path / "data"), "INSIGHTS_WAREHOUSE": str(warehouse)}
    result = CliRunner().invoke(app, ["metrics", "query", "--metrics", "dau,wau",
                                      "--group-by", "metric_time__day,creator",
                                      "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(io.StringIO(result.stdout), dtype={"creator": str})
    want = con.execute('SELECT "date", creator_id, dau, wau FROM marts.engagement_daily '
                       'ORDER BY "date", creator_id').df()
    assert list(got.columns) == ["metric_time__day", "creator", "dau", "wau"]
    assert got["metric_time__day"].tolist() == [d.isoformat() for d in
                                                pd.to_datetime(want["date"]).dt.date]
    assert got["creator"].tolist() == want["creator_id"].tolist()
    assert got["dau"].tolist() == want["dau"].tolist()
    assert got["wau"].isna().tolist() == want["wau"].isna().tolist()
    known = want["wau"].notna()
    assert known.any()
    assert got["wau"][known].astype(int).tolist() == want["wau"][known].astype(int).tolist()

    as_json = CliRunner().invoke(app, ["metrics", "query", "--metrics", "stickiness",
                                       "--group-by", "metric_time__week", "--start",
                                       "2026-01-01", "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert rows and set(rows[0]) == {"metric_time__week", "stickiness"}


@pytest.mark.parametrize(("args", "message"), [
    (["query", "--metrics", "dau", "--format", "xml"], "--format must be one of"),
    (["query", "--metrics", "no_such_metric"], "unknown metric 'no_such_metric'"),
    (["query", "--metrics", "dau", "--group-by", "no_such__dim"], "MetricFlow refused"),
    (["query", "--metrics", "dau,mastery"], "group by creator"),
    (["explain", "nope"], "unknown metric 'nope'"),
    (["query", "--metrics", "retention_rate", "--group-by", "retention_cell__definition"],
     "group by retention_cell__cohort_grain, retention_cell__period too"),
])
def test_metrics_usage_errors_exit_2_with_one_line(demo, tmp_path, args, message):
    warehouse, _, _ = demo
    env = {**demo_env(tmp_path / "data"), "INSIGHTS_WAREHOUSE": str(warehouse)}
    result = CliRunner().invoke(app, ["metrics", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_list_and_explain(demo, tmp_path):
    warehouse, _, _ = demo
    env = {**demo_env(tmp_path / "data"), "INSIGHTS_WAREHOUSE": str(warehouse)}
    listed = CliRunner().invoke(app, ["metrics", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "retention_rate" in listed.output and "engagement_daily" in listed.output
    explained = CliRunner().invoke(app, ["metrics", "explain", "automation_rate"], env=env)
    assert explained.exit_code == 0, explained.output
    assert "automated_sessions / conversation_sessions" in explained.output
    assert "marts" in explained.output and "SELECT" in explained.output


def test_no_stored_manifest_no_catalogue():
    con = duckdb.connect()
    try:
        assert publish_catalogue(con, "memory") == 0
        assert not con.execute("SELECT count(*) FROM duckdb_schemas() "
                               "WHERE schema_name = 'semantic'").fetchall()[0][0]
    finally:
        con.close()


def test_the_demo_publish_wrote_the_catalogue_and_one_view_per_metric(demo_run, demo,
                                                                        tmp_path):
    """The run stored the manifest in the warehouse and the publish wrote schema
    semantic into the serving database; `--serving` answers from it."""
    data, _ = demo_run
    _, manifest, warehouse_con = demo
    serving = tmp_path / "serving.duckdb"
    shutil.copy(data / "serving.duckdb", serving)
    infos = sm.catalogue(manifest)
    bi = duckdb.connect(str(serving), read_only=True)
    try:
        catalogue = bi.execute("SELECT name, type, formula, view_name FROM semantic.metrics "
                               "ORDER BY name").df()
        assert catalogue["name"].tolist() == [i.name for i in infos]
        assert catalogue["view_name"].notna().all()
        view = bi.execute("SELECT * FROM semantic.dau").df()
        assert list(view.columns) == [*view_group_by(sm.explain(manifest, "dau")), "dau"]
        mart = bi.execute("SELECT count(*) FROM marts.engagement_daily").fetchall()[0][0]
        assert len(view) == mart
        rates = bi.execute("SELECT * FROM semantic.automation_rate").df()
        want = sm.query(warehouse_con, manifest, ["automation_rate"],
                        view_group_by(sm.explain(manifest, "automation_rate")))
        assert len(rates) == len(want) > 0
        assert ((rates["automation_rate"] - want["automation_rate"]).abs().fillna(0)
                <= 1e-12).all()
        assert bi.execute("SELECT count(*) FROM semantic.metricflow_time_spine"
                          ).fetchall()[0][0] > 30000
    finally:
        bi.close()
    env = {**demo_env(tmp_path / "data"), "INSIGHTS_SERVING_DB": str(serving),
           "INSIGHTS_WAREHOUSE": str(tmp_path / "absent.duckdb")}
    result = CliRunner().invoke(app, ["metrics", "query", "--serving", "--metrics",
                                      "automation_rate", "--group-by", "creator",
                                      "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(io.StringIO(result.stdout), dtype={"creator": str})
    assert "__all__" in got["creator"].tolist()
