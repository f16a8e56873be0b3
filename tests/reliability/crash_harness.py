"""Helpers of the crash-recovery tests: real ``insights run`` processes killed with SIGKILL,
content digests of the warehouse and the serving database, and the state a kill leaves.

A run is started as ``python -m orchestration run`` in its own session (process group),
so a failpoint (warehouse/failpoints.py) or the test kills dbt's subprocess with it.

Digests: each table's rows are normalised (floats to 12 significant digits, blobs to
their SHA-256, dated model versions without their date) and sorted, so a digest depends
on the content only, never on row order. Columns that legitimately differ from run to
run are left out; they are listed in :data:`RUN_SPECIFIC` and nowhere else.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[2]

# Columns that differ between two correct runs of the same data, left out of the digests.
RUN_SPECIFIC: dict[str, frozenset[str]] = {
    # which load wrote a row, and when
    "raw.*": frozenset({"load_id", "loaded_at"}),
    "raw.rejects": frozenset({"load_id", "rejected_at"}),
    # when a model was trained (its version keeps only the date, normalised below)
    "ml.model_registry": frozenset({"trained_at"}),
    "ml.model_artifacts": frozenset({"trained_at"}),
    # when BKT parameters were fitted
    "ml.bkt_params": frozenset({"fitted_at"}),
    # when the drift of the models' inputs was computed
    "ml.model_drift": frozenset({"computed_at"}),
}
# ml tables that keep a history of model versions: compared on the newest version of each
# model (what the scoring uses); which older versions exist depends on the runs made.
ML_HISTORY = ("model_registry", "model_artifacts")
# ml tables not compared: ml.insights keeps findings as history and emits a finding again
# only when it changed, so its rows depend on which as-of dates and intermediate states a
# warehouse went through (the clean runs score a state the killed chain never reached:
# the re-sent day loaded before the new days), not only on the final data.
ML_NOT_COMPARED = ("insights",)
# the raw tables of the entities (rejects and load_audit are compared on their own)
RAW_ENTITY_TABLES = ("events", "users", "creators", "programs", "enrollments", "payments",
                     "content_metrics", "experiment_assignments")

_DATED_VERSION = re.compile(r"-20\d{6}-")


# --------------------------------------------------------------------------- folders


@dataclass
class Folder:
    """One data folder: landing, warehouse, Dagster home, reports, serving database."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def serving(self) -> Path:
        return self.root / "serving.duckdb"

    @property
    def parquet(self) -> Path:
        return self.root / "parquet"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def env(self) -> dict[str, str]:
        return {
            "INSIGHTS_LANDING_DIR": str(self.landing),
            "INSIGHTS_WAREHOUSE": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
            "INSIGHTS_REPORTS_DIR": str(self.reports),
            "INSIGHTS_SERVING_DB": str(self.serving),
        }


def generate(landing: Path, *, users: int, days: int, seed: int) -> None:
    """The sample exports (with faults: bad lines, late events, re-sent duplicates, a last
    day without _SUCCESS)."""
    subprocess.run(
        [sys.executable, "-m", "orchestration", "generate", "--landing", str(landing),
         "--users", str(users), "--days", str(days), "--seed", str(seed)],
        cwd=ROOT, check=True, capture_output=True, env={**os.environ, "NO_COLOR": "1"},
    )


def day_folders(landing: Path, day: str) -> list[Path]:
    """Every entity's folder of one export day."""
    return sorted(p for p in landing.glob(f"**/{day}") if p.is_dir())


def copy_landing(src: Path, dst: Path, *, without_days: Iterable[str] = (),
                 without_files: Iterable[str] = ()) -> None:
    """Copy a landing folder (modification times kept: same file signatures), leaving
    out the given export days and files (paths relative to the landing folder)."""
    skip = set(without_days)
    shutil.copytree(src, dst, copy_function=shutil.copy2,
                    ignore=lambda _d, names: [n for n in names if n in skip])
    for rel in without_files:
        (dst / rel).unlink()


def add_days(src: Path, dst: Path, days: Iterable[str]) -> None:
    """Export days arriving: copy their folders from ``src`` (each with its _SUCCESS)."""
    for day in days:
        for folder in day_folders(src, day):
            target = dst / folder.relative_to(src)
            shutil.copytree(folder, target, copy_function=shutil.copy2)


