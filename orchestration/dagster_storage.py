"""Dagster's SQLite event log with one engine per database file, kept for the process.

Dagster's ``SqliteEventLogStorage`` builds a new SQLAlchemy engine for every event it
stores (``_connect``), opens a connection, commits with SQLite's default full sync, and
closes it; closing the last connection of a WAL database checkpoints it and syncs again.
A run of this project records ~2,900 events (most of them its ~700 asset-check results
and their planned events), which cost about a third of a small run: 33 of 101 CPU
seconds in a profiled 3,000-event demo run (``bench/results/issue23_fixed_overheads.md``).

This class is the same storage, same files and schema (``dagster_home/history/runs``,
one database per run plus ``index.db``), read by the Dagster UI as before. It differs in
two ways:

- each database file keeps one engine with a small connection pool for the process
  (per process id: a forked child builds its own, it never shares a parent's SQLite
  connection);
- connections run with ``synchronous=NORMAL``: in WAL mode a commit is then written to
  the WAL without a disk sync. A process killed at any point (SIGKILL) loses nothing it
  committed; only a power loss or OS crash may lose the last commits, never corrupting
  the database (SQLite's WAL guarantees). The run history is a log of runs, the
  warehouse's own state is in DuckDB.

Configured by ``orchestration/runner.py``'s ``dagster.yaml`` (``event_log_storage``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection
from watchdog.events import FileSystemEvent

#: seconds a connection waits for another process's write lock (Dagster's own value)
BUSY_TIMEOUT_S = 30
#: engines kept open at once: the index database, the current run's and a few more
#: (the UI reads several runs' databases; the least recently used engine is disposed)
MAX_ENGINES = 8


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with an engine per database file kept for the process
    and ``synchronous=NORMAL`` connections (module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # before Dagster's __init__, which may already connect (a new index is reindexed)
        self._engines: OrderedDict[str, sa.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._engines_lock = threading.RLock()
        self._tables_seen: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> Any:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledSqliteEventLogStorage:
        # Dagster's default place for the run databases: $DAGSTER_HOME/history/runs
        base_dir = config_value.get("base_dir") or os.path.join(
            os.environ["DAGSTER_HOME"], "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> sa.engine.Engine:
        with self._engines_lock:
            if self._engines_pid != os.getpid():  # forked: the parent's connections stay its own
                self._engines = OrderedDict()
                self._engines_pid = os.getpid()
            engine = self._engines.get(shard)
            if engine is None:
                engine = sa.create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
                    connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
                )
                sa.event.listen(engine, "connect", _pragmas)
                self._engines[shard] = engine
                while len(self._engines) > MAX_ENGINES:
                    _, old = self._engines.popitem(last=False)
                    old.dispose()
            else:
                self._engines.move_to_end(shard)
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """As Dagster's, through the index database's engine, and remembered once true
        (Dagster asks on every asset-check event, with a new engine each time)."""
        if table_name in self._tables_seen:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_seen.add(table_name)
        return found

    def watch(self, run_id: str, cursor: str | None, callback: Any) -> None:
        """As Dagster's, with a watchdog that also wakes on the run's WAL file: commits
        land there and reach the database file only at a checkpoint (Dagster's own
        storage checkpoints on every close, its watchdog watches only the database)."""
        from watchdog.observers import Observer

        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = _WalWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True))

    def wipe(self) -> None:
        self._dispose_engines()
        self._tables_seen.clear()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class _WalWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watchdog of a run's database, woken by its WAL file too."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, callback: Any,
                 cursor: str | None) -> None:
        super().__init__(storage, run_id, callback, cursor)
        self._patterns = [self._log_path, f"{self._log_path}-wal"]

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()
