"""The same marts on Apache Spark as on DuckDB (issue 22, docs/scale_out.md).

On a small generated warehouse (sample_exports, seed 5, 40 users from Monday
2025-12-29: the first 7 export days, a whole ISO week, then an 8th; ml.bkt_params fitted
as the pipeline does before each build): DuckDB builds the models as
usual; `insights export-raw` writes the raw tables as Parquet and registers them on a
Spark session (local mode, its own metastore and warehouse folder in a temporary
directory); `insights dbt --target spark -- build` builds the same models there. Every
intermediate and mart table must then equal DuckDB's row for row (a multiset: both sorted
by every column; floats to 1e-9, relative or absolute), after the full build and again
after one more export day and the incremental build on both engines (of the incremental
models and everything downstream of them: the other models' statements are those of the
full build). The dbt unit tests run on Spark too, in the full build (each before its
model, as `dbt build` orders them: their inputs' column types are read from the tables
built before them).

One module-scoped sequence (each `insights dbt --target spark` starts its own JVM, as a
user's would: the unit tests share the full build's instead of starting a fourth); data
tests are left out of the builds (on Spark they cost ~1 s each, and the DuckDB suite runs
them). Deselect with `-m "not spark"`; without Java or the spark
extra it skips locally with the reason and fails under CI=true (tests/prerequisites.py).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.landing import scan_landing
from models_ml.pipeline import fit_bkt_params
from sample_exports import generate_exports
from tests.spark_support import insights, load_days, require_spark, spark_env, spark_tables
from warehouse.db import connect
from warehouse.settings import load_settings

pytestmark = pytest.mark.spark

SCHEMAS = ("intermediate", "marts")
# models only: seeds, data tests and unit tests are not part of the compared builds
BUILD = ("build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
# Spark's full build runs the unit tests too (one JVM start fewer than a `dbt test` of its
# own); a failing unit test fails the build, and dbt's output names it
SPARK_FULL_BUILD = ("build", "--exclude-resource-type", "test")
# the incremental build, on both engines: the incremental models and everything downstream
# of them (31 of 62 models). A model downstream of none of them is a plain table or view
# whose build is the same statement as in the full build, already compared; on Spark each
# costs seconds of per-statement overhead. The comparison still covers every table.
INCREMENTAL_BUILD = (*BUILD, "--select", "config.materialized:incremental+")
FLOAT_TOLERANCE = 1e-9
FIRST_DAY = date(2025, 12, 29)  # a Monday
FULL_DAYS = 7  # export days of the full build; the incremental build adds the 8th


@dataclass
class SparkRun:
    data: Path
    env: dict[str, str]
    days: list[date]
    seconds: dict[str, float] = field(default_factory=dict)
    # ({unit test id: status} in Spark's full build, the project's unit tests)
    unit_tests: tuple[dict[str, str], set[str]] = field(default_factory=lambda: ({}, set()))

    def run(self, label: str, *args: str, engine: str = "spark") -> None:
        # a dbt target folder per engine, out of the repository: each engine's next
        # invocation parses the project partially (a switch of target parses it all)
        env = {**self.env, "DBT_TARGET_PATH": str(self.data / f"dbt_target_{engine}"),
               "DBT_LOG_PATH": str(self.data / f"dbt_logs_{engine}")}
        self.seconds[label] = insights(env, *args, cwd=self.data.parent)
        print(f"spark equality: {label}: {self.seconds[label]:.1f} s", flush=True)


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkRun]:
    """The full build on both engines (the first 4 complete export days)."""
    require_spark()
    data = tmp_path_factory.mktemp("spark_equality") / "data"
    (data / "landing").mkdir(parents=True)
    env = spark_env(data)
    t0 = time.perf_counter()
    # from a Monday: the first 7 days cover an ISO week (stickiness_distribution has rows)
    generate_exports(data / "landing", seed=5, users=40, days=9, start_date=FIRST_DAY)
    days = sorted({d.export_date for d in scan_landing(data / "landing") if d.complete})
    assert len(days) >= FULL_DAYS + 1 and days[0] == FIRST_DAY, days
    load_days(data / "warehouse.duckdb", data / "landing", days[:FULL_DAYS])
    fit_bkt(data / "warehouse.duckdb")
    state = SparkRun(data, env, days)
    state.seconds["generate_and_load"] = time.perf_counter() - t0
    state.run("duckdb_full", "dbt", "--", *BUILD, engine="duckdb")
    state.run("export_raw_full", "export-raw")
    state.run("spark_full", "dbt", "--target", "spark", "--", *SPARK_FULL_BUILD)
    state.unit_tests = unit_test_outcomes(data / "dbt_target_spark")
    yield state
    print("spark equality timings (s): " + json.dumps(
        {k: round(v, 1) for k, v in state.seconds.items()}), flush=True)


@pytest.fixture(scope="module")
def incremental_run(spark_run: SparkRun) -> SparkRun:
    """One more export day loaded, exported and built incrementally on both engines."""
    state = spark_run
    load_days(state.data / "warehouse.duckdb", state.data / "landing",
              state.days[FULL_DAYS:FULL_DAYS + 1])
    fit_bkt(state.data / "warehouse.duckdb")
    state.run("duckdb_incremental", "dbt", "--", *INCREMENTAL_BUILD, engine="duckdb")
    state.run("export_raw_incremental", "export-raw")
    state.run("spark_incremental", "dbt", "--target", "spark", "--", *INCREMENTAL_BUILD)
    return state


def test_full_build_equals_duckdb(spark_run: SparkRun):
    assert_spark_equals_duckdb(spark_run)
    # the session method runs one statement at a time (profiles.yml: concurrent statements
    # over py4j once planned a CREATE TABLE AS without its session)
    log = (spark_run.data / "dbt_logs_spark" / "dbt.log").read_text()
    threads = re.findall(r"Concurrency: (\d+) threads \(target='spark'\)", log)
    assert threads and set(threads) == {"1"}, threads


def test_dbt_unit_tests_pass_on_spark(spark_run: SparkRun):
    # every unit test of the project ran in Spark's full build, and passed
    ran, defined = spark_run.unit_tests
    assert len(defined) > 50, len(defined)
    assert set(ran) == defined, sorted(set(ran) ^ defined)
    failed = {k: v for k, v in ran.items() if v != "pass"}
    assert not failed, failed


def unit_test_outcomes(target: Path) -> tuple[dict[str, str], set[str]]:
    """({unit test id: status} of the last invocation, every unit test of the project),
    read from dbt's artifacts in ``target`` before the next invocation replaces them."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    ran = {r["unique_id"]: r["status"] for r in results
           if r["unique_id"].startswith("unit_test.")}
    return ran, set(manifest.get("unit_tests", {}))


