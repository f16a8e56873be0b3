"""What is loaded, rejected and stale: the facts behind ``insights status`` and the
summary at the end of ``insights run``."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from data_quality.outcomes import BLOCKING, Outcome
from data_quality.store import check_statuses, latest_outcomes
from ingest.landing import scan_landing
from ingest.state import loaded_signatures, needs_load


@dataclass
class EntityStatus:
    entity: str
    days_loaded: int = 0
    first_day: date | None = None
    last_day: date | None = None
    rows_current: int = 0
    rejected: int = 0
    duplicates: int = 0
    failed_files: list[str] = field(default_factory=list)
    pending_days: list[date] = field(default_factory=list)  # complete, never loaded
    stale_days: list[date] = field(default_factory=list)  # complete, files changed since load
    incomplete_days: list[date] = field(default_factory=list)  # no _SUCCESS yet


# load_audit statuses of a file that was read but not (wholly) loaded
FILE_PROBLEM_STATUSES = ("failed", "partial")
# a load_audit message starts with its reason code: `too_large: ...`
_REASON_CODE = re.compile(r"^([a-z][a-z0-9_]*): ")
_MAX_REASON = 300


@dataclass(frozen=True)
class FileProblem:
    """A file of the latest load of its export day that failed or loaded partially."""

    entity: str
    export_date: date
    source_file: str  # relative to the landing folder
    status: str  # failed | partial
    message: str

    @property
    def reason_code(self) -> str | None:
        """The reason code the message starts with (None for a message without one)."""
        found = _REASON_CODE.match(self.message)
        return found.group(1) if found else None

    @property
    def reason(self) -> str:
        """The message's first line, cut to a readable length."""
        first = (self.message.strip().splitlines() or ["(no message)"])[0]
        return first if len(first) <= _MAX_REASON else first[: _MAX_REASON - 3] + "..."

    def line(self) -> str:
        """One summary line: status, file and reason."""
        return f"{self.status} file {self.source_file}: {self.reason}"


def file_problems(
    con: duckdb.DuckDBPyConnection, run_ids: Collection[str] | None = None
) -> list[FileProblem]:
    """The failed and partial files of the latest load of each (entity, export day); with
    ``run_ids``, only the loads those runs made (the files a run read)."""
    if not _has_table(con, "raw", "load_audit"):
        return []
    rows = con.execute(
        """
        WITH latest AS (
            SELECT entity, export_date, arg_max(load_id, finished_at) AS load_id
            FROM raw.load_audit GROUP BY ALL
        )
        SELECT a.entity, a.export_date, a.source_file, a.status, coalesce(a.message, '')
        FROM raw.load_audit a JOIN latest USING (entity, export_date, load_id)
        WHERE list_contains(?, a.status)
          AND (? IS NULL OR list_contains(?, a.run_id))
        ORDER BY a.entity, a.export_date, a.source_file
        """,
        [list(FILE_PROBLEM_STATUSES), None if run_ids is None else 1,
         list(run_ids or [])],
    ).fetchall()
    return [FileProblem(*row) for row in rows]


