"""Shared plumbing of the dbt tests: an isolated warehouse and an in-process dbt build.

The project is parsed once per test process for each set of vars and warehouse name
(``parsed_project``) and every in-process dbt command reuses that manifest
(``dbtRunner(manifest=...)``): a parse costs about 6 s, and each hand-made dbt test used
to pay it again with a fresh target path. dbt unit tests run once, in
tests/test_dbt_unit_tests.py; ``dbt_build`` leaves them out."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.schema import all_ddl

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def isolate_dbt_env(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> None:
    """Point dbt's profile at ``warehouse``, with DuckDB's defaults and no telemetry."""
    monkeypatch.setenv("INSIGHTS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("INSIGHTS_DBT_THREADS", "4")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    for name in ("INSIGHTS_DUCKDB_MEMORY_LIMIT", "INSIGHTS_DUCKDB_THREADS",
                 "INSIGHTS_DUCKDB_TEMP_DIR"):
        monkeypatch.delenv(name, raising=False)


_PARSED: dict[tuple[str, str], tuple[Any, Path]] = {}


def _vars_json(dbt_vars: Mapping[str, Any]) -> str:
    return json.dumps(dict(dbt_vars), sort_keys=True, default=str)


def parsed_project(dbt_vars: Mapping[str, Any], warehouse_name: str = "warehouse") -> tuple[
        Any, Path]:
    """(the parsed dbt manifest, its target folder), parsed once per process for these vars
    and a warehouse file named ``<warehouse_name>.duckdb`` (dbt-duckdb names the database
    after the file, and the manifest's relations carry that name). Vars are part of the
    key: dbt renders configs at parse time. The target folder also holds manifest.json and
    semantic_manifest.json."""
    from dbt.cli.main import dbtRunner

    key = (_vars_json(dbt_vars), warehouse_name)
    if key not in _PARSED:
        root = Path(tempfile.mkdtemp(prefix="dbt_parsed_"))
        atexit.register(shutil.rmtree, root, True)
        before = os.environ.get("INSIGHTS_WAREHOUSE")
        os.environ["INSIGHTS_WAREHOUSE"] = str(root / f"{warehouse_name}.duckdb")
        try:
            result = dbtRunner().invoke([
                "parse", "--project-dir", str(DBT_PROJECT_DIR),
                "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target-path", str(root / "target"), "--log-path", str(root / "logs"),
                "--vars", key[0], "--quiet"])
        finally:
            if before is None:
                del os.environ["INSIGHTS_WAREHOUSE"]
            else:
                os.environ["INSIGHTS_WAREHOUSE"] = before
        assert result.exception is None and result.success, result.exception
        _PARSED[key] = (result.result, root / "target")
    return _PARSED[key]


def dbt_invoke(args: list[str], dbt_vars: Mapping[str, Any], tmp: Path) -> Any:
    """A dbt command in this process on the project parsed once (``parsed_project``), for
    the warehouse INSIGHTS_WAREHOUSE points at; target and logs under ``tmp``."""
    from dbt.cli.main import dbtRunner

    warehouse = Path(os.environ.get("INSIGHTS_WAREHOUSE", "warehouse.duckdb"))
    manifest, _ = parsed_project(dbt_vars, warehouse.stem)
    return dbtRunner(manifest=manifest).invoke([
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(tmp / "dbt_target"),
        "--log-path", str(tmp / "dbt_logs"),
        "--vars", _vars_json(dbt_vars),
        "--quiet",
    ])


def compiled_sql(model: str, dbt_vars: Mapping[str, Any], tmp: Path) -> str:
    """The SQL dbt compiles for ``model`` (relations named for INSIGHTS_WAREHOUSE)."""
    result = dbt_invoke(["compile", "--select", model], dbt_vars, tmp)
    assert result.exception is None and result.success, result.exception
    return result.result.results[0].node.compiled_code


def dbt_build(
    tmp: Path,
    dbt_vars: Mapping[str, Any],
    select: Iterable[str] = (),
    *,
    expect_kinds: Iterable[str] = ("model", "test"),
    extra: Iterable[str] = (),
) -> list:
    """``dbt build`` in this process, without the unit tests (tests/test_dbt_unit_tests.py
    runs each once); asserts every node succeeded. With ``select``, only the tests whose
    parents are all selected run (``--indirect-selection cautious``)."""
    select = list(select)
    args = ["build", "--exclude-resource-type", "unit_test", *extra]
    if select:
        args += ["--select", *select, "--indirect-selection", "cautious"]
    result = dbt_invoke(args, dbt_vars, tmp)
    assert result.exception is None, result.exception
    nodes = list(result.result or [])
    failed = [(r.node.unique_id, str(r.status), r.message) for r in nodes
              if str(r.status) not in ("success", "pass")]
    assert result.success and not failed, failed
    kinds = {str(r.node.resource_type) for r in nodes}
    assert set(expect_kinds) <= kinds, kinds
    return nodes


def raw_warehouse(
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    fill: Callable[[duckdb.DuckDBPyConnection], None],
) -> Path:
    """A warehouse at ``path`` with the raw schema, filled by ``fill``, for dbt to build."""
    isolate_dbt_env(monkeypatch, path)
    con = duckdb.connect(str(path))
    try:
        for ddl in all_ddl():
            con.execute(ddl)
        fill(con)
    finally:
        con.close()
    return path
