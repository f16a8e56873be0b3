"""The Great Expectations suites of the marts are generated from the dbt yml of the marts
(data_quality/mart_suites.py): every mart has one, each dbt test flagged ``gx: true``
maps to a known expectation, every other dbt test is explicitly dbt-only, an unknown
test type is an error, and a broken invariant fails the generated suite."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import duckdb
import pytest

from data_quality import mart_suites as ms
from data_quality.mart_suites import MART_SUITES, DbtTest, UnmappedDbtTest
from data_quality.outcomes import BLOCKING, WARNING, failures

GX = {"meta": {"gx": True}}
DOCUMENTS = ms.load_documents()
COLUMNS = {m: cols for d in DOCUMENTS for m, cols in ms.model_columns(d).items()}
TYPES = {
    m["name"]: {c["name"]: c.get("data_type", "varchar") for c in m.get("columns") or []}
    for d in DOCUMENTS for m in d.get("models") or []
}


def _kwargs(expectation) -> dict:
    return dict(expectation.configuration.kwargs)


def _domain(expectation) -> set[str]:
    kwargs = _kwargs(expectation)
    if "column" in kwargs:
        return {kwargs["column"]}
    if "column_A" in kwargs:
        return {kwargs["column_A"], kwargs["column_B"]}
    return set(kwargs.get("column_list", ()))


def _computed(mart: str) -> set[str]:
    return {n for t in ms.mart_tests()[mart] if (c := ms.gx_check(t)) for n, _ in c.computed}


# --- the generated suites --------------------------------------------------------------


def test_every_mart_has_a_suite():
    marts = {p.stem for p in ms.MARTS_DIR.glob("*.sql")}
    assert len(marts) >= 16
    assert set(MART_SUITES) == marts == set(COLUMNS)
    for mart, suite in MART_SUITES.items():
        assert suite.name == suite.table == f"marts.{mart}"
        assert suite.expectations(), f"{mart}: no dbt test flagged gx: true"
        assert suite.sql.startswith("SELECT *") and f"FROM marts.{mart}" in suite.sql


def test_every_dbt_test_of_a_mart_is_in_its_suite_or_dbt_only():
    for mart, tests in ms.mart_tests().items():
        mapped = [t for t in tests if ms.gx_check(t) is not None]
        only = ms.dbt_only(tests)
        assert len(mapped) + len(only) == len(tests), mart
        assert len(mapped) == len(MART_SUITES[mart].expectations()), mart
        assert all(reason for _, reason in only)
    assert not set(ms.MAPPED) & set(ms.DBT_ONLY)


def test_every_expectation_reads_a_column_of_its_mart_or_of_its_frame():
    for mart, suite in MART_SUITES.items():
        known = set(COLUMNS[mart]) | _computed(mart)
        for expectation in suite.expectations():
            assert _domain(expectation) and _domain(expectation) <= known, (
                mart, _kwargs(expectation))


@pytest.mark.parametrize("mart", sorted(MART_SUITES))
def test_the_suite_runs_on_an_empty_mart_with_the_yml_columns(mart):
    """The frame SQL (computed columns included) is valid on the columns dbt declares."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    columns = ", ".join(f'"{c}" {t}' for c, t in TYPES[mart].items())
    con.execute(f"CREATE TABLE marts.{mart} ({columns})")
    outcomes = MART_SUITES[mart].run(con)
    assert len(outcomes) == len(MART_SUITES[mart].expectations())
    assert failures(outcomes) == []


