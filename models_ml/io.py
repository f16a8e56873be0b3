"""The thin IO layer: aggregated frames out of the warehouse, ``ml`` tables back in.

Reads are set-based SQL over marts, intermediate and staging relations; writes replace a
whole ``ml`` table from a DataFrame in one statement (DuckDB's replacement scan).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd

from warehouse.db import table_exists

SCHEMA = "ml"

REGISTRY_DDL = f"""
create table if not exists {SCHEMA}.model_registry (
    model_name varchar, model_version varchar, trained_at timestamp, train_rows bigint,
    metrics json, baseline_metrics json, params json, beats_baseline boolean,
    published boolean, data_start date, data_end date
)"""
ARTIFACTS_DDL = f"""
create table if not exists {SCHEMA}.model_artifacts (
    model_name varchar, model_version varchar, trained_at timestamp, artifact blob
)"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(REGISTRY_DDL)
    con.execute(ARTIFACTS_DDL)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
                  comment: str | None = None) -> int:
    """Replace ``ml.<table>`` with ``frame`` (columns and types as in the frame)."""
    ensure_schema(con)
    con.register("_ml_frame", frame)
    try:
        con.execute(f"create or replace table {SCHEMA}.{table} as select * from _ml_frame")
    finally:
        con.unregister("_ml_frame")
    if comment:
        con.execute(f"comment on table {SCHEMA}.{table} is '{comment.replace(chr(39), '')}'")
    return len(frame)


def first_row(con: duckdb.DuckDBPyConnection, sql: str,
              params: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of a query (the result fully consumed), or None."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def clean_json(obj: Any) -> Any:
    """JSON-safe values: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(clean_json(obj), sort_keys=True)


def model_version(name: str, trained_at: datetime, params: dict[str, Any],
                  window: dict[str, Any]) -> str:
    """``<model>-<trained_at date>-<hash of params and data window>``."""
    digest = hashlib.sha256(dumps({"params": params, "window": window}).encode()).hexdigest()
    return f"{name}-{trained_at:%Y%m%d}-{digest[:8]}"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def register_model(con: duckdb.DuckDBPyConnection, *, name: str, version: str,
                   trained_at: datetime, train_rows: int, metrics: dict, baseline_metrics: dict,
                   params: dict, beats_baseline: bool | None, published: bool,
                   data_start: date | None, data_end: date | None,
                   artifact: Any = None) -> None:
    ensure_schema(con)
    con.execute(f"delete from {SCHEMA}.model_registry where model_version = ?", [version])
    con.execute(
        f"insert into {SCHEMA}.model_registry values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, version, trained_at, int(train_rows), dumps(metrics), dumps(baseline_metrics),
         dumps(params), beats_baseline, published, data_start, data_end],
    )
    if artifact is not None:
        con.execute(f"delete from {SCHEMA}.model_artifacts where model_version = ?", [version])
        con.execute(f"insert into {SCHEMA}.model_artifacts values (?, ?, ?, ?)",
                    [name, version, trained_at, pickle.dumps(artifact)])


def latest_artifact(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, Any] | None:
    """The newest stored artifact of ``name``: (version, object), or None."""
    if not table_exists(con, SCHEMA, "model_artifacts"):
        return None
    row = first_row(
        con, f"select model_version, artifact from {SCHEMA}.model_artifacts "
        "where model_name = ? order by trained_at desc, model_version desc limit 1", [name])
    return None if row is None else (row[0], pickle.loads(row[1]))


def latest_trained_at(con: duckdb.DuckDBPyConnection, name: str) -> datetime | None:
    if not table_exists(con, SCHEMA, "model_artifacts"):
        return None
    row = first_row(con, f"select max(trained_at) from {SCHEMA}.model_artifacts "
                    "where model_name = ?", [name])
    return row[0] if row else None


def data_window(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """(first activity date, as-of date of the marts)."""
    as_of = first_row(con, "select max(as_of_date) from intermediate.int_as_of_date")[0]
    first = first_row(
        con, "select min(activity_date) from intermediate.int_user_activity_days")[0]
    if as_of is None or first is None:
        raise ValueError("the marts hold no activity yet: build them first")
    return first, as_of


def as_date(x: Any) -> date:
    return pd.Timestamp(x).date()


def features_at(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """Rows of ml.user_features (all snapshots, or those of one as-of date)."""
    where = "" if as_of is None else f"where as_of_date = date '{as_of.isoformat()}'"
    f = con.execute(f"select * from {SCHEMA}.user_features {where}").df()
    f["as_of_date"] = pd.to_datetime(f["as_of_date"])
    return f


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """A frame with no rows and typed columns (so an empty ml table still has its schema)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