@dataclass
class WarehouseStatus:
    warehouse: Path
    exists: bool
    entities: dict[str, EntityStatus] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    unbalanced_files: list[str] = field(default_factory=list)
    marts: dict[str, int] = field(default_factory=dict)
    # (asset_key, check_name, status, expectations, failed, validated_at) per check
    quality_checks: list[tuple] = field(default_factory=list)
    quality_failures: list[Outcome] = field(default_factory=list)
    # (published_at, target, tables, total_rows) of the latest publish
    last_publish: tuple | None = None
    # (kind, period_start, period_end, reports, files, rendered_at, overall html path)
    latest_reports: list[tuple] = field(default_factory=list)
    # (date, severity, rule, creator_id, message) of the alerts of the latest judged date
    latest_alerts: list[tuple] = field(default_factory=list)
    # failed or partial files of the latest loads (of the given runs, for a run's summary)
    file_problems: list[FileProblem] = field(default_factory=list)

    @property
    def publish_blocked(self) -> bool:
        return any(o.severity == BLOCKING for o in self.quality_failures)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def collect_status(con: duckdb.DuckDBPyConnection | None, warehouse: Path, landing: Path,
                   run_ids: Collection[str] | None = None) -> WarehouseStatus:
    """Everything ``insights status`` shows; with ``run_ids``, the file problems are those
    of the loads these runs made (the end-of-run summary)."""
    status = WarehouseStatus(warehouse=warehouse, exists=con is not None)
    loaded = {}
    if con is not None and _has_table(con, "raw", "file_reconciliation"):
        loaded = loaded_signatures(con)
        for entity, days, first, last, current, rejected, dups in con.execute(
            """
            SELECT entity, count(DISTINCT export_date), min(export_date), max(export_date),
                   sum(loaded), sum(rejected), sum(duplicates)
            FROM raw.file_reconciliation WHERE status <> 'ignored' GROUP BY 1 ORDER BY 1
            """
        ).fetchall():
            st = status.entities.setdefault(entity, EntityStatus(entity))
            st.days_loaded, st.first_day, st.last_day = days, first, last
            st.rows_current = int(current or 0)
            st.rejected, st.duplicates = int(rejected or 0), int(dups or 0)
        for entity, name, message in con.execute(
            "SELECT entity, source_file, message FROM raw.file_reconciliation "
            "WHERE status = 'failed' ORDER BY 1, 2"
        ).fetchall():
            status.entities[entity].failed_files.append(f"{name}: {message}")
        status.rejects_by_reason = dict(
            con.execute(
                "SELECT entity || ': ' || reason_code, count(*) FROM raw.rejects "
                "GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        )
        status.unbalanced_files = [
            r[0]
            for r in con.execute(
                "SELECT source_file FROM raw.file_reconciliation WHERE NOT reconciles"
            ).fetchall()
        ]
    if con is not None:
        for (table,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
            "ORDER BY 1"
        ).fetchall():
            status.marts[table] = con.execute(f'SELECT count(*) FROM marts."{table}"').fetchone()[0]
    if con is not None:
        status.file_problems = file_problems(con, run_ids)
        status.quality_checks = check_statuses(con)
        status.quality_failures = latest_outcomes(con, only_failed=True)
        if _has_table(con, "ops", "publishes"):
            status.last_publish = con.execute(
                "SELECT published_at, target, tables, total_rows FROM ops.publishes "
                "ORDER BY published_at DESC LIMIT 1"
            ).fetchone()
        if _has_table(con, "ops", "reports"):
            status.latest_reports = con.execute(
                """
                SELECT kind, period_start, period_end, count(DISTINCT creator_id), count(*),
                       max(rendered_at),
                       max(path) FILTER (WHERE creator_id = '__all__' AND format = 'html')
                FROM ops.reports AS r
                WHERE period_end = (SELECT max(period_end) FROM ops.reports WHERE kind = r.kind)
                GROUP BY kind, period_start, period_end ORDER BY kind
                """
            ).fetchall()
        if _has_table(con, "ops", "alerts"):
            status.latest_alerts = con.execute(
                "SELECT date, severity, rule, creator_id, message FROM ops.alerts "
                "WHERE date = (SELECT max(date) FROM ops.alerts) "
                "ORDER BY severity = 'high' DESC, rule, creator_id"
            ).fetchall()
    for day in scan_landing(landing):
        st = status.entities.setdefault(day.entity, EntityStatus(day.entity))
        if not day.complete:
            st.incomplete_days.append(day.export_date)
        elif (day.entity, day.export_date) not in loaded:
            st.pending_days.append(day.export_date)
        elif needs_load(landing, day, loaded):
            st.stale_days.append(day.export_date)
    return status