def test_the_yml_of_the_marts_holds_the_invariants_the_suites_check():
    def find(mart: str, column: str):
        return [e for e in MART_SUITES[mart].expectations() if column in _domain(e)]

    (gap,) = find("engagement_daily", "stickiness_gap")
    assert gap.expectation_type == "expect_column_values_to_be_between"
    assert (_kwargs(gap)["min_value"], _kwargs(gap)["max_value"]) == (-1e-9, 1e-9)
    assert gap.description == "stickiness = dau / mau"
    assert "AS stickiness_gap" in MART_SUITES["engagement_daily"].sql

    (previous,) = find("funnel_steps", "previous_step_users")
    assert _kwargs(previous)["column_A"] == "previous_step_users"
    assert ("lag(users) over (partition by funnel, creator_id order by step) "
            "AS previous_step_users") in (
        MART_SUITES["funnel_steps"].sql)

    (drift,) = find("retention_cohorts", "cohort_size_drift")
    assert (_kwargs(drift)["min_value"], _kwargs(drift)["max_value"]) == (0, 0)
    assert drift.description == "every period of a cohort has period 0's cohort_size"

    (engagement_rate,) = find("content_performance", "engagement_rate")
    assert str(engagement_rate.severity).lower().endswith("warning")  # severity: warn
    (currency,) = [e for e in find("revenue_daily", "currency")
                   if e.expectation_type == "expect_column_values_to_match_regex"]
    assert _kwargs(currency)["regex"] == "^[A-Z]{3}$"
    assert currency.description == "one ISO 4217 currency per row"


# --- dbt test -> GX expectation --------------------------------------------------------


def test_known_dbt_tests_map_to_their_expectations():
    rate = ms.gx_check(DbtTest("m", "is_rate", "share", config=GX)).build()
    assert rate.expectation_type == "expect_column_values_to_be_between"
    assert _kwargs(rate) == {"column": "share", "min_value": 0, "max_value": 1}
    assert rate.description == "share is a fraction in [0, 1]"
    assert str(rate.severity).lower().endswith("critical")

    key = ms.gx_check(DbtTest("m", "unique_combination_of_columns", kwargs={
        "combination_of_columns": ["date", "creator_id"]}, config=GX)).build()
    assert key.expectation_type == "expect_compound_columns_to_be_unique"
    assert key.description == "one row per date x creator_id"

    values = ms.gx_check(DbtTest("m", "accepted_values", "status", kwargs={
        "values": ["active", "completed"]}, config={"severity": "warn", **GX})).build()
    assert values.expectation_type == "expect_column_values_to_be_in_set"
    assert _kwargs(values)["value_set"] == ["active", "completed"]
    assert str(values.severity).lower().endswith("warning")

    pair = ms.gx_check(DbtTest("m", "at_least_column", "wau", kwargs={
        "other_column": "dau"}, config=GX)).build()
    assert pair.expectation_type == "expect_column_pair_values_a_to_be_greater_than_b"
    assert (_kwargs(pair)["column_A"], _kwargs(pair)["column_B"]) == ("wau", "dau")
    assert _kwargs(pair)["or_equal"] is True and pair.description == "dau <= wau"

    bounded = ms.gx_check(DbtTest("m", "in_range", "step", kwargs={"min_value": 1},
                                  config=GX)).build()
    assert _kwargs(bounded)["min_value"] == 1 and _kwargs(bounded).get("max_value") is None
    assert bounded.description == "step >= 1"

    near = ms.gx_check(DbtTest(
        "m", "expression_near_zero", description="net = a - b",
        kwargs={"expression": "net -\n (a - b)", "computed_column": "net_gap",
                "tolerance": "1e-9"},  # YAML 1.1 reads 1e-9 as a string
        config=GX))
    assert near.computed == (("net_gap", "net - (a - b)"),)
    built = near.build()
    assert (_kwargs(built)["min_value"], _kwargs(built)["max_value"]) == (-1e-9, 1e-9)
    assert built.description == "net = a - b"

    assert ms.gx_check(DbtTest("m", "not_null", "x")) is None  # not flagged: dbt-only


def test_yml_entries_are_read_as_dbt_reads_them():
    document = {"models": [{
        "name": "m",
        "data_tests": [{"unique_combination_of_columns": {
            "arguments": {"combination_of_columns": ["a", "b"]}, "config": GX}}],
        "columns": [
            {"name": "a", "data_tests": ["not_null", {"unique": {"config": GX}}]},
            {"name": "b", "tests": [  # the older key and syntax
                {"accepted_values": {"values": ["x"], "severity": "warn", "meta": {"gx": True}}},
                {"is_rate": {"config": {"enabled": False, **GX}}}]},
        ],
    }]}
    tests = ms.read_model_tests(document)["m"]
    assert [(t.type, t.column, t.gx) for t in tests] == [
        ("unique_combination_of_columns", None, True), ("not_null", "a", False),
        ("unique", "a", True), ("accepted_values", "b", True)]
    assert tests[3].kwargs == {"values": ["x"]} and tests[3].warning
    suite = ms.generate_suites([document])["m"]
    assert [e.expectation_type for e in suite.expectations()] == [
        "expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_set"]


