"""Large frames counted in SQL (data_quality/sql_checks.py) and the one-scan personal-data
check (data_quality/privacy.py) give the outcomes the row-by-row GX path gave: every
planted violation still fails, with the same counts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from data_quality import expect as ex
from data_quality.engine import validate_frame
from data_quality.mart_suites import MART_SUITES
from data_quality.privacy import (
    EMAIL_REGEX,
    grouped_columns,
    personal_data_frame,
    validate_no_personal_data,
)
from data_quality.privacy import (
    _expectations as privacy_expectations,
)
from data_quality.suite import Suite

N = 3000


@pytest.fixture
def con():
    con = duckdb.connect()
    # i: 0..N-1; planted: nulls, NaN, duplicates, out-of-range values, values not in set
    con.execute(f"""
        CREATE TABLE t AS SELECT
            i,
            CASE WHEN i % 500 = 7 THEN NULL ELSE 'k' || i END AS key,
            CASE WHEN i IN (10, 11) THEN 'dup' ELSE 'k' || i END AS key_dup,
            CASE WHEN i % 100 = 3 THEN NULL WHEN i % 100 = 4 THEN 'nan'::DOUBLE
                 WHEN i = 5 THEN 1.5 ELSE (i % 10) / 10.0 END::DOUBLE AS share,
            CASE WHEN i = 9 THEN -3 ELSE i % 7 END::BIGINT AS n,
            CASE WHEN i % 1000 = 1 THEN 'other' WHEN i % 3 = 0 THEN NULL
                 ELSE ['a', 'b'][1 + i % 2] END AS kind,
            (i % 2 = 0) AS flag,
            CASE WHEN i = 2 THEN 'ab' ELSE 'AB' END AS code,
            i % 5 AS lo, CASE WHEN i = 8 THEN 0 ELSE 9 END AS hi,
            DATE '2026-01-01' + (i % 30)::INTEGER AS d
        FROM range({N}) r(i)""")
    yield con
    con.close()


def _expectations() -> list:
    return [
        ex.not_null("key"), ex.not_null("share"), ex.not_null("i"),
        ex.unique("key"), ex.unique("key_dup"), ex.unique("i"),
        ex.rate("share"), ex.non_negative("n"), ex.between("n", 0, 5, warning=True),
        ex.between("n", 0, 6, mostly=0.99),
        ex.in_set("kind", ["a", "b"]), ex.in_set("kind", ["a", "b"], mostly=0.99),
        ex.in_set("flag", [True, False]), ex.in_set("flag", [True]),
        # not counted in SQL: GX reads their rows
        ex.matches("code", r"^[A-Z]{2}$", "code is two capitals"),
        ex.at_least("hi", "lo"), ex.unique_key(["kind", "flag"]),
        ex.not_null("d"),
    ]


def _key(o):
    return (o.expectation, o.columns, o.description, o.severity, o.passed,
            o.unexpected_count, o.element_count)


def _keys(outcomes) -> list:
    """Outcomes comparable across paths (GX orders a whole frame's results its own way)."""
    return sorted(_key(o) for o in outcomes)


def test_counted_in_sql_equals_gx_on_the_rows(con):
    suite = Suite("t", "t", "SELECT * FROM t", _expectations)
    on_rows = suite.run(con, count_in_sql_min_rows=None)
    in_sql = suite.run(con, count_in_sql_min_rows=1)
    assert _keys(in_sql) == _keys(on_rows)
    assert sum("counted in SQL" in o.observed for o in in_sql) == 15
    failed = {(o.expectation, o.columns) for o in in_sql if not o.passed}
    # every planted violation fails on both paths
    assert failed == {
        ("expect_column_values_to_not_be_null", "key"),
        ("expect_column_values_to_not_be_null", "share"),  # NULL and NaN
        ("expect_column_values_to_be_unique", "key_dup"),
        ("expect_column_values_to_be_between", "share"),
        ("expect_column_values_to_be_between", "n"),
        ("expect_column_values_to_be_in_set", "kind"),
        ("expect_column_values_to_be_in_set", "flag"),
        ("expect_column_values_to_match_regex", "code"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "hi, lo"),
        ("expect_compound_columns_to_be_unique", "kind, flag"),
    }
    by = {(o.expectation, o.columns, o.description): o for o in in_sql}
    dup = by[("expect_column_values_to_be_unique", "key_dup", "one row per key_dup")]
    assert dup.unexpected_count == 2 and dup.examples == '["dup"]'
    assert by[("expect_column_values_to_be_between", "n", "n >= 0")].examples == "[-3]"


def test_a_parameterised_frame_is_counted_with_its_parameters(con):
    suite = Suite("t", "t", "SELECT * FROM t WHERE i < $limit", lambda: [ex.unique("key_dup")])
    (low,) = suite.run(con, {"limit": 10}, count_in_sql_min_rows=1)
    (high,) = suite.run(con, {"limit": 12}, count_in_sql_min_rows=1)
    assert low.passed and low.element_count == 10
    assert not high.passed and high.unexpected_count == 2


def test_an_empty_frame_passes_vacuously_as_in_gx(con):
    suite = Suite("t", "t", "SELECT * FROM t WHERE false", _expectations)
    assert _keys(suite.run(con, count_in_sql_min_rows=0)) == _keys(
        suite.run(con, count_in_sql_min_rows=None))


# --- marts.events, counted in SQL as at 10M events -----------------------------------


@pytest.fixture
def warehouse(demo_warehouse: Path):
    con = duckdb.connect(str(demo_warehouse))
    yield con
    con.close()


def test_planted_violations_in_marts_events_fail_when_counted_in_sql(warehouse):
    suite = MART_SUITES["events"]
    clean = suite.run(warehouse, count_in_sql_min_rows=1)
    assert all(o.passed for o in clean) and all("counted in SQL" in o.observed for o in clean)
    # a duplicate event, an unknown identity resolution, free text in data: each on a
    # different row of an old event date (outside any incremental window)
    warehouse.execute(
        "INSERT INTO marts.events SELECT * FROM marts.events "
        "WHERE event_date = (SELECT min(event_date) FROM marts.events) LIMIT 1")
    warehouse.execute(
        "UPDATE marts.events SET identity_resolution = 'guessed' WHERE event_id = "
        "(SELECT max(event_id) FROM marts.events)")
    warehouse.execute(
        """UPDATE marts.events SET data = '{"comment": "x"}' WHERE event_id = """
        "(SELECT min(event_id) FROM marts.events)")
    in_sql = suite.run(warehouse, count_in_sql_min_rows=1)
    on_rows = suite.run(warehouse, count_in_sql_min_rows=None)
    assert _keys(in_sql) == _keys(on_rows)
    assert {o.columns: o.unexpected_count for o in in_sql if not o.passed} == {
        "event_id": 2, "identity_resolution": 1, "free_text_keys": 1}


# --- personal data: one scan ---------------------------------------------------------


def _old_frame_sql(con, schema: str, table: str) -> str:
    """The frame the check used before: one full scan per text column (reference)."""
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall()
    flagged = "(lower({n}) LIKE '%email%' OR lower({n}) = 'display_name')"
    parts = []
    for name, data_type in columns:
        lit = "'" + name.replace("'", "''") + "'"
        if data_type.upper().startswith("VARCHAR") or data_type.upper() in ("TEXT", "JSON"):
            col = f'CAST("{name}" AS VARCHAR)'
            parts.append(
                f"SELECT {lit} AS column_name, {flagged.format(n=lit)} AS personal_column_name,"
                f" count(*) FILTER (WHERE {col} IN (SELECT v FROM emails)) AS email_values,"
                f" count(*) FILTER (WHERE {col} IN (SELECT v FROM names)) AS "
                f"display_name_values, count(*) FILTER (WHERE regexp_matches({col}, "
                f"'{EMAIL_REGEX}')) AS email_like_values FROM {schema}.{table}")
        else:
            parts.append(f"SELECT {lit} AS column_name, {flagged.format(n=lit)} AS "
                         "personal_column_name, 0 AS email_values, 0 AS display_name_values,"
                         " 0 AS email_like_values")
    return ("WITH emails AS (SELECT DISTINCT email AS v FROM raw.users WHERE email IS NOT "
            "NULL), names AS (SELECT DISTINCT display_name AS v FROM raw.users WHERE "
            "display_name IS NOT NULL)\n" + "\nUNION ALL\n".join(parts))


@pytest.fixture
def with_users(con):
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.users AS SELECT 'u' || i AS user_id, "
                "'person' || i || '@example.org' AS email, 'Person ' || i AS display_name "
                "FROM range(50) r(i)")
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.wide AS SELECT i, 'v' || i AS a, 'w' || i AS b, "
                "i * 1.5 AS x, '{\"k\": 1}'::JSON AS j, "
                "CASE WHEN i % 1000 = 0 THEN NULL ELSE ['x', 'y', 'z'][1 + i % 3] END AS k "
                "FROM range(20000) r(i)")
    return con


