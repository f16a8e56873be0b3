"""DuckDB connections and catalogue helpers, for every layer.

One writing process per file (DuckDB's rule): writers hold :func:`warehouse.locking.
writer_lock`; readers open read-only. Every connection is in UTC, with the resource
limits of the ``duckdb:`` settings when given.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.settings import DuckDBSettings


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC with the given resource limits."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if temp_directory:
        con.execute("SET temp_directory = ?", [temp_directory])
    return con


def connect_with(path: Path | str, limits: DuckDBSettings, *,
                 read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """:func:`connect` with the limits of the ``duckdb:`` settings."""
    return connect(path, read_only=read_only, threads=limits.threads,
                   memory_limit=limits.memory_limit, temp_directory=limits.temp_directory)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table or a view of the connection's database."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])
