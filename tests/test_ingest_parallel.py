"""ingest.parallel: jobs side by side on cursors of one DuckDB connection (real DuckDB)."""

from __future__ import annotations

import threading

import duckdb
import pytest

from ingest.parallel import duckdb_threads, map_on_cursors


def test_jobs_run_on_cursors_side_by_side_and_write_where_the_connection_reads(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'America/New_York'")
    con.execute("ATTACH ':memory:' AS stage")
    con.execute("CREATE TABLE stage.t (job INTEGER, thread VARCHAR, tz VARCHAR)")
    both = threading.Barrier(2, timeout=10)  # fails unless two jobs run at once

    def work(cursor: duckdb.DuckDBPyConnection, job: int) -> int:
        assert cursor is not con
        if job < 2:
            both.wait()
        cursor.execute(
            "INSERT INTO stage.t SELECT ?, ?, current_setting('TimeZone')",
            [job, threading.current_thread().name]).fetchall()
        return job * 10

    try:
        assert duckdb_threads(con) == 2
        assert map_on_cursors(con, work, list(range(6))) == [0, 10, 20, 30, 40, 50]
        rows = con.execute("SELECT job, thread, tz FROM stage.t ORDER BY job").fetchall()
        assert [r[0] for r in rows] == list(range(6))
        assert len({r[1] for r in rows}) == 2  # two worker threads, one cursor each
        assert {r[2] for r in rows} == {"UTC"}  # the warehouse's time zone on every cursor
        # the connection itself is left as it was, with no result pending
        assert con.execute("SELECT current_setting('TimeZone')").fetchall() == [
            ("America/New_York",)]
    finally:
        con.close()


def test_one_worker_runs_the_jobs_on_the_connection_itself():
    con = duckdb.connect()
    seen: list[object] = []
    assert map_on_cursors(con, lambda c, j: seen.append(c) or j + 1, [1, 2], workers=1) == [2, 3]
    assert seen == [con, con]
    assert map_on_cursors(con, lambda c, j: j, []) == []


def test_a_job_that_raises_ends_the_map_with_its_error():
    con = duckdb.connect()
    con.execute("SET threads = 2")

    def work(cursor: duckdb.DuckDBPyConnection, job: int) -> int:
        if job == 3:
            raise ValueError("job 3")
        return cursor.execute("SELECT ?", [job]).fetchall()[0][0]

    with pytest.raises(ValueError, match="job 3"):
        map_on_cursors(con, work, list(range(5)))
    assert con.execute("SELECT 1").fetchall() == [(1,)]  # still usable