#: how the counts are taken: as configured (this table is below GROUPED_MIN_ROWS: one
#: row-by-row scan), the columns of few values per distinct value (j, k) and the others
#: row by row, every column per distinct value
GROUPINGS = ({}, {"grouped_min_rows": 0, "grouped_max_distinct": 100},
             {"grouped_min_rows": 0, "grouped_max_distinct": 10**9})


def _same_outcomes(con, table: str) -> None:
    old = con.execute(_old_frame_sql(con, "marts", table)).df()
    for grouping in GROUPINGS:
        new = personal_data_frame(con, "marts", table, **grouping)
        assert new.to_dict("records") == old.to_dict("records"), grouping
    reference = validate_frame(old, privacy_expectations(), suite="s", table="t", examples=False)
    now = validate_frame(new, privacy_expectations(), suite="s", table="t", examples=False)
    assert _keys(now) == _keys(reference)


def test_one_scan_gives_the_per_column_frame_and_outcomes(with_users):
    con = with_users
    _same_outcomes(con, "wide")
    assert grouped_columns(con, "marts", "wide", ["a", "j", "k"], min_rows=0,
                           max_distinct=100) == ["j", "k"]
    assert grouped_columns(con, "marts", "wide", ["a", "j", "k"]) == []  # 20,000 rows
    assert all(o.passed for o in validate_no_personal_data(con, "marts", "wide"))
    # planted: a user's email in the last text column, an email-shaped value and a
    # display name in another, a column named like personal data
    con.execute("UPDATE marts.wide SET j = '\"person7@example.org\"' WHERE i = 19999")
    con.execute("UPDATE marts.wide SET a = 'reach me: x.y@mail.example.com' WHERE i = 5")
    con.execute("UPDATE marts.wide SET b = 'Person 3' WHERE i = 6")
    # in a column of few values (counted per distinct value when grouped): a display
    # name on 5 rows, an email-shaped value on 2
    con.execute("UPDATE marts.wide SET k = 'Person 2' WHERE i % 4000 = 1")
    con.execute("UPDATE marts.wide SET k = 'a@b.example.net' WHERE i IN (2, 3)")
    con.execute("ALTER TABLE marts.wide ADD COLUMN Contact_Email INTEGER")
    _same_outcomes(con, "wide")
    frame = personal_data_frame(con, "marts", "wide", grouped_min_rows=0)
    k = frame.set_index("column_name").loc["k"]
    assert (k.display_name_values, k.email_like_values, k.email_values) == (5, 2, 0)
    failed = {o.columns: o for o in validate_no_personal_data(con, "marts", "wide")
              if not o.passed}
    assert set(failed) == {"personal_column_name", "email_like_values",
                           "display_name_values"}
    assert failed["email_like_values"].observed.endswith(
        "in column(s) a, b, j, k, Contact_Email")
    assert all(o.examples is None for o in failed.values())
    con.execute("UPDATE marts.wide SET b = 'person9@example.org' WHERE i = 8")
    _same_outcomes(con, "wide")
    failed = [o.columns for o in validate_no_personal_data(con, "marts", "wide")
              if not o.passed]
    assert "email_values" in failed