def test_an_unknown_dbt_test_type_is_never_silently_dropped():
    with pytest.raises(UnmappedDbtTest, match="neither mapped"):
        ms.gx_check(DbtTest("m", "dbt_utils.accepted_range", "x"))  # flagged or not
    document = {"models": [{"name": "m", "columns": [
        {"name": "x", "data_tests": ["not_null", "some_new_test"]}]}]}
    with pytest.raises(UnmappedDbtTest, match="some_new_test"):
        ms.generate_suites([document])
    # a dbt-only type flagged for GX, or a flagged test GX cannot apply as dbt does
    with pytest.raises(UnmappedDbtTest, match="dbt-only"):
        ms.gx_check(DbtTest("m", "expression_is_true", kwargs={"expression": "1=1"},
                            config=GX))
    with pytest.raises(UnmappedDbtTest, match="where"):
        ms.gx_check(DbtTest("m", "is_rate", "x", config={"where": "x > 0", **GX}))
    with pytest.raises(UnmappedDbtTest, match="other_column"):
        ms.gx_check(DbtTest("m", "at_least_column", "x", config=GX))
    # dbt-only tests are listed with their reason
    only = ms.dbt_only([DbtTest("m", "relationships", "x"), DbtTest("m", "not_null", "x")])
    assert [(t.type, reason) for t, reason in only] == [
        ("relationships", ms.DBT_ONLY["relationships"]), ("not_null", "not flagged gx: true")]


def test_the_yml_reading_agrees_with_the_dbt_manifest():
    """What the generator reads from the yml is what dbt parses from it."""
    from orchestration.dbt_project import ensure_manifest

    nodes = json.loads(ensure_manifest().read_text())["nodes"].values()
    prefix = "model.insights_warehouse."

    def args(kwargs) -> str:
        rest = {k: v for k, v in kwargs.items() if k not in ("model", "column_name")}
        return json.dumps(rest, sort_keys=True, default=str)

    from_dbt = Counter(
        (n["attached_node"][len(prefix):], n["test_metadata"]["name"],
         (n.get("column_name") or n["test_metadata"]["kwargs"].get("column_name") or "")
         .strip('"'),
         args(n["test_metadata"]["kwargs"]), bool(n["config"]["meta"].get("gx")),
         n["config"]["severity"].lower() == "warn", n.get("description") or "")
        for n in nodes
        if n["resource_type"] == "test" and n.get("test_metadata")
        and (n.get("attached_node") or "")[len(prefix):] in MART_SUITES
    )
    from_yml = Counter(
        (t.model, t.type, t.column or t.kwargs.get("column_name", ""), args(t.kwargs),
         t.gx, t.warning, t.description)
        for tests in ms.mart_tests().values() for t in tests
    )
    assert from_yml == from_dbt


# --- a broken invariant fails the generated suite --------------------------------------


@pytest.fixture
def con():
    """Small clean marts: engagement_daily, funnel_steps, retention_cohorts."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.engagement_daily (
        date DATE, creator_id VARCHAR, dau BIGINT, wau BIGINT, mau BIGINT, stickiness DOUBLE)""")
    start = date(2025, 1, 1)
    for i in range(5):
        for creator, dau in (("__all__", 4 + i), ("c1", 2)):
            wau, mau = dau + 3, dau + 10
            con.execute("INSERT INTO marts.engagement_daily VALUES (?, ?, ?, ?, ?, ?)",
                        [start + timedelta(days=i), creator, dau, wau, mau, dau / mau])
    con.execute("""CREATE TABLE marts.funnel_steps AS SELECT * FROM (VALUES
        ('f', '__all__', 1, 10, 1.0, 0), ('f', '__all__', 2, 6, 0.6, 4),
        ('f', '__all__', 3, 6, 0.6, 0), ('f', '__all__', 4, 1, 0.1, 5),
        ('f', 'c1', 1, 2, 1.0, 0), ('f', 'c1', 2, 1, 0.5, 1))
        AS t(funnel, creator_id, step, users, conversion_rate, dropoff_users)""")
    con.execute("""CREATE TABLE marts.retention_cohorts AS SELECT * FROM (VALUES
        ('week', DATE '2025-01-06', 0, 10, 10, 1.0), ('week', DATE '2025-01-06', 1, 10, 4, 0.4),
        ('week', DATE '2025-01-06', 2, 10, NULL, NULL), ('month', DATE '2025-01-01', 0, 3, 3, 1.0))
        AS t(cohort_grain, cohort_start, period, cohort_size, retained_users, retention_rate)""")
    yield con
    con.close()


