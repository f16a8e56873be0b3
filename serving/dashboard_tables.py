"""Small tables the dashboard reads, built into the serving database at publish time.

The marts are already aggregates; what they do not hold is the list of users or sessions
behind a number (the dashboard's drills). Each table below is that list for one kind of
number, sorted by the columns its drill filters on, so that a drill reads one block of
the file (DuckDB's zone maps) on a 10M-event database:

- ``dashboard.user_days``: one row per user, creator (and ``'__all__'``) and active
  day, as ``marts.engagement_daily`` counts DAU (the drill from a day's DAU, and from a
  metric anomaly to its day);
- ``dashboard.user_spans``: ``user_days`` folded to one row per creator and user (first
  and last active day, the list of active days), which restricts the tables without a
  creator column (streaks, goals, LTV, scores) to the users active in a range without
  a DISTINCT over the range's user-days;
- ``dashboard.funnel_users``: one row per funnel, creator (and ``'__all__'``) and user
  with the deepest step any of the user's attempts reached, as ``marts.funnel_steps``
  counts the users of a step (the drill from a funnel step to its users);
- ``dashboard.sessions``: one row per session on its start date under its creator, as
  ``marts.conversation_daily`` counts conversations (the drill from a day's
  conversations to its sessions).
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

SCHEMA = "dashboard"
AS_OF = "intermediate.int_as_of_date"
_AS_OF_DATE = f"(SELECT max(as_of_date) FROM {AS_OF})"

# table -> (the warehouse relation it is built from (not published itself), its SELECT,
#           its comment)
TABLES: dict[str, tuple[str, str, str]] = {
    "user_days": (
        "intermediate.int_user_activity_days",
        "SELECT activity_date AS date, creator_id, user_id, active_events "
        "FROM intermediate.int_user_activity_days "
        f"WHERE activity_date <= {_AS_OF_DATE} "
        "ORDER BY activity_date, creator_id, user_id",
        "The dashboard's drill from a day's DAU: one row per user, creator (and "
        "'__all__') and active day, as marts.engagement_daily counts DAU"),
    "user_spans": (
        "intermediate.int_user_activity_days",
        "SELECT creator_id, user_id, min(activity_date) AS first_active, "
        "max(activity_date) AS last_active, "
        "list(activity_date ORDER BY activity_date) AS active_days "
        "FROM intermediate.int_user_activity_days "
        f"WHERE activity_date <= {_AS_OF_DATE} GROUP BY creator_id, user_id "
        "ORDER BY creator_id, user_id",
        "The dashboard's users active with a creator in a date range: one row per "
        "creator (and '__all__') and user with the user's active days (user_days "
        "folded per user, so that a range is tested without a DISTINCT over its days)"),
    "funnel_users": (
        "intermediate.int_funnel_attempts",
        "SELECT funnel, creator_id, user_id, max(steps_reached) AS deepest_step, "
        "count(*) AS attempts, min(attempt_start) AS first_attempt_at "
        "FROM intermediate.int_funnel_attempts GROUP BY funnel, creator_id, user_id "
        "ORDER BY funnel, creator_id, deepest_step DESC, user_id",
        "The dashboard's drill from a funnel step: one row per funnel, creator (and "
        "'__all__') and user with the deepest step reached, as marts.funnel_steps "
        "counts a step's users (deepest_step >= step)"),
    "sessions": (
        "intermediate.int_sessions",
        "SELECT start_date AS date, creator_id, session_id, user_id, started_at, "
        "duration_s, CAST(turns AS BIGINT) AS turns, "
        "CAST(user_messages AS BIGINT) AS user_messages, is_conversation, is_completed, "
        "is_escalated, drop_off_point FROM intermediate.int_sessions "
        f"WHERE start_date <= {_AS_OF_DATE} "
        "ORDER BY start_date, creator_id, started_at, session_id",
        "The dashboard's drill from a day's conversations: one row per session on its "
        "start date under its creator, as marts.conversation_daily counts conversations "
        "(is_conversation)"),
}


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?", [schema, name]).fetchone()[0])


def publish_dashboard_tables(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, int]:
    """Build ``<target>.dashboard.*`` from the warehouse behind ``con`` (the database
    attached as ``target``: the serving file being written). A table whose source the
    warehouse lacks (a partial build) is skipped with a log line: the dashboard then
    shows no such drill. Returns rows per table built."""
    if not _exists(con, *AS_OF.split(".")):
        log.info("dashboard tables skipped: %s missing", AS_OF)
        return {}
    out: dict[str, int] = {}
    for name, (source, select, comment) in TABLES.items():
        if not _exists(con, *source.split(".")):
            log.info("dashboard.%s skipped: %s missing", name, source)
            continue
        con.execute(f'CREATE SCHEMA IF NOT EXISTS {target}."{SCHEMA}"')
        con.execute(f'CREATE OR REPLACE TABLE {target}."{SCHEMA}".{name} AS {select}')
        quoted = comment.replace("'", "''")
        con.execute(f"COMMENT ON TABLE {target}.\"{SCHEMA}\".{name} IS '{quoted}'")
        out[f"{SCHEMA}.{name}"] = con.execute(
            f'SELECT count(*) FROM {target}."{SCHEMA}".{name}').fetchone()[0]
    return out