def test_incremental_build_equals_duckdb(incremental_run: SparkRun):
    with duckdb.connect(str(incremental_run.data / "warehouse.duckdb"), read_only=True) as con:
        dates = con.execute("SELECT count(DISTINCT export_date) FROM marts.events").fetchone()
    assert dates == (FULL_DAYS + 1,)
    assert_spark_equals_duckdb(incremental_run)
    # the replace_date_range strategy writes each batch into a table of its own once
    # (macros/incremental_window.sql) and drops it when the model is done
    left = [k for k in spark_tables(incremental_run.data / "spark", SCHEMAS)
            if k.endswith("__dbt_batch")]
    assert left == [], left


def fit_bkt(warehouse: Path) -> None:
    """ml.bkt_params as the pipeline's dbt step writes it before each build (fitted from
    the raw events), with a threshold the small data reaches: int_bkt_params and
    topic_mastery then read fitted parameters on both engines."""
    settings = load_settings()
    con = connect(warehouse)
    try:
        summary = fit_bkt_params(con, settings.ml.model_copy(update={"bkt_min_attempts": 5}),
                                 settings.metrics.bkt_defaults())
    finally:
        con.close()
    print(f"spark equality: ml.bkt_params fitted: {summary}", flush=True)


# -- comparison -------------------------------------------------------------------------