@pytest.mark.parametrize(
    ("mart", "plant", "columns"),
    [
        ("engagement_daily", "UPDATE marts.engagement_daily SET stickiness = stickiness + 0.01 "
         "WHERE creator_id = 'c1' AND date = DATE '2025-01-03'", "stickiness_gap"),
        ("engagement_daily", "UPDATE marts.engagement_daily SET dau = wau + 1 "
         "WHERE creator_id = '__all__' AND date = DATE '2025-01-05'", "wau, dau"),
        ("engagement_daily", "UPDATE marts.engagement_daily SET stickiness = 1.5, "
         "dau = 15, mau = 10, wau = 10 WHERE creator_id = 'c1' AND date = DATE '2025-01-01'",
         "stickiness"),
        ("engagement_daily", "INSERT INTO marts.engagement_daily "
         "SELECT * FROM marts.engagement_daily LIMIT 1", "date, creator_id"),
        ("engagement_daily", "UPDATE marts.engagement_daily SET mau = wau - 1 "
         "WHERE creator_id = 'c1' AND date = DATE '2025-01-02'", "mau, wau"),
        ("funnel_steps", "UPDATE marts.funnel_steps SET users = 7, dropoff_users = 0 "
         "WHERE step = 3", "previous_step_users, users"),
        ("funnel_steps", "UPDATE marts.funnel_steps SET dropoff_users = 3 WHERE step = 2",
         "dropoff_gap"),
        ("funnel_steps", "UPDATE marts.funnel_steps SET conversion_rate = 0.9 WHERE step = 1",
         "step1_conversion_gap"),
        ("retention_cohorts", "UPDATE marts.retention_cohorts SET cohort_size = 11 "
         "WHERE period = 2", "cohort_size_drift"),
        ("retention_cohorts", "DELETE FROM marts.retention_cohorts WHERE cohort_grain = 'month'"
         "; UPDATE marts.retention_cohorts SET period = period + 1", "first_period"),
        ("retention_cohorts", "UPDATE marts.retention_cohorts SET retention_rate = 0.5 "
         "WHERE period = 1", "retention_rate_gap"),
        ("retention_cohorts", "UPDATE marts.retention_cohorts SET cohort_grain = 'day' "
         "WHERE cohort_grain = 'month'", "cohort_grain"),
    ],
)
def test_a_broken_invariant_fails_the_generated_suite(con, mart, plant, columns):
    suite = MART_SUITES[mart]
    clean = suite.run(con)
    assert len(clean) == len(suite.expectations()) and failures(clean) == []
    con.execute(plant)
    failed = failures(suite.run(con))
    assert [o.columns for o in failed if o.columns == columns] == [columns], [
        o.message() for o in failed]
    (broken,) = [o for o in failed if o.columns == columns]
    assert broken.severity == BLOCKING and broken.table_name == f"marts.{mart}"
    assert broken.unexpected_count and broken.unexpected_count >= 1


def test_a_warning_test_fails_as_a_warning(con):
    con.execute("""CREATE TABLE marts.content_performance AS SELECT * FROM (VALUES
        ('k1', 0.1, 0.05, 100.0), ('k2', 1.2, 0.01, 0.0)) AS t(content_id, engagement_rate,
        ctr, performance_score)""")
    failed = failures(MART_SUITES["content_performance"].run(con))
    assert [(o.columns, o.severity) for o in failed] == [("engagement_rate", WARNING)]
