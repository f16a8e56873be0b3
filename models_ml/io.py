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
#: the comparison with the baseline on the same split (docs/metrics.md, "model_registry");
#: added to an older registry by ``ensure_schema``
REGISTRY_COMPARISON = {
    "as_of_date": "date", "cache_key": "varchar", "split_date": "date",
    "baseline_name": "varchar", "metric_name": "varchar", "metric_value": "double",
    "baseline_value": "double", "gain": "double", "gain_low": "double", "gain_high": "double",
    "lift_at_10": "double", "brier": "double", "reliability": "json", "decision": "varchar",
}
ARTIFACTS_DDL = f"""
create table if not exists {SCHEMA}.model_artifacts (
    model_name varchar, model_version varchar, trained_at timestamp, artifact blob
)"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(REGISTRY_DDL)
    for column, kind in REGISTRY_COMPARISON.items():
        con.execute(f"alter table {SCHEMA}.model_registry add column if not exists {column} {kind}")
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
                   artifact: Any = None, comparison: dict[str, Any] | None = None) -> None:
    """One registry row (replacing the same version); ``comparison`` fills the columns of
    REGISTRY_COMPARISON (the JSON one from any value, the others as they are)."""
    ensure_schema(con)
    con.execute(f"delete from {SCHEMA}.model_registry where model_version = ?", [version])
    extra = {k: v for k, v in (comparison or {}).items() if k in REGISTRY_COMPARISON}
    if "reliability" in extra:
        extra["reliability"] = dumps(extra["reliability"])
    extra = {k: clean_json(v) if not isinstance(v, date | str) else v for k, v in extra.items()}
    columns = ["model_name", "model_version", "trained_at", "train_rows", "metrics",
               "baseline_metrics", "params", "beats_baseline", "published", "data_start",
               "data_end", *extra]
    con.execute(
        f"insert into {SCHEMA}.model_registry ({', '.join(columns)}) "
        f"values ({', '.join('?' * len(columns))})",
        [name, version, trained_at, int(train_rows), dumps(metrics), dumps(baseline_metrics),
         dumps(params), beats_baseline, published, data_start, data_end, *extra.values()],
    )
    if artifact is not None:
        con.execute(f"delete from {SCHEMA}.model_artifacts where model_version = ?", [version])
        con.execute(f"insert into {SCHEMA}.model_artifacts values (?, ?, ?, ?)",
                    [name, version, trained_at, pickle.dumps(artifact)])


def artifact_for(con: duckdb.DuckDBPyConnection, name: str, *, as_of: date,
                 cache_key: str | None = None,
                 max_age_days: int | None = None) -> tuple[str, Any] | None:
    """The newest published artifact of ``name`` trained for this data: with ``cache_key``
    the one of exactly that key; else one trained at an as-of date on or before ``as_of``
    (never a model that saw later data) and at most ``max_age_days`` before it."""
    if not (table_exists(con, SCHEMA, "model_artifacts")
            and table_exists(con, SCHEMA, "model_registry")):
        return None
    ensure_schema(con)
    where, params = ["r.model_name = ?", "r.published", "r.as_of_date <= ?"], [name, as_of]
    if cache_key is not None:
        where.append("r.cache_key = ?")
        params.append(cache_key)
    if max_age_days is not None:
        where.append("r.as_of_date > ?::date - ?::integer")
        params += [as_of, int(max_age_days)]
    row = first_row(
        con, f"select a.model_version, a.artifact from {SCHEMA}.model_artifacts as a "
        f"join {SCHEMA}.model_registry as r using (model_version) where {' and '.join(where)} "
        "order by r.as_of_date desc, a.trained_at desc, a.model_version desc limit 1", params)
    return None if row is None else (row[0], pickle.loads(row[1]))


def cache_key(name: str, params: dict[str, Any], window: dict[str, Any]) -> str:
    """A model's identity without its training time: name, parameters and data window."""
    return f"{name}-" + hashlib.sha256(
        dumps({"params": params, "window": window}).encode()).hexdigest()[:16]


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
