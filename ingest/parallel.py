"""Run independent DuckDB jobs side by side on cursors of one connection.

DuckDB runs one statement on one thread per row group it reads or writes, so a statement
over one small file (a day's export file holds fewer lines than a row group) keeps one
core busy whatever ``threads`` says. Files staged one after another therefore use one
core; on cursors (connections to the same database instance) in as many Python threads as
DuckDB has threads they use all of them. DuckDB releases the GIL while it executes, as do
numpy and zlib for the Python work beside it.

A cursor shares the instance's attached databases and global settings, not the session's
temporary tables or session settings: jobs write to a table of an attached database, and
each cursor is set to UTC as every warehouse connection is (``warehouse.db.connect``).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import duckdb

J = TypeVar("J")
R = TypeVar("R")


def duckdb_threads(con: duckdb.DuckDBPyConnection) -> int:
    """The number of threads DuckDB may use (its ``threads`` setting)."""
    rows = con.execute("SELECT current_setting('threads')").fetchall()
    return max(1, int(rows[0][0]))


def map_on_cursors(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection, J], R],
    jobs: Sequence[J],
    workers: int | None = None,
) -> list[R]:
    """``work(cursor, job)`` for each job, in up to ``workers`` threads (default: DuckDB's
    thread count), each thread on a cursor of its own; results in the order of ``jobs``.
    With one worker (or one job) the jobs run here, on ``con`` itself. ``work`` should
    return its failures rather than raise them: a raised exception ends the map."""
    n = min(workers or duckdb_threads(con), len(jobs))
    if n <= 1:
        return [work(con, job) for job in jobs]
    cursors = [con.cursor() for _ in range(n)]
    free: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
    for cursor in cursors:
        cursor.execute("SET TimeZone = 'UTC'").fetchall()
        free.put(cursor)

    def run(job: J) -> R:
        cursor = free.get()
        try:
            return work(cursor, job)
        finally:
            free.put(cursor)

    try:
        with ThreadPoolExecutor(n, thread_name_prefix="duckdb-job") as pool:
            return list(pool.map(run, jobs))
    finally:
        for cursor in cursors:
            cursor.close()
