"""The pipeline's batched dbt tests (orchestration/batched_tests.py) count what dbt counts.

Every batched test of the project runs both ways, dbt's test nodes (``dbt test``) and the
pipeline's one query per model, on a copy of the demo warehouse whose marts and
intermediate tables were broken on purpose (nulls, out-of-range and unknown values,
duplicate rows, in every column of every table), and whose raw tables (which the staging
views read) got nulls and duplicate rows: the failure counts must be equal test by test,
and the breakage must make tests of every batched type fail, staging tests among them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.batched_tests import (
    BATCHED_TAG,
    SQL,
    UnbatchableTest,
    batch_sql,
    batched_tests,
    exclude_args,
    run_batched,
)
from tests.dbt_support import dbt_invoke, isolate_dbt_env, parsed_project
from warehouse.settings import load_settings


def _break(warehouse: Path) -> int:
    """Breaks every column of every marts and intermediate table on some rows (every
    column of the raw tables with nulls only: the staging views cast them), and
    duplicates two rows of each; returns the number of tables broken. The tables are
    rebuilt without their contract constraints first (DuckDB would refuse the nulls)."""
    con = duckdb.connect(str(warehouse))
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE "
            "table_type = 'BASE TABLE' AND table_schema IN ('marts', 'intermediate', 'raw') "
            "ORDER BY ALL").fetchall()
        for schema, table in tables:
            t = f'{schema}."{table}"'
            con.execute(f"CREATE OR REPLACE TABLE {t} AS SELECT * FROM {t}")
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table]).fetchall()
            for j, (column, kind) in enumerate(columns):
                c = f'"{column}"'
                con.execute(f"UPDATE {t} SET {c} = NULL WHERE (rowid + {j}) % 11 = 0")
                bad_values = [] if schema == "raw" else _bad_values(c, kind)
                for k, bad in enumerate(bad_values, start=1):
                    con.execute(f"UPDATE {t} SET {c} = {bad} WHERE (rowid + {j}) % 11 = {k}")
            con.execute(f"INSERT INTO {t} SELECT * FROM {t} ORDER BY ALL LIMIT 2")
        return len(tables)
    finally:
        con.close()


def _bad_values(column: str, kind: str) -> list[str]:
    """Values that break the tests of a column of this type, on either side of the
    usual bounds and on them (0 and 1 for rates, a bound's off-by-one)."""
    kind = kind.upper()
    if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
        return ["-0.5", "0", "1", "1.2", "7.5"]
    if kind in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"):
        return ["-3", "0", "1", "2", "1000000"]
    if kind == "VARCHAR":
        return ["'zz bogus value'", "''"]
    if kind == "DATE":
        return ["DATE '1999-01-01'", "DATE '2099-12-31'"]
    if kind.startswith("TIMESTAMP"):
        return ["TIMESTAMP '1999-01-01 00:00:00'"]
    if kind == "BOOLEAN":
        return [f"NOT {column}"]
    return []


@pytest.mark.slow
def test_batched_counts_equal_dbts_on_a_broken_warehouse(
        demo_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_dbt_env(monkeypatch, demo_warehouse)
    dbt_vars = load_settings().dbt_vars()
    assert _break(demo_warehouse) >= 40
    result = dbt_invoke(["test", "--select", f"tag:{BATCHED_TAG}",
                         "--exclude-resource-type", "unit_test"], dbt_vars, tmp_path)
    assert result.exception is None, result.exception
    dbt_counts = {r.node.unique_id: r.failures for r in result.result}
    _, target = parsed_project(dbt_vars, demo_warehouse.stem)
    tests = batched_tests(json.loads((target / "manifest.json").read_text()))
    assert {t.unique_id for t in tests} <= set(dbt_counts)
    # dbt's in-process adapter still holds the file open: read a copy of the same name
    # (dbt-duckdb names the database after the file, and the relations carry that name)
    copy = tmp_path / "copy" / demo_warehouse.name
    copy.parent.mkdir()
    shutil.copy(demo_warehouse, copy)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        outcomes = run_batched(lambda sql: con.execute(sql).fetchall(), tests)
    finally:
        con.close()
    ours = {o.test.unique_id: o.failures for o in outcomes}
    differ = {uid: (n, dbt_counts[uid]) for uid, n in ours.items() if n != dbt_counts[uid]}
    assert not differ, f"{len(differ)} tests counted differently (ours, dbt's): {differ}"
    assert not [o for o in outcomes if o.error], [o.error for o in outcomes if o.error]
    failing_types = {o.test.type for o in outcomes if o.failures}
    assert failing_types == set(SQL), set(SQL) - failing_types
    staging = [o for o in outcomes if ".stg_" in o.test.model_id]
    assert len({o.test.model_id for o in staging}) >= 8
    assert sum(1 for o in staging if o.failures) >= len(staging) * 0.5
    assert sum(1 for n in ours.values() if n) >= len(ours) * 0.6, (
        f"the breakage made only {sum(1 for n in ours.values() if n)} of {len(ours)} fail")


def test_the_projects_batched_tests_are_the_tagged_tests_of_the_batched_types() -> None:
    dbt_vars = load_settings().dbt_vars()
    manifest, target = parsed_project(dbt_vars)
    tests = batched_tests(json.loads((target / "manifest.json").read_text()))
    tagged = [n for n in manifest.nodes.values() if n.resource_type == "test"
              and BATCHED_TAG in n.tags and getattr(n, "test_metadata", None)
              and n.test_metadata.name in SQL]
    assert {t.unique_id for t in tests} == {n.unique_id for n in tagged}
    assert len(tests) >= 500  # most of the project's 666 data tests at the time of writing
    # tests on sources and seeds stay dbt nodes; the staging models' are batched
    assert all(t.model_id.startswith("model.") for t in tests)
    assert any(t.model_id.endswith(".stg_events") for t in tests)
    assert exclude_args()[0] == "--exclude" and len(exclude_args()) == 2


def _manifest(config: dict | None = None, kwargs: dict | None = None) -> dict:
    return {"nodes": {
        "model.p.m": {"resource_type": "model", "relation_name": '"w"."marts"."m"'},
        "test.p.t": {
            "resource_type": "test", "tags": [BATCHED_TAG], "attached_node": "model.p.m",
            "test_metadata": {"name": "not_null", "namespace": None,
                              "kwargs": {"column_name": "a", **(kwargs or {})}},
            "config": {"fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0",
                       "limit": None, "severity": "warn", "where": "b > 0",
                       **(config or {})}}}}


def test_a_config_or_jinja_the_batch_cannot_apply_is_an_error_not_a_lost_test() -> None:
    [t] = batched_tests(_manifest())
    assert t.severity == "warn"
    assert t.sql() == 'select a from (select * from "w"."marts"."m" where b > 0) dbt_subquery ' \
                      "where a is null"
    with pytest.raises(UnbatchableTest, match="error_if"):
        batched_tests(_manifest({"error_if": "> 10"}))
    with pytest.raises(UnbatchableTest, match="singular test"):
        batched_tests(_manifest(kwargs={"column_name": "{{ adapter.quote('a') }}"}))


def test_a_wrong_test_reports_its_error_and_its_models_other_tests_still_count() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.m AS SELECT * FROM "
                "(VALUES (1, NULL), (2, 5), (2, 6)) v(a, b)")
    manifest = _manifest(config={"where": None})
    node = manifest["nodes"]["test.p.t"]
    manifest["nodes"]["test.p.u"] = {**node, "test_metadata": {
        "name": "unique", "namespace": None, "kwargs": {"column_name": "a"}}}
    manifest["nodes"]["test.p.x"] = {**node, "test_metadata": {
        "name": "is_rate", "namespace": None, "kwargs": {"column_name": "no_such_column"}}}
    for n in manifest["nodes"].values():
        n["relation_name"] = "marts.m" if n["resource_type"] == "model" else None
    tests = batched_tests(manifest)
    outcomes = {o.test.unique_id: o for o in run_batched(
        lambda sql: con.execute(sql).fetchall(), tests)}
    assert outcomes["test.p.t"].failures == 0  # column a has no null
    assert outcomes["test.p.u"].failures == 1  # one duplicated value
    assert outcomes["test.p.x"].failures is None and "no_such_column" in outcomes[
        "test.p.x"].error
    assert "union all" in batch_sql(tests)