def test_a_table_without_text_columns_or_users_passes(con):
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.numbers AS SELECT range AS i FROM range(10)")
    con.execute("CREATE TABLE marts.empty (a VARCHAR)")
    assert all(o.passed for o in validate_no_personal_data(con, "marts", "numbers"))
    assert all(o.passed for o in validate_no_personal_data(con, "marts", "empty"))


def test_frames_are_stacked_only_when_the_stack_decides_for_each(monkeypatch):
    """``validate_frames``: one GX validation of frames that all pass; each frame alone
    when one fails (its own counts), when an expectation has ``mostly`` or when the
    frames' column types differ; the outcomes always those of each frame alone."""
    import pandas as pd

    from data_quality import engine

    calls: list[int] = []
    real = engine.gx_results
    monkeypatch.setattr(engine, "gx_results",
                        lambda frame, *a, **k: calls.append(len(frame)) or real(frame, *a, **k))

    def judged(frames, expectations):
        """validate_frames' outcomes (equal to each frame's alone) and the row counts
        of the frames it gave GX."""
        calls.clear()
        out = engine.validate_frames(frames, expectations,
                                     suites={t: f"{t}.suite" for t in frames})
        made = list(calls)
        alone = {t: validate_frame(f, expectations, suite=f"{t}.suite", table=t)
                 for t, f in frames.items()}
        assert out == alone
        return out, made

    zero = [ex.equals_zero("n", "n is zero"), ex.in_set("flag", [False])]
    a = pd.DataFrame({"n": [0, 0, 0], "flag": [False] * 3})
    b = pd.DataFrame({"n": [0], "flag": [False]})
    assert judged({"a": a, "b": b}, zero)[1] == [4]
    bad = pd.DataFrame({"n": [0, 5], "flag": [False, True]})
    out, made = judged({"a": a, "bad": bad}, zero)
    assert made == [5, 3, 2]
    assert [o.unexpected_count for o in out["bad"]] == [1, 1] and all(
        o.passed for o in out["a"])
    assert judged({"a": a, "b": b.astype({"n": "float64"})}, zero)[1] == [3, 1]
    assert judged({"a": a, "b": b}, [ex.between("n", 0, 0, mostly=0.9)])[1] == [3, 1]


