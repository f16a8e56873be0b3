"""``ops.reports``: one row per written report file (HTML, CSV, JSON).

Idempotent: writing the files of a kind/period/creator again replaces that report's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime
from pathlib import Path

import duckdb

DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """
    CREATE TABLE IF NOT EXISTS ops.reports (
        report_id VARCHAR NOT NULL,     -- kind/period_end/creator_id
        kind VARCHAR NOT NULL,          -- daily | weekly | monthly | quarterly
        period_start DATE NOT NULL,
        period_end DATE NOT NULL,
        creator_id VARCHAR NOT NULL,    -- '__all__' for the overall report
        format VARCHAR NOT NULL,        -- html | csv | json | pdf
        path VARCHAR NOT NULL,          -- relative to the reports root
        bytes BIGINT NOT NULL,
        sha256 VARCHAR NOT NULL,
        rendered_at TIMESTAMP NOT NULL, -- UTC
        run_id VARCHAR
    )
    """,
    "COMMENT ON TABLE ops.reports IS 'Rendered report files (daily/weekly, overall and per "
    "creator; HTML with CSV and JSON exports), paths relative to INSIGHTS_REPORTS_DIR.'",
]


@dataclass(frozen=True)
class ReportFile:
    report_id: str
    kind: str
    period_start: date
    period_end: date
    creator_id: str
    format: str
    path: str
    bytes: int
    sha256: str
    rendered_at: datetime
    run_id: str | None


COLUMNS = [f.name for f in fields(ReportFile)]


def report_id(kind: str, period_end: date, creator_id: str) -> str:
    return f"{kind}/{period_end.isoformat()}/{creator_id}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: Path, path: Path, *, kind: str, period_start: date, period_end: date,
               creator_id: str, rendered_at: datetime, run_id: str | None) -> ReportFile:
    """The index row of a written file (size and sha256 read from disk)."""
    return ReportFile(
        report_id=report_id(kind, period_end, creator_id),
        kind=kind,
        period_start=period_start,
        period_end=period_end,
        creator_id=creator_id,
        format=path.suffix.lstrip(".").lower(),
        path=path.relative_to(root).as_posix(),
        bytes=path.stat().st_size,
        sha256=sha256_file(path),
        rendered_at=rendered_at,
        run_id=run_id,
    )


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def record(con: duckdb.DuckDBPyConnection, entries: Sequence[ReportFile]) -> int:
    """Replace the rows of every report (kind, period, creator) in ``entries`` by them."""
    ensure_table(con)
    if not entries:
        return 0
    keys = sorted({(e.kind, e.period_start, e.period_end, e.creator_id) for e in entries})
    con.execute("BEGIN TRANSACTION")
    try:
        for kind, start, end, creator in keys:
            con.execute(
                "DELETE FROM ops.reports WHERE kind = ? AND period_start = ? "
                "AND period_end = ? AND creator_id = ?", [kind, start, end, creator])
        placeholders = ", ".join("?" for _ in COLUMNS)
        con.executemany(
            f"INSERT INTO ops.reports ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            [list(astuple(e)) for e in entries])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(entries)
