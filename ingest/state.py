"""What is loaded versus what is landed: which complete export days are new or changed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from ingest.landing import ExportDay, relative_name
from ingest.loader import EMPTY_DAY

Signature = frozenset[tuple[str, int, float]]


def day_signature(root: Path, day: ExportDay) -> Signature:
    """The day's files as (name relative to landing, size, mtime)."""
    out = set()
    for f in day.files:
        st = f.stat()
        out.add((relative_name(root, f), st.st_size, st.st_mtime))
    return frozenset(out)


def loaded_signatures(
    con: duckdb.DuckDBPyConnection, entity: str | None = None
) -> dict[tuple[str, date], Signature]:
    """The files of the latest load of each (entity, export day), as day_signature gives them.

    Files that failed are left out, so a day with a failed file never looks up to date:
    the next run retries it.
    """
    rows = con.execute(
        """
        WITH latest AS (
            SELECT entity, export_date, arg_max(load_id, finished_at) AS load_id
            FROM raw.load_audit
            WHERE ? IS NULL OR entity = ?
            GROUP BY ALL
        )
        SELECT a.entity, a.export_date, a.source_file, a.file_bytes, a.file_mtime
        FROM raw.load_audit a JOIN latest USING (entity, export_date, load_id)
        WHERE a.status <> 'failed'
        """,
        [entity, entity],
    ).fetchall()
    out: dict[tuple[str, date], set[tuple[str, int, float]]] = {}
    for ent, day, name, size, mtime in rows:
        files = out.setdefault((ent, day), set())
        if not name.endswith(EMPTY_DAY):  # a day loaded without files: empty signature
            files.add((name, size, mtime))
    return {k: frozenset(v) for k, v in out.items()}


def needs_load(
    root: Path, day: ExportDay, loaded: dict[tuple[str, date], Signature]
) -> bool:
    """A complete day whose files differ from its latest load (or that was never loaded)."""
    return day.complete and loaded.get((day.entity, day.export_date)) != day_signature(root, day)
