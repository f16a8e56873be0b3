"""What is loaded versus what is landed: which complete export days are new or changed,
and which loads the incremental dbt models have not been built from yet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from ingest.landing import ExportDay, entry_stat, relative_name
from ingest.loader import EMPTY_DAY
from warehouse.db import table_exists

Signature = frozenset[tuple[str, int, float]]


def day_signature(root: Path, day: ExportDay) -> Signature:
    """The day's files as (name relative to landing, size, mtime)."""
    out = set()
    for f in day.files:
        st = entry_stat(f)
        out.add((relative_name(root, f), st.st_size, st.st_mtime))
    return frozenset(out)


def loaded_signatures(
    con: duckdb.DuckDBPyConnection, entity: str | None = None
) -> dict[tuple[str, date], Signature]:
    """The files of the latest load of each (entity, export day), as day_signature gives them.

    Files that failed or were read in part count like the others: a file's failure
    (corrupt, too large, not a regular file) depends on its bytes, so the same file
    fails the same way again, and an unchanged day is never "stale". A changed file (size
    or mtime) makes the day load again; after raising a bound in the settings,
    ``insights run --reload`` reads it again.
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


# The incremental models remember the newest load they were built from: a run rebuilds
# them from the earliest export day loaded since then (minus the lookback), so a day
# loaded by a run that was killed (or whose dbt step failed) before they were rebuilt is
# rebuilt by the next run, whatever that run loads itself.
BUILDS_DDL = """
CREATE TABLE IF NOT EXISTS ops.dbt_incremental_builds (
    built_at TIMESTAMP NOT NULL,  -- UTC
    run_id VARCHAR,
    loads_up_to TIMESTAMP         -- the newest raw.load_audit.finished_at the build read
)
"""


def unbuilt_loads(con: duckdb.DuckDBPyConnection) -> tuple[date | None, datetime | None]:
    """(the earliest export day loaded since the last completed build of the incremental
    models, None if none; the newest load)."""
    if not table_exists(con, "raw", "load_audit"):
        return None, None
    built = None
    if table_exists(con, "ops", "dbt_incremental_builds"):
        built = con.execute(
            "SELECT max(loads_up_to) FROM ops.dbt_incremental_builds").fetchone()[0]
    since = "" if built is None else "WHERE finished_at > ?"
    first = con.execute(f"SELECT min(export_date) FROM raw.load_audit {since}",
                        [] if built is None else [built]).fetchone()[0]
    newest = con.execute("SELECT max(finished_at) FROM raw.load_audit").fetchone()[0]
    return first, newest


def record_build(con: duckdb.DuckDBPyConnection, run_id: str,
                 loads_up_to: datetime | None) -> None:
    """The incremental models are built from every load up to ``loads_up_to``."""
    if loads_up_to is None:
        return
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(BUILDS_DDL)
    con.execute("INSERT INTO ops.dbt_incremental_builds VALUES (?, ?, ?)",
                [datetime.now(UTC).replace(tzinfo=None), run_id, loads_up_to])
