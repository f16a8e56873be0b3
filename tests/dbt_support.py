"""Shared plumbing of the dbt tests: an isolated warehouse and an in-process dbt build."""

from __future__ import annotations

import json
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


def dbt_build(
    tmp: Path,
    dbt_vars: Mapping[str, Any],
    select: Iterable[str] = (),
    *,
    expect_kinds: Iterable[str] = ("model", "test", "unit_test"),
    extra: Iterable[str] = (),
) -> list:
    """``dbt build`` in this process; asserts every node succeeded. With ``select``, only
    the tests whose parents are all selected run (``--indirect-selection cautious``)."""
    from dbt.cli.main import dbtRunner

    select = list(select)
    args = [
        "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(tmp / "dbt_target"),
        "--log-path", str(tmp / "dbt_logs"),
        "--vars", json.dumps(dict(dbt_vars)),
        "--quiet",
        *extra,
    ]
    if select:
        args += ["--select", *select, "--indirect-selection", "cautious"]
    result = dbtRunner().invoke(args)
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
