"""Running the dashboard's queries on the serving database, read-only.

Publishing writes a new serving file beside the old one and renames it over it
(``serving.publish``): a reader that holds the old file open keeps reading the old
version and never blocks the rename, and the publish never waits for a reader. The
reader keeps one read-only connection per file version (device, inode, mtime) and opens
a new one when a publish has swapped the file in, so the dashboard shows the new data on
the next query without a restart. Each query runs on its own cursor (thread-safe: the
app serves several browser sessions from threads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

import duckdb
import pandas as pd

from dashboard.queries import Query

log = logging.getLogger(__name__)


class ServingReader:
    """Read-only queries on the serving database at ``path`` (reopened after a publish)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._version: tuple[int, int, int] | None = None

    def _file_version(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino, st.st_mtime_ns)

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The connection to the current file version (opened on first use or after a
        publish swapped the file)."""
        version = self._file_version()
        with self._lock:
            if self._con is None or version != self._version:
                if self._con is not None:
                    log.info("serving database %s was republished: reopened", self.path)
                    with contextlib.suppress(duckdb.Error):
                        self._con.close()
                self._con = None
                self._con = duckdb.connect(str(self.path), read_only=True)
                self._version = version
            return self._con

    def df(self, query: Query) -> pd.DataFrame:
        with self._lock:
            return self.connection().execute(query.sql, dict(query.params)).df()

    def rows(self, query: Query) -> list[tuple]:
        with self._lock:
            return self.connection().execute(query.sql, dict(query.params)).fetchall()

    def has_table(self, schema: str, name: str) -> bool:
        return bool(self.rows(Query("has_table", "SELECT count(*) FROM duckdb_tables() "
                                    "WHERE schema_name = $s AND table_name = $t",
                                    {"s": schema, "t": name}))[0][0])

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
