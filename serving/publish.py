"""Copy the published schemas of the warehouse into a new DuckDB file and swap it in.

The copy is written beside the target under a temporary name, checkpointed, given
restrictive permissions and then renamed over the target (``os.replace``): readers
that hold the old file open keep reading the old version; new connections see the new
one; nobody ever sees a half-written database. Table and column descriptions are
carried over as DuckDB comments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from serving.dashboard_tables import publish_dashboard_tables
from serving.metrics_catalogue import publish_catalogue
from warehouse.failpoints import failpoint

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS: tuple[str, ...] = ("marts", "ml")
# operational tables and views published beside them: data quality, the reports index and
# the alerts (what the reports and BI tools show about the run)
PUBLISHED_OPS: tuple[str, ...] = ("data_quality_checks", "data_quality_latest", "reports",
                                  "alerts")
# schemas also exported as one Parquet file per table (for tools that read files)
PARQUET_SCHEMAS: tuple[str, ...] = ("marts",)
# tables exported as a folder of Parquet files in hive partitions of a column instead
# (``<dir>/<schema>/<table>/<column>=<value>/*.parquet``): the big event table, so a
# reader of a few days opens a few files
PARQUET_PARTITIONS: dict[str, str] = {"marts.events": "event_date"}
# rows a thread buffers across the partitions before it writes them (DuckDB setting
# partitioned_write_flush_threshold, default 524,288): with the default the 60 days of
# a 10M-event sample were held whole (6.4 GB); 16,384 wrote the same files at 1.3 GB,
# as fast, 0.5 % larger (bench/README.md, "Building in batches of users, and the
# partitioned events export")
PARTITION_FLUSH_ROWS = 16_384
FILE_MODE = 0o640
DIR_MODE = 0o750

PUBLISH_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ops.publishes (
    published_at TIMESTAMP NOT NULL,   -- UTC
    run_id VARCHAR,
    target VARCHAR NOT NULL,
    tables BIGINT NOT NULL,
    total_rows BIGINT NOT NULL,
    seconds DOUBLE NOT NULL
)
"""


