"""Small tables the dashboard reads, built into the serving database at publish time.

The marts are already aggregates; what they do not hold is the list of users behind a
daily number (the drill from a DAU to its users). ``dashboard.user_days`` is that list:
one row per user, creator and active day (with the ``'__all__'`` creator row, as
``marts.engagement_daily`` counts it), sorted by date and creator so that the drill of one
day reads one block of the file (DuckDB's zone maps) on a 10M-event database.
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

SCHEMA = "dashboard"
# the warehouse relations user_days is built from (not published themselves)
SOURCE = "intermediate.int_user_activity_days"
AS_OF = "intermediate.int_as_of_date"


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?", [schema, name]).fetchone()[0])


def publish_dashboard_tables(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, int]:
    """Build ``<target>.dashboard.*`` from the warehouse behind ``con`` (the database
    attached as ``target``: the serving file being written). Skipped, with a log line,
    when the warehouse lacks the source (a partial build): the dashboard then shows no
    drill. Returns rows per table."""
    missing = [t for t in (SOURCE, AS_OF) if not _exists(con, *t.split("."))]
    if missing:
        log.info("dashboard tables skipped: %s missing", ", ".join(missing))
        return {}
    con.execute(f'CREATE SCHEMA IF NOT EXISTS {target}."{SCHEMA}"')
    con.execute(
        f'CREATE OR REPLACE TABLE {target}."{SCHEMA}".user_days AS '
        "SELECT activity_date AS date, creator_id, user_id, active_events "
        f"FROM {SOURCE} WHERE activity_date <= "
        f"(SELECT max(as_of_date) FROM {AS_OF}) "
        "ORDER BY activity_date, creator_id, user_id")
    con.execute(f"COMMENT ON TABLE {target}.\"{SCHEMA}\".user_days IS "
                "'The dashboard''s drill: one row per user, creator (and ''__all__'') and "
                "active day, as marts.engagement_daily counts DAU'")
    rows = con.execute(f'SELECT count(*) FROM {target}."{SCHEMA}".user_days').fetchone()[0]
    return {f"{SCHEMA}.user_days": rows}
