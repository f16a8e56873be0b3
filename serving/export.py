"""On-demand extracts (``insights export``): chosen tables of the published schemas, cut
to a date range, written as CSV or Parquet files for people and tools that want files.

Only the published schemas (``marts``, ``ml``) can be exported: the raw layer holds
personal data that never leaves the warehouse (contract: email, display_name). A table
is cut on its date column (the first of DATE_COLUMNS it has); a table without one is
exported whole and said so. Each file is written under a temporary name and renamed into
place, mode 0640.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from serving.publish import FILE_MODE, PUBLISHED_SCHEMAS

log = logging.getLogger(__name__)

ExportFormat = Literal["csv", "parquet"]
# the column a table is cut on, by preference
DATE_COLUMNS: tuple[str, ...] = ("date", "event_date", "activity_date", "metrics_date",
                                 "cohort_start", "entry_period", "period_start",
                                 "as_of_date")


class ExportError(ValueError):
    """A table that cannot be exported (unknown, not published), or a bad range."""


@dataclass(frozen=True)
class ExportedFile:
    table: str            # schema.table
    path: Path
    rows: int
    date_column: str | None  # None: exported whole (no date column)


def resolve_tables(con: duckdb.DuckDBPyConnection, names: Sequence[str]
                   ) -> list[tuple[str, str]]:
    """``schema.table`` names (a bare name means ``marts.<name>``) checked against the
    published schemas of ``con``; :class:`ExportError` names the first unknown one and
    what exists."""
    found = {(s, t) for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema IN ({', '.join('?' for _ in PUBLISHED_SCHEMAS)})",
        list(PUBLISHED_SCHEMAS)).fetchall()}
    out: list[tuple[str, str]] = []
    for name in names:
        schema, _, table = name.strip().rpartition(".")
        key = (schema or "marts", table)
        if key not in found:
            where = ", ".join(PUBLISHED_SCHEMAS)
            raise ExportError(f"no published table {key[0]}.{key[1]} (tables of {where} "
                              "only; `insights status` lists the marts)")
        if key not in out:
            out.append(key)
    return out


def date_column(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str | None:
    columns = {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND data_type = 'DATE'",
        [schema, table]).fetchall()}
    return next((c for c in DATE_COLUMNS if c in columns), None)


def export_tables(con: duckdb.DuckDBPyConnection, tables: Sequence[tuple[str, str]], *,
                  start: date | None, end: date | None, fmt: ExportFormat,
                  folder: Path) -> list[ExportedFile]:
    """Write each table, cut to [start, end] on its date column, to
    ``folder/<schema>.<table>.<fmt>``; returns what was written."""
    if start is not None and end is not None and start > end:
        raise ExportError(f"--from {start} is after --to {end}")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[ExportedFile] = []
    for schema, table in tables:
        column = date_column(con, schema, table)
        where = []  # dates (typed, ISO) as literals: COPY cannot take parameters
        if column is not None and start is not None:
            where.append(f"{_q(column)} >= DATE '{start.isoformat()}'")
        if column is not None and end is not None:
            where.append(f"{_q(column)} <= DATE '{end.isoformat()}'")
        select = f"SELECT * FROM {_q(schema)}.{_q(table)}" + (
            f" WHERE {' AND '.join(where)}" if where else "")
        path = (folder / f"{schema}.{table}.{fmt}").resolve()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        options = "(FORMAT parquet, COMPRESSION zstd)" if fmt == "parquet" else (
            "(FORMAT csv, HEADER true)")
        try:
            rows = con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
            con.execute(f"COPY ({select}) TO {_lit(str(tmp))} {options}").fetchall()
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        log.info("exported %s.%s: %d rows to %s", schema, table, rows, path)
        written.append(ExportedFile(f"{schema}.{table}", path, int(rows), column))
    return written


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