@dataclass
class PublishResult:
    target: Path
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows
    seconds: float = 0.0
    parquet: list[Path] = field(default_factory=list)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _relations(
    con: duckdb.DuckDBPyConnection, schemas: Sequence[str], ops: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """(schema, name, comment) of every table/view to publish, in a stable order."""
    rows = con.execute(
        """
        SELECT schema_name, table_name, comment FROM duckdb_tables()
        WHERE database_name = current_database()
          AND ((schema_name IN (SELECT unnest($schemas)))
               OR (schema_name = 'ops' AND table_name IN (SELECT unnest($ops))))
        UNION ALL
        SELECT schema_name, view_name, comment FROM duckdb_views()
        WHERE database_name = current_database() AND NOT internal
          AND ((schema_name IN (SELECT unnest($schemas)))
               OR (schema_name = 'ops' AND view_name IN (SELECT unnest($ops))))
        ORDER BY 1, 2
        """,
        {"schemas": list(schemas), "ops": list(ops)},
    ).fetchall()
    return [(s, t, c) for s, t, c in rows]


def _column_comments(
    con: duckdb.DuckDBPyConnection,
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table or view) -> its columns' comments, in column order."""
    comments: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, column, comment in con.execute(
        "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND comment IS NOT NULL "
        "ORDER BY schema_name, table_name, column_index"
    ).fetchall():
        comments.setdefault((schema, name), []).append((column, comment))
    return comments


_TOKEN = re.compile(r"\.(\d+)-[0-9a-f]{32}\.")


def _token() -> str:
    """The part of a temporary name that makes it unique and names its writer's process:
    leftovers are removed only once that process is gone (two publishes to one folder at
    once, e.g. two warehouses configured with one serving file, must not remove each
    other's file half-way)."""
    return f"{os.getpid()}-{uuid.uuid4().hex}"


def _left_over(path: Path) -> bool:
    """Whether a temporary file or folder is left over: its writer's process is gone (or
    its name carries no process)."""
    m = _TOKEN.search(path.name)
    if m is None:
        return True
    try:
        os.kill(int(m.group(1)), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        pass  # alive, another user's; or not a process id we can ask about
    return False


def _remove_leftovers(target: Path) -> None:
    """Temporary files of publishes that were killed half-way."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        if _left_over(leftover):
            leftover.unlink(missing_ok=True)


def publish(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    *,
    schemas: Sequence[str] = PUBLISHED_SCHEMAS,
    ops: Sequence[str] = PUBLISHED_OPS,
    run_id: str | None = None,
    parquet_dir: Path | None = None,
) -> PublishResult:
    """Publish ``schemas`` (and the ``ops`` tables and views named) of the warehouse
    behind ``con`` to ``target``, atomically; with ``parquet_dir``, also one Parquet file
    per table of PARQUET_SCHEMAS (``<dir>/<schema>/<table>.parquet``), or a folder of
    hive partitions for the tables of PARQUET_PARTITIONS."""
    start = datetime.now(UTC)
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{_token()}.tmp")
    alias = f"publish_{uuid.uuid4().hex[:8]}"
    result = PublishResult(target=target)
    relations = _relations(con, schemas, ops)
    con.execute(f"ATTACH {_lit(str(tmp))} AS {alias}")
    try:
        for schema in sorted({s for s, _, _ in relations}):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {alias}.{_q(schema)}")
        column_comments = _column_comments(con)
        for schema, name, comment in relations:
            src = f"{_q(schema)}.{_q(name)}"
            dst = f"{alias}.{_q(schema)}.{_q(name)}"
            # the copy and its comments in one transaction: a commit per comment cost
            # more than the copies of the small tables (~400 column comments)
            con.begin()
            try:
                con.execute(f"CREATE TABLE {dst} AS SELECT * FROM {src}")
                if comment:
                    con.execute(f"COMMENT ON TABLE {dst} IS {_lit(comment)}")
                for column, col_comment in column_comments.get((schema, name), []):
                    con.execute(f"COMMENT ON COLUMN {dst}.{_q(column)} IS {_lit(col_comment)}")
                rows = con.execute(f"SELECT count(*) FROM {dst}").fetchone()[0]
                con.commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.rollback()
                raise
            result.tables[f"{schema}.{name}"] = rows
            failpoint("publish.table_copied")  # the new file half written
        result.tables.update(publish_dashboard_tables(con, alias))  # schema dashboard
        publish_catalogue(con, alias)  # schema semantic: the metrics for BI tools
        con.execute(f"CHECKPOINT {alias}")
        con.execute(f"DETACH {alias}")
        os.chmod(tmp, FILE_MODE)
        failpoint("publish.before_rename")  # the new file complete, not yet swapped in
        # a WAL left by a client that opened the old file read-write would be replayed
        # against the new file and make it unreadable: it belongs to the old version
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        os.replace(tmp, target)
        failpoint("publish.after_rename")  # swapped in; Parquet and ops.publishes not yet
        _remove_leftovers(target)
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH {alias}")
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    if parquet_dir is not None:
        tables = [(s, t) for s, t, _ in relations if s in PARQUET_SCHEMAS]
        result.parquet = export_parquet(con, tables, parquet_dir)
    result.seconds = (datetime.now(UTC) - start).total_seconds()
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(PUBLISH_LOG_DDL)
    con.execute(
        "INSERT INTO ops.publishes VALUES (?, ?, ?, ?, ?, ?)",
        [start.replace(tzinfo=None), run_id, str(target), len(result.tables),
         sum(result.tables.values()), result.seconds],
    )
    log.info("published %d tables to %s in %.1f s", len(result.tables), target, result.seconds)
    return result


def export_parquet(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[tuple[str, str]],
    folder: Path,
    partitions: Mapping[str, str] = PARQUET_PARTITIONS,
) -> list[Path]:
    """One Parquet file per (schema, table) under ``folder/<schema>/``, each written under
    a temporary name and renamed into place (a reader never sees half a file), mode 0640;
    a table of ``partitions`` (``schema.table`` -> column) is a folder of hive partitions
    instead (:func:`_export_partitioned`). Files and folders of tables that no longer
    exist are removed, and temporary files an export killed half-way left behind."""
    written: list[Path] = []
    for schema in sorted({s for s, _ in tables}):
        (folder / schema).mkdir(parents=True, exist_ok=True)
        for leftover in (folder / schema).glob(".*.parquet.*.tmp"):  # of killed exports
            if _left_over(leftover):
                leftover.unlink(missing_ok=True)
        for leftover in (folder / schema).glob(".*.parts.*"):  # folders of killed exports
            if _left_over(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
    for schema, table in tables:
        column = partitions.get(f"{schema}.{table}")
        if column is not None:
            written.append(_export_partitioned(con, schema, table, column, folder))
            continue
        path = (folder / schema / f"{table}.parquet").resolve()
        tmp = path.with_name(f".{path.name}.{_token()}.tmp")
        try:
            con.execute(
                f"COPY (SELECT * FROM {_q(schema)}.{_q(table)}) TO {_lit(str(tmp))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            os.chmod(tmp, FILE_MODE)
            failpoint("publish.parquet_copied")  # a Parquet file written, not yet renamed
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(path)
    keep = {p.name for p in written}
    partitioned = {key.split(".", 1)[1] for key in partitions}
    for schema in {s for s, _ in tables}:
        for old in (folder / schema).glob("*.parquet"):
            if old.name not in keep:
                old.unlink()
        for old in (folder / schema).iterdir():
            if old.is_dir() and old.name in partitioned and old.name not in keep:
                shutil.rmtree(old)
    return written


def _export_partitioned(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str, folder: Path
) -> Path:
    """``folder/<schema>/<table>/<column>=<value>/data_<n>.parquet`` (the column is also
    kept inside the files, for tools that do not read hive paths). Written as a whole
    into a temporary folder, then swapped in by two renames (the old folder aside, the
    new one in place): a reader sees the old or the new set of files, never a mix; for
    the moment between the renames the folder is absent."""
    path = (folder / schema / table).resolve()
    token = _token()
    tmp = path.with_name(f".{table}.parts.{token}.tmp")
    old = path.with_name(f".{table}.parts.{token}.old")
    try:
        con.execute(f"SET partitioned_write_flush_threshold = {PARTITION_FLUSH_ROWS}")
        try:
            con.execute(
                f"COPY (SELECT * FROM {_q(schema)}.{_q(table)}) TO {_lit(str(tmp))} "
                f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({_q(column)}), "
                "WRITE_PARTITION_COLUMNS true)"
            )
        finally:
            con.execute("RESET partitioned_write_flush_threshold")
        tmp.mkdir(exist_ok=True)  # an empty table writes no folder
        for root, _dirs, files in os.walk(tmp):
            os.chmod(root, DIR_MODE)
            for name in files:
                os.chmod(Path(root) / name, FILE_MODE)
        failpoint("publish.parquet_copied")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path
