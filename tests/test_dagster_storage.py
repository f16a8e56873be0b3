"""The run history's event log (orchestration/dagster_storage.py): the same files Dagster's
own SQLite storage writes and reads, fewer engines and syncs, and the UI's live view still
woken by new events."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration import runner
from orchestration.dagster_storage import PooledSqliteEventLogStorage


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers():
    yield dg.Output([1, 2, 3])
    yield dg.AssetCheckResult(check_name="positive", passed=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(runner, "env_path", lambda _name: home)
    runner.ensure_dagster_home()
    return home


def _run(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([numbers], instance=instance)
    assert result.success
    return result.run_id


def test_the_instance_uses_it_and_dagsters_own_storage_reads_what_it_wrote(home: Path):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_id = _run(instance)
        ours = [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
        assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in ours
        assert ours[-1] == dg.DagsterEventType.RUN_SUCCESS
        check = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("numbers"), "positive"), limit=5)
        assert [c.status.value for c in check] == ["SUCCEEDED"]
    # a reader configured as Dagster's default (the UI of an older dagster.yaml, say)
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    theirs = [r.event_log_entry.dagster_event_type
              for r in stock.get_records_for_run(run_id).records
              if r.event_log_entry.is_dagster_event]
    assert theirs == ours


def test_connections_do_not_sync_every_commit_and_engines_are_kept(home: Path):
    storage = PooledSqliteEventLogStorage(str(home / "history" / "runs"))
    with storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine = storage._engine("index")
    with storage.index_connection():
        pass
    assert storage._engine("index") is engine  # one engine per file, not one per event
    for i in range(12):  # more files than kept: the oldest engines are disposed
        with storage.run_connection(f"run-{i}"):
            pass
    assert len(storage._engines) <= 8
    storage.dispose()
    assert not storage._engines


def test_the_uis_watch_sees_new_events_of_a_run(home: Path):
    """Commits land in the run's WAL file; the UI's watchdog must wake on it."""
    with dg.DagsterInstance.get() as instance:
        run_id = _run(instance)
        storage = instance.event_log_storage
        seen: list[str] = []
        woke = threading.Event()

        def callback(entry, _cursor):
            seen.append(entry.message)
            if "after the watch" in entry.message:
                woke.set()

        cursor = str(storage.get_records_for_run(run_id).cursor)
        storage.watch(run_id, cursor, callback)
        try:
            instance.report_engine_event("after the watch", instance.get_run_by_id(run_id))
            assert woke.wait(timeout=20), f"the watch saw nothing new: {seen}"
        finally:
            storage.end_watch(run_id, callback)


def test_dagster_yaml_is_written_rewritten_when_ours_and_kept_when_the_users(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    monkeypatch.setattr(runner, "env_path", lambda _name: home)
    runner.ensure_dagster_home()
    cfg = home / "dagster.yaml"
    assert cfg.read_text() == runner.DAGSTER_YAML
    # one an earlier version of insights wrote (without the event log storage)
    cfg.write_text(runner.DAGSTER_YAML_HEADER + ": one run at a time\ntelemetry:\n"
                   "  enabled: false\n")
    runner.ensure_dagster_home()
    assert cfg.read_text() == runner.DAGSTER_YAML
    own = "# my settings\ntelemetry:\n  enabled: true\n"
    cfg.write_text(own)
    runner.ensure_dagster_home()
    assert cfg.read_text() == own