def add_files(src: Path, dst: Path, files: Iterable[str]) -> None:
    """Files re-sent into export days already loaded (paths relative to the landing)."""
    for rel in files:
        shutil.copy2(src / rel, dst / rel)


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    label: str
    returncode: int
    seconds: float
    log: Path
    failpoint: str | None = None
    started_at: float = 0.0  # time.time()
    dagster_home: Path | None = None

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def compute_logs(self) -> str:
        """What the run's steps wrote to stderr: Dagster captures it into compute log
        files and copies it to the process's stderr through a helper process, which a
        SIGKILL of the group may take down before it copied the last lines."""
        if self.dagster_home is None:
            return ""
        return "".join(
            f.read_text(errors="replace")
            for f in (self.dagster_home / "storage").glob("*/compute_logs/*.err")
            if f.stat().st_mtime >= self.started_at - 1)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text.splitlines()[-lines:])


def start_run(folder: Folder, label: str, *, failpoint: str | None = None,
              args: Iterable[str] = ()) -> tuple[subprocess.Popen, Path, float, float]:
    """``insights run`` as a process group leader (start_new_session)."""
    folder.logs.mkdir(parents=True, exist_ok=True)
    log = folder.logs / f"{label}.log"
    env = {**os.environ, **folder.env(), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
           "COLUMNS": "160"}
    for name in ("INSIGHTS_FAILPOINT", "INSIGHTS_SETTINGS"):  # the project's settings
        env.pop(name, None)
    if failpoint:
        env["INSIGHTS_FAILPOINT"] = failpoint
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration", "run", *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return proc, log, time.monotonic(), time.time()


def finish(proc: subprocess.Popen, log: Path, started: float, label: str,
           failpoint: str | None, timeout: float, *, started_at: float = 0.0,
           dagster_home: Path | None = None) -> Run:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{label}: still running after {timeout:.0f} s; killed. "
                             f"Log {log}") from None
    return Run(label, proc.returncode, time.monotonic() - started, log, failpoint,
               started_at, dagster_home)


def run_insights(folder: Folder, label: str, *, failpoint: str | None = None,
                 timeout: float = 1200) -> Run:
    proc, log, started, wall = start_run(folder, label, failpoint=failpoint)
    run = finish(proc, log, started, label, failpoint, timeout, started_at=wall,
                 dagster_home=folder.dagster_home)
    if failpoint:
        group_gone(proc.pid)
    return run


def kill_from_outside(folder: Folder, label: str, delay_s: float,
                      timeout: float = 1200) -> tuple[Run, bool]:
    """Start a run and SIGKILL its whole process group after ``delay_s`` (unless it has
    finished by then). Returns the run and whether the kill happened."""
    proc, log, started, wall = start_run(folder, label)
    try:
        proc.wait(timeout=delay_s)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        killed = True
    run = finish(proc, log, started, label, None, timeout, started_at=wall,
                 dagster_home=folder.dagster_home)
    if killed:
        group_gone(proc.pid)
    return run, killed