def test_table_checks_record_each_check_and_a_check_that_cannot_run_fails(con):
    """run_table_checks (the mart and ml check steps' loop): each check recorded in
    order with its table's fingerprint; a check whose suite raises, and the personal-data
    check of a table that does not exist, are recorded as failed, blocking outcomes
    without a fingerprint, and the other checks still run."""
    from data_quality import store
    from data_quality.checks import PERSONAL, run_table_checks

    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.numbers AS SELECT range AS i FROM range(10)")

    def run(_con, table, check):
        if check == "broken":
            raise RuntimeError("suite failed")
        return [o for o in validate_no_personal_data(_con, "marts", table)][:1]

    checks = [("numbers", "fine"), ("numbers", "broken"), ("numbers", PERSONAL),
              ("missing", PERSONAL)]
    got = list(run_table_checks(con, "marts", checks, run, "r1"))
    assert [(t, c) for t, c, _, _ in got] == checks
    passed = {(t, c): all(o.passed for o in outcomes) for t, c, outcomes, _ in got}
    assert passed == {("numbers", "fine"): True, ("numbers", "broken"): False,
                      ("numbers", PERSONAL): True, ("missing", PERSONAL): False}
    broken = next(outcomes for t, c, outcomes, _ in got if c == "broken")
    assert broken[0].severity == "blocking" and "suite failed" in broken[0].observed
    rows = dict(((key, check), fp) for key, check, fp in con.execute(
        "SELECT asset_key, check_name, fingerprint FROM ops.data_quality "
        "WHERE run_id = 'r1'").fetchall())
    fingerprint = store.table_fingerprint(con, "marts", "numbers")
    assert rows[("marts/numbers", "fine")] == fingerprint
    assert rows[("marts/numbers", PERSONAL)] == fingerprint
    assert rows[("marts/numbers", "broken")] is None
    assert ("marts/missing", PERSONAL) in rows