def assert_spark_equals_duckdb(state: SparkRun) -> None:
    t0 = time.perf_counter()
    folders = spark_tables(state.data / "spark", SCHEMAS)
    con = duckdb.connect(str(state.data / "warehouse.duckdb"), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema IN ('intermediate', 'marts') "
            "ORDER BY 1, 2").fetchall()
        assert len(tables) > 30, tables
        missing = [f"{s}.{t}" for s, t in tables if f"{s}.{t}" not in folders]
        assert not missing, f"built on DuckDB, not on Spark: {missing}"
        differences, rows = [], {}
        for schema, table in tables:
            key = f"{schema}.{table}"
            diff, rows[key] = compare_table(con, schema, table, folders[key])
            if diff:
                differences.append(f"{key}: {diff}")
    finally:
        con.close()
    print(f"spark equality: {len(tables)} tables compared in "
          f"{time.perf_counter() - t0:.1f} s; rows: {json.dumps(rows)}", flush=True)
    assert not differences, "Spark differs from DuckDB:\n" + "\n".join(differences)
    empty = [k for k, n in rows.items() if n == 0]
    # the generated warehouse must exercise the models: (nearly) every table has rows
    assert not empty, f"tables without rows on the test data: {empty}"


def compare_table(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                  folder: Path) -> tuple[str | None, int]:
    """(None or what differs, DuckDB's row count) between DuckDB's table and the Parquet
    files of Spark's, read back with DuckDB (Hive partition folders included)."""
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall()
    names = [c for c, _ in columns]
    types = dict(columns)
    files = [p for p in folder.rglob("*.parquet") if not p.name.startswith((".", "_"))]
    duck_rows = con.execute(
        f"SELECT {_select(names, types)} FROM {_q(schema)}.{_q(table)}").fetchall()
    if not files:
        spark_rows: list[tuple] = []
    else:
        source = (f"read_parquet({_lit(str(folder) + '/**/*.parquet')}, "
                  "hive_partitioning = true, union_by_name = true)")
        try:
            spark_rows = con.execute(f"SELECT {_select(names, types)} FROM {source}").fetchall()
        except duckdb.Error as exc:
            return f"cannot read Spark's table: {exc}", len(duck_rows)
    a = sorted((_normalize(r) for r in duck_rows), key=_sort_key)
    b = sorted((_normalize(r) for r in spark_rows), key=_sort_key)
    if len(a) != len(b):
        only_a = _multiset_minus(a, b)[:3]
        only_b = _multiset_minus(b, a)[:3]
        return (f"{len(a)} rows on DuckDB, {len(b)} on Spark; DuckDB only: {only_a}; "
                f"Spark only: {only_b}"), len(duck_rows)
    bad = [(x, y) for x, y in zip(a, b, strict=True) if not _rows_equal(x, y)]
    if bad:
        return (f"{len(bad)} of {len(a)} rows differ ({names}); first: DuckDB {bad[0][0]} "
                f"vs Spark {bad[0][1]}"), len(duck_rows)
    return None, len(duck_rows)


def _select(names: list[str], types: dict[str, str]) -> str:
    """DuckDB's columns by name, JSON as its text (Spark keeps JSON in a STRING)."""
    return ", ".join(f"CAST({_q(c)} AS VARCHAR)" if types[c] == "JSON" else _q(c)
                     for c in names)


def _normalize(row: tuple) -> tuple:
    """Decimals as floats, lists as tuples; JSON stays text (the published string must be
    the same)."""
    return tuple(float(v) if isinstance(v, Decimal) else tuple(v) if isinstance(v, list)
                 else v for v in row)


def _sort_key(row: tuple) -> tuple:
    key = []
    for v in row:
        if v is None:
            key.append((0, ""))
        elif isinstance(v, (bool, int, float)):
            # floats rounded for the order only: equal within 1e-9 sort together
            key.append((1, round(float(v), 6)))
        else:
            key.append((2, str(v)))
    return tuple(key)


def _values_equal(x: object, y: object) -> bool:
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) \
            and not isinstance(x, bool) and not isinstance(y, bool):
        if isinstance(x, float) or isinstance(y, float):
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            return math.isclose(x, y, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
        return x == y
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_values_equal(a, b) for a, b in zip(x, y, strict=True))
    return x == y


def _rows_equal(x: tuple, y: tuple) -> bool:
    return len(x) == len(y) and all(_values_equal(a, b) for a, b in zip(x, y, strict=True))


def _multiset_minus(a: list[tuple], b: list[tuple]) -> list[tuple]:
    left = list(b)
    out = []
    for row in a:
        for j, other in enumerate(left):
            if _rows_equal(row, other):
                del left[j]
                break
        else:
            out.append(row)
    return out


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