def group_processes(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...
        rest = text.rsplit(")", 1)[-1].split()
        if len(rest) >= 3 and int(rest[2]) == pgid and rest[0] != "Z":
            alive.append(text[: text.rfind(")") + 1])
    return alive


def group_gone(pgid: int, wait_s: float = 10.0) -> None:
    """Every process of the killed group (dbt's subprocess too) is dead."""
    deadline = time.monotonic() + wait_s
    while (alive := group_processes(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"processes of the killed run survived: {alive}"


def assert_killed_at(run: Run) -> None:
    """The run died by SIGKILL at its failpoint (not earlier, not of another cause)."""
    assert run.returncode == -signal.SIGKILL, (
        f"{run.label}: expected death by SIGKILL at {run.failpoint}, got returncode "
        f"{run.returncode}\n{run.tail()}")
    name, _, nth = (run.failpoint or "").partition(":")
    marker = f"failpoint {name} reached ({nth or 1})"
    assert marker in run.text or marker in run.compute_logs(), (
        f"{run.label}: '{marker}' not in the log\n{run.tail()}")


def assert_succeeded(run: Run) -> None:
    assert run.returncode == 0, f"{run.label}: returncode {run.returncode}\n{run.tail(120)}"


# --------------------------------------------------------------------------- digests


def _norm(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return _DATED_VERSION.sub("-<date>-", value) if isinstance(value, str) else value
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, ".12g")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    return str(value)


@dataclass
class TableRows:
    """A table's rows, normalised and sorted (order-independent), and their digest."""

    columns: list[str]
    lines: list[str] = field(repr=False)

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.lines)


def excluded_columns(qualified: str) -> frozenset[str]:
    schema = qualified.split(".")[0]
    return RUN_SPECIFIC.get(qualified, frozenset()) | (
        RUN_SPECIFIC.get(f"{schema}.*", frozenset()) if qualified not in RUN_SPECIFIC
        else frozenset())


def read_rows(con: duckdb.DuckDBPyConnection, relation: str, qualified: str,
              where: str = "", exclude: frozenset[str] | None = None) -> TableRows:
    skip = excluded_columns(qualified) if exclude is None else exclude
    cols = [c[0] for c in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
    keep = [c for c in cols if c not in skip]
    sql = "SELECT " + ", ".join(f'"{c}"' for c in keep) + f" FROM {relation} {where}"
    lines = sorted(json.dumps(_norm(list(r)), separators=(",", ":"))
                   for r in con.execute(sql).fetchall())
    return TableRows(keep, lines)


def tables_of(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? ORDER BY 1", [schema]).fetchall()]


def warehouse_state(path: Path) -> dict[str, TableRows]:
    """What the tests compare with the clean run: every marts and ml table, the raw entity
    tables, the rejects. Read-only (a stale WAL is replayed in memory, not checkpointed)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, TableRows] = {}
        for schema in ("marts", "ml"):
            for t in tables_of(con, schema):
                if schema == "ml" and t in ML_NOT_COMPARED:
                    continue
                where = ""
                if schema == "ml" and t in ML_HISTORY:
                    where = ("QUALIFY rank() OVER (PARTITION BY model_name "
                             "ORDER BY trained_at DESC) = 1")
                out[f"{schema}.{t}"] = read_rows(con, f'{schema}."{t}"', f"{schema}.{t}",
                                                 where)
        for t in (*RAW_ENTITY_TABLES, "rejects"):
            out[f"raw.{t}"] = read_rows(con, f"raw.{t}", f"raw.{t}")
        out["raw.events(current)"] = read_rows(con, "raw.events", "raw.events",
                                               "WHERE is_current")
        # per file of the entities that keep every day (snapshot entities keep the newest
        # day only, and which days were read before being superseded depends on arrival)
        out["raw.load_audit(per file)"] = TableRows(
            ["entity", "source_file", "records_read", "rejected", "loaded+duplicates"],
            sorted(json.dumps(_norm(list(r))) for r in con.execute(
                "SELECT entity, source_file, records_read, rejected, loaded + duplicates "
                "FROM raw.load_audit WHERE entity IN ('events', 'payments', 'content_metrics') "
                "QUALIFY row_number() OVER (PARTITION BY entity, source_file "
                "ORDER BY finished_at DESC) = 1").fetchall()))
        return out
    finally:
        con.close()


def compare_with_clean(state: dict[str, TableRows], clean: dict[str, TableRows],
                       label: str) -> int:
    """Assert the recovered warehouse equals the clean run's; returns the rows compared."""
    problems: list[str] = []
    rows = 0
    assert set(clean) <= set(state), f"{label}: tables missing: {set(clean) - set(state)}"
    for name, ref in clean.items():
        got = state[name]
        rows += len(ref)
        if got.columns != ref.columns:
            problems.append(f"{name}: columns {got.columns} != {ref.columns}")
        elif got.digest != ref.digest:
            extra = sorted(set(got.lines) - set(ref.lines))
            missing = sorted(set(ref.lines) - set(got.lines))
            problems.append(
                f"{name}: {len(got)} rows vs {len(ref)} in the clean run; "
                f"{len(extra)} extra, e.g. {extra[:2]}; {len(missing)} missing, "
                f"e.g. {missing[:2]}")
    assert not problems, f"{label}: differs from the clean run:\n" + "\n".join(problems)
    return rows


def audit_reconciles(path: Path) -> int:
    """Every file load in raw.load_audit: read = loaded + rejected + duplicates. Returns
    the number of audit rows checked."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        bad = con.execute(
            "SELECT entity, export_date, source_file, records_read, loaded, rejected, "
            "duplicates FROM raw.load_audit WHERE status = 'loaded' AND "
            "records_read <> loaded + rejected + duplicates").fetchall()
        n = con.execute("SELECT count(*) FROM raw.load_audit").fetchone()[0]
    finally:
        con.close()
    assert not bad, f"files that do not reconcile: {bad[:5]}"
    return n


def events_whole_days(path: Path, allowed: dict[str, set[int]]) -> None:
    """After a kill: each export day of events is in raw.events whole or not at all. A
    day with an audit row holds the rows of one complete load of that day (``allowed``:
    the row counts of the clean run's and of earlier successful loads); a day without
    none."""
    if not path.exists():
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' "
                          "AND table_name = 'load_audit'").fetchone()[0]
        if not has:
            return
        audited = {str(r[0]) for r in con.execute(
            "SELECT DISTINCT export_date FROM raw.load_audit WHERE entity = 'events'"
        ).fetchall()}
        rows = {str(d): n for d, n in con.execute(
            "SELECT export_date, count(*) FROM raw.events GROUP BY 1").fetchall()}
    finally:
        con.close()
    for day in rows:
        assert day in audited, f"events of {day} in raw.events without an audit row"
    for day in audited:
        assert rows.get(day, 0) in allowed.get(day, {0}), (
            f"export day {day} holds {rows.get(day, 0)} event rows; a complete load of "
            f"it has {sorted(allowed.get(day, {0}))}")


def audited_days(path: Path, entity: str) -> set[str]:
    """Export days of an entity with a committed load in raw.load_audit."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {str(r[0]) for r in con.execute(
            "SELECT DISTINCT export_date FROM raw.load_audit WHERE entity = ?", [entity]
        ).fetchall()}
    finally:
        con.close()


def events_by_day(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {str(d): n for d, n in con.execute(
            "SELECT export_date, count(*) FROM raw.events GROUP BY 1").fetchall()}
    finally:
        con.close()


# --------------------------------------------------------------------------- serving

_SERVING_DIGEST = """
import duckdb, json, sys
sys.path.insert(0, {root!r})
from tests.reliability.crash_harness import serving_digest_here
print(json.dumps(serving_digest_here({path!r})))
"""


def serving_digest_here(path: str) -> dict[str, str]:
    """Digest of every table of a serving database, all columns (run ids included: it
    tells one publish from another). In this process."""
    con = duckdb.connect(path, read_only=True)
    try:
        return serving_digest_of(con)
    finally:
        con.close()


def serving_digest_of(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    out = {}
    for schema, name in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() ORDER BY 1, 2"
    ).fetchall():
        rows = read_rows(con, f'"{schema}"."{name}"', f"{schema}.{name}", exclude=frozenset())
        out[f"{schema}.{name}"] = f"{len(rows)}:{rows.digest}"
    return out


def serving_digest(path: Path) -> dict[str, str] | None:
    """The serving database as a new reader sees it: a fresh process opens it read-only
    (in this process DuckDB would hand back the instance a held connection opened)."""
    if not path.exists():
        return None
    out = subprocess.run(
        [sys.executable, "-c", _SERVING_DIGEST.format(root=str(ROOT), path=str(path))],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, f"the serving database does not open read-only: {out.stderr}"
    return json.loads(out.stdout.splitlines()[-1])


def leftovers(folder: Folder) -> list[Path]:
    """Temporary files of publishes next to the serving database and among the Parquet
    files, and a WAL of the serving database."""
    found = [p for p in folder.root.glob(".*.tmp*")]
    found += [p for p in folder.parquet.rglob("*") if ".tmp" in p.name]
    wal = folder.serving.with_name(folder.serving.name + ".wal")
    if wal.exists():
        found.append(wal)
    return sorted(found)


def visible_leftovers(folder: Folder) -> list[Path]:
    """Leftovers a reader could take for data: any not hidden (dot) temporary file, or
    one a ``*.parquet`` / ``*.duckdb`` glob would pick up."""
    return [p for p in leftovers(folder)
            if not p.name.startswith(".") or p.suffix in (".parquet", ".duckdb")]


def parquet_matches_serving(serving: Path, parquet: Path) -> int:
    """Each marts Parquet file holds exactly its serving table; returns files checked."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        marts = tables_of(con, "marts")
        # one file per mart, except marts.events: Hive partitions events/event_date=D/
        files = {f.stem: f"read_parquet('{f}')"
                 for f in sorted((parquet / "marts").glob("*.parquet"))}
        if (parquet / "marts" / "events").is_dir():  # the partition column comes back last
            cols = ", ".join(f'"{c[0]}"' for c in con.execute(
                'SELECT * FROM marts."events" LIMIT 0').description)
            files["events"] = (f"(SELECT {cols} FROM read_parquet("
                               f"'{parquet / 'marts' / 'events'}/*/*.parquet', "
                               "hive_partitioning = true))")
        assert sorted(files) == marts, f"Parquet files {sorted(files)} != serving marts {marts}"
        for name, source in files.items():
            served = read_rows(con, f'marts."{name}"', f"marts.{name}", exclude=frozenset())
            exported = read_rows(con, source, f"marts.{name}", exclude=frozenset())
            assert served.digest == exported.digest, f"{source} differs from serving marts.{name}"
        return len(files)
    finally:
        con.close()


def reports_match_index(folder: Folder) -> int:
    """The latest ops.reports row of each report file names a file with that content."""
    con = duckdb.connect(str(folder.warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT path, sha256 FROM ops.reports QUALIFY row_number() OVER "
            "(PARTITION BY path ORDER BY rendered_at DESC) = 1").fetchall()
    finally:
        con.close()
    for path, sha in rows:
        f = folder.reports / path
        assert f.exists(), f"report {f} indexed in ops.reports but missing"
        assert hashlib.sha256(f.read_bytes()).hexdigest() == sha, f"report {f} != its index"
    return len(rows)


def alerts_delivered(folder: Folder) -> int:
    """Every stored alert reached every sink ("sent"), and the file sink holds it once,
    on whole JSON lines (a kill before the delivery leaves it pending: the next run sends
    it). Returns the number of alerts."""
    con = duckdb.connect(str(folder.warehouse), read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' "
                           "AND table_name = 'alerts'").fetchone()[0]:
            return 0
        alerts = con.execute("SELECT alert_id, sink_status FROM ops.alerts").fetchall()
    finally:
        con.close()
    sink = folder.reports / "alerts" / "alerts.jsonl"
    lines = sink.read_text().splitlines() if sink.exists() else []
    sent = [json.loads(line)["alert_id"] for line in lines]  # a torn line fails here
    for aid, status in alerts:
        states = {k: v.get("status") for k, v in json.loads(status or "{}").items()}
        assert set(states.values()) <= {"sent"}, f"alert {aid} not delivered: {states}"
        assert sent.count(aid) == 1, f"alert {aid} in the file sink {sent.count(aid)} times"
    return len(alerts)


# --------------------------------------------------------------------------- leftovers


def lock_is_free(folder: Folder) -> bool:
    """The writer lock (``<warehouse>.lock``) can be taken: the kernel released the dead
    run's flock (the file itself may stay)."""
    lock = folder.warehouse.with_name(folder.warehouse.name + ".lock")
    if not lock.exists():
        return True
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def warehouse_wal(folder: Folder) -> bool:
    return folder.warehouse.with_name(folder.warehouse.name + ".wal").exists()


def dagster_runs(folder: Folder) -> list[tuple[str, str, str]]:
    """(run id, job, status) of every run recorded in the folder's Dagster instance."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(folder.dagster_home))
    try:
        return [(r.run_id, r.job_name, r.status.value) for r in instance.get_runs()]
    finally:
        instance.dispose()
