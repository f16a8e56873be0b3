"""Raw tables for another engine (``insights export-raw``, docs/scale_out.md): every raw
and ``ml`` table the dbt models read, as Parquet partitioned by export date, for Spark
(dbt run-operation ``register_raw_tables``) or any engine that reads Hive-style folders.

Layout: ``<out>/<schema>/<table>/export_date=YYYY-MM-DD/part-0.parquet``; a table
without ``export_date`` (``ml.bkt_params``) is one file, ``<out>/<schema>/<table>/part-0.parquet``.
The partition column lives in the folder name only (Hive convention). Timestamps are
written as DuckDB stores them, TIMESTAMP without time zone holding UTC, which Parquet
marks ``isAdjustedToUTC = false`` and Spark reads as ``timestamp_ntz``.

Incremental: ``<out>/_manifest.json`` keeps a fingerprint (row count and the sum of the
row hashes) per table and partition; a later export writes only the partitions whose
fingerprint changed, and removes those that no longer exist. Each partition is written
into a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from serving.publish import FILE_MODE

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
PARTITION_COLUMN = "export_date"
# the ml tables the models read (dbt_project/models/sources/_ml_sources.yml)
ML_TABLES: tuple[str, ...] = ("bkt_params",)
WHOLE = "__whole__"  # the manifest key of a table without partitions


@dataclass(frozen=True)
class RawExport:
    """What an export wrote: per ``schema.table`` the partitions written and removed."""

    folder: Path
    written: Mapping[str, tuple[str, ...]]
    removed: Mapping[str, tuple[str, ...]]
    unchanged: int

    @property
    def partitions_written(self) -> int:
        return sum(len(v) for v in self.written.values())


def source_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The base tables of schema ``raw`` and the ``ml`` tables the models read that exist."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND (table_schema = 'raw' OR "
        f"(table_schema = 'ml' AND table_name IN ({', '.join('?' for _ in ML_TABLES)}))) "
        "ORDER BY table_schema, table_name", list(ML_TABLES)).fetchall()
    return [(s, t) for s, t in rows]


def fingerprints(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 partitioned: bool) -> dict[str, str]:
    """Per partition (ISO export date, or :data:`WHOLE`): ``<rows>:<sum of row hashes>``."""
    name = f"{_q(schema)}.{_q(table)}"
    if partitioned:
        rows = con.execute(
            f"SELECT CAST({PARTITION_COLUMN} AS VARCHAR), count(*), "
            f"CAST(sum(hash(t)) AS VARCHAR) FROM {name} AS t GROUP BY 1").fetchall()
    else:
        rows = con.execute(
            f"SELECT '{WHOLE}', count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) "
            f"FROM {name} AS t").fetchall()
    return {str(key): f"{n}:{h}" for key, n, h in rows}


def changed_partitions(before: Mapping[str, str], now: Mapping[str, str]
                       ) -> tuple[list[str], list[str]]:
    """Pure: (partitions to write: new or changed, partitions to remove: gone)."""
    write = sorted(k for k, v in now.items() if before.get(k) != v)
    remove = sorted(k for k in before if k not in now)
    return write, remove


def export_raw(con: duckdb.DuckDBPyConnection, folder: Path, *,
               full: bool = False) -> RawExport:
    """Write the changed partitions of every source table into ``folder`` (all of them
    with ``full``, or when there is no manifest yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest: dict[str, dict[str, str]] = {}
    if manifest_path.is_file() and not full:
        manifest = json.loads(manifest_path.read_text())
    written: dict[str, tuple[str, ...]] = {}
    removed: dict[str, tuple[str, ...]] = {}
    unchanged = 0
    new_manifest: dict[str, dict[str, str]] = {}
    for schema, table in source_tables(con):
        key = f"{schema}.{table}"
        partitioned = PARTITION_COLUMN in _columns(con, schema, table)
        now = fingerprints(con, schema, table, partitioned)
        write, remove = changed_partitions(manifest.get(key, {}), now)
        table_dir = folder / schema / table
        if full and table_dir.exists():
            shutil.rmtree(table_dir)
        for part in write:
            _write_partition(con, schema, table, table_dir, part)
        for part in remove:
            shutil.rmtree(_partition_dir(table_dir, part), ignore_errors=True)
        written[key], removed[key] = tuple(write), tuple(remove)
        unchanged += len(now) - len(write)
        new_manifest[key] = now
        log.info("export-raw %s: %d partitions written, %d removed, %d unchanged",
                 key, len(write), len(remove), len(now) - len(write))
    tmp = manifest_path.with_name(f".{MANIFEST}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(new_manifest, indent=1, sort_keys=True))
    os.replace(tmp, manifest_path)
    return RawExport(folder, written, removed, unchanged)


def _partition_dir(table_dir: Path, part: str) -> Path:
    return table_dir if part == WHOLE else table_dir / f"{PARTITION_COLUMN}={part}"


def _write_partition(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                     table_dir: Path, part: str) -> None:
    name = f"{_q(schema)}.{_q(table)}"
    if part == WHOLE:
        select = f"SELECT * FROM {name}"
    else:
        select = (f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {name} "
                  f"WHERE {PARTITION_COLUMN} = DATE '{part}'")
    target = _partition_dir(table_dir, part)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir(parents=True)
    try:
        file = tmp / "part-0.parquet"
        con.execute(f"COPY ({select}) TO {_lit(str(file))} "
                    "(FORMAT parquet, COMPRESSION zstd)").fetchall()
        os.chmod(file, FILE_MODE)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall()}


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
