"""The semantic layer for BI tools without MetricFlow: the serving database gets schema
``semantic`` with

- ``semantic.metrics``: one row per metric (name, label, description, type, formula,
  semantic models, measures, dimensions, the SQL of its view);
- one view per metric, ``semantic.<metric>``: the metric by metric_time__day (and by
  creator, and the dimensions the metric is defined over), the SQL MetricFlow
  generates, so a SQL client reads the same numbers as `insights metrics query`;
- ``semantic.manifest``: the semantic manifest it was published with (what
  `insights metrics --serving` answers from);
- ``semantic.metricflow_time_spine``: MetricFlow's time spine.

The orchestration stores the manifest in the warehouse (:func:`store_manifest`) before the
publish; :func:`publish_catalogue` is the publish's hook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import duckdb

from serving.metrics import CREATOR, MetricInfo, MetricsError, catalogue, compile_sql

log = logging.getLogger(__name__)

SCHEMA = "semantic"
MANIFEST_TABLE = f"{SCHEMA}.manifest"
TIME_SPINE = "metricflow_time_spine"

CATALOGUE_DDL = """
CREATE TABLE {table} (
    name VARCHAR NOT NULL,
    label VARCHAR,
    description VARCHAR,
    type VARCHAR NOT NULL,
    formula VARCHAR,
    semantic_models VARCHAR,
    measures VARCHAR,
    dimensions VARCHAR,
    view_name VARCHAR,
    view_group_by VARCHAR,
    view_sql VARCHAR
)
"""


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def store_manifest(con: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any]) -> None:
    """Keep the semantic manifest in the warehouse (``semantic.manifest``) for the publish."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE OR REPLACE TABLE {MANIFEST_TABLE} (manifest_json VARCHAR NOT NULL)")
    con.execute(f"INSERT INTO {MANIFEST_TABLE} VALUES (?)", [json.dumps(manifest)])


def read_published_manifest(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The manifest stored in the database behind ``con``, or None."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = 'manifest'", [SCHEMA]).fetchall()[0][0]
    if not found:
        return None
    rows = con.execute(f"SELECT manifest_json FROM {MANIFEST_TABLE}").fetchall()
    return json.loads(rows[0][0]) if rows else None


def view_group_by(info: MetricInfo) -> list[str]:
    """What a metric's view groups by: the day, the creator when the metric has one, and
    the dimensions the metric is defined over."""
    out = ["metric_time__day"]
    if CREATOR in info.dimensions:
        out.append(CREATOR)
    return out + [g for g in info.default_group_by if g not in out]


def publish_catalogue(con: duckdb.DuckDBPyConnection, alias: str) -> int:
    """Write schema ``semantic`` into the database attached as ``alias`` from the manifest
    stored in the warehouse behind ``con``; the number of metric views (0 when no
    manifest was stored)."""
    manifest = read_published_manifest(con)
    if manifest is None:
        log.info("no semantic manifest in the warehouse: no metrics catalogue published")
        return 0
    target = f"{alias}.{_q(SCHEMA)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
    con.execute(f"CREATE TABLE {target}.manifest AS SELECT * FROM {MANIFEST_TABLE}")
    has_spine = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?", [SCHEMA, TIME_SPINE]).fetchall()[0][0]
    if has_spine:
        con.execute(f"CREATE TABLE {target}.{TIME_SPINE} AS "
                    f"SELECT * FROM {SCHEMA}.{TIME_SPINE}")
    con.execute(CATALOGUE_DDL.format(table=f"{target}.metrics"))
    views = 0
    for info in catalogue(manifest):
        group_by = view_group_by(info)
        try:
            sql = compile_sql(manifest, [info.name], group_by)
        except MetricsError as exc:
            log.warning("no view for metric %s: %s", info.name, exc)
            sql = None
        if sql is not None:
            con.execute(f"CREATE VIEW {target}.{_q(info.name)} AS {sql}")
            con.execute(f"COMMENT ON VIEW {target}.{_q(info.name)} IS "
                        f"{_lit(f'{info.label}: {info.description}')}")
            views += 1
        con.execute(
            f"INSERT INTO {target}.metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [info.name, info.label, info.description, info.type, info.formula,
             ", ".join(info.semantic_models), ", ".join(info.measures),
             ", ".join(info.dimensions), f"{SCHEMA}.{info.name}" if sql else None,
             ", ".join(group_by), sql])
    con.execute(f"COMMENT ON TABLE {target}.metrics IS "
                f"{_lit('The semantic layer metrics: one row per metric (docs/metrics.md).')}")
    log.info("published the metrics catalogue: %d metrics views", views)
    return views
