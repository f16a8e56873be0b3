"""DDL of the raw layer: the tables the ingest assets write and dbt reads as sources.

Every raw table carries its lineage: the export date it came from, the file (relative
to the landing folder) and line, when it was loaded, and ``is_current``: whether this
copy is the one that counts after de-duplication (for events: the copy with the latest
export date, then the last file and line of that day).
"""

from __future__ import annotations

from warehouse.contract import EVENT_TYPES as CONTRACT_EVENT_TYPES

RAW_SCHEMA = "raw"

EVENT_TYPES = CONTRACT_EVENT_TYPES  # the contract's list (warehouse/contract.py)

LINEAGE_COLUMNS = """
    export_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line BIGINT NOT NULL,
    load_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL
"""

EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.events (
    event_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    is_known_event_type BOOLEAN NOT NULL,
    event_ts TIMESTAMP NOT NULL,           -- UTC
    session_id VARCHAR NOT NULL,
    user_id VARCHAR,
    anonymous_id VARCHAR,                   -- contract 1.1: device or browser id
    creator_id VARCHAR,
    agent_id VARCHAR,
    program_id VARCHAR,
    channel VARCHAR,
    platform VARCHAR,
    location VARCHAR,
    duration_ms BIGINT,
    response_time_ms BIGINT,
    confidence DOUBLE,
    sentiment VARCHAR,
    -- typed fields of `data`, validated on load
    text_length BIGINT,
    intent VARCHAR,
    entity VARCHAR,
    entity_value VARCHAR,
    workflow VARCHAR,
    endpoint VARCHAR,
    status_code BIGINT,
    latency_ms BIGINT,
    error_code VARCHAR,
    error_message VARCHAR,
    rating BIGINT,
    feedback_comment VARCHAR,
    topic VARCHAR,
    lesson_id VARCHAR,
    skill VARCHAR,
    correct BOOLEAN,
    quality DOUBLE,
    goal_id VARCHAR,
    goal_type VARCHAR,
    target_value DOUBLE,
    escalated_to_human BOOLEAN,
    data JSON,                              -- the original `data` object, all its fields
    extra JSON,                             -- top-level fields the contract does not list
    {LINEAGE_COLUMNS}
)
"""

REJECTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.rejects (
    entity VARCHAR NOT NULL,                -- events, users, payments, ...
    export_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    line_number BIGINT,                     -- 1-based physical line (CSV: as reported)
    reason_code VARCHAR NOT NULL,           -- invalid_utf8, invalid_json, missing_field, ...
    reason VARCHAR NOT NULL,                -- human readable detail
    raw_text VARCHAR,
    load_id VARCHAR NOT NULL,
    rejected_at TIMESTAMP NOT NULL
)
"""

LOAD_AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.load_audit (
    load_id VARCHAR NOT NULL,
    run_id VARCHAR,                         -- Dagster run id
    entity VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,           -- ndjson, ndjson.gz, parquet, csv, csv.gz
    file_bytes BIGINT,
    file_mtime DOUBLE,
    status VARCHAR NOT NULL,                -- loaded, failed, superseded
    message VARCHAR,
    records_read BIGINT NOT NULL,           -- non-blank lines / rows read
    blank_lines BIGINT NOT NULL,
    loaded BIGINT NOT NULL,                 -- rows that count (is_current) after this load
    rejected BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,             -- valid rows beaten by another copy of the same key
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL
)
"""


# --- platform entities -------------------------------------------------------------

# Column types understood by the CSV loader: each maps to a DuckDB type and a check.
#   str, ts (ISO-8601, offset or naive=UTC -> TIMESTAMP UTC), date, int, num, list (|-separated)
COLUMN_SQL_TYPES = {
    "str": "VARCHAR",
    "ts": "TIMESTAMP",
    "date": "DATE",
    "int": "BIGINT",
    "num": "DOUBLE",
    "money": "DECIMAL(18, 4)",
    "list": "VARCHAR[]",
}


class PlatformEntity:
    """One platform table of contract v1: its columns, key and load semantics."""

    def __init__(
        self,
        name: str,
        columns: dict[str, str],
        key: tuple[str, ...],
        required: tuple[str, ...],
        *,
        kind: str = "snapshot",
        enums: dict[str, tuple[str, ...]] | None = None,
        non_negative: tuple[str, ...] = (),
        personal: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.columns = columns
        self.key = key
        self.required = required
        self.kind = kind  # "snapshot": daily full snapshot; "increment": the day's rows
        self.enums = enums or {}
        self.non_negative = non_negative
        self.personal = personal

    @property
    def table(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    def ddl(self) -> str:
        cols = ",\n    ".join(f"{c} {COLUMN_SQL_TYPES[t]}" for c, t in self.columns.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (\n    {cols},\n"
            f"    extra JSON,\n    {LINEAGE_COLUMNS.strip()}\n)"
        )


PLATFORM_ENTITIES: tuple[PlatformEntity, ...] = (
    PlatformEntity(
        "users",
        {
            "user_id": "str",
            "email": "str",
            "display_name": "str",
            "signup_at": "ts",
            "country": "str",
            "timezone": "str",
            "acquisition_channel": "str",
            "plan": "str",
        },
        key=("user_id",),
        required=("user_id", "signup_at"),
        personal=("email", "display_name"),
    ),
    PlatformEntity(
        "creators",
        {"creator_id": "str", "name": "str", "category": "str", "joined_at": "ts"},
        key=("creator_id",),
        required=("creator_id",),
    ),
    PlatformEntity(
        "programs",
        {
            "program_id": "str",
            "creator_id": "str",
            "title": "str",
            "topics": "list",
            "price": "money",
            "currency": "str",
            "launched_at": "ts",
        },
        key=("program_id",),
        required=("program_id",),
        non_negative=("price",),
    ),
    PlatformEntity(
        "enrollments",
        {
            "enrollment_id": "str",
            "user_id": "str",
            "program_id": "str",
            "enrolled_at": "ts",
            "status": "str",
            "completed_at": "ts",
        },
        key=("enrollment_id",),
        required=("enrollment_id", "user_id", "program_id", "enrolled_at"),
        enums={"status": ("active", "completed", "cancelled")},
    ),
    PlatformEntity(
        "payments",
        {
            "payment_id": "str",
            "user_id": "str",
            "program_id": "str",
            "amount": "money",
            "currency": "str",
            "paid_at": "ts",
            "kind": "str",
        },
        key=("payment_id",),
        required=("payment_id", "amount", "currency", "paid_at", "kind"),
        kind="increment",
        enums={"kind": ("charge", "refund")},
        non_negative=("amount",),
    ),
    PlatformEntity(
        "experiment_assignments",
        {"experiment_id": "str", "variant": "str", "user_id": "str", "assigned_at": "ts"},
        key=("experiment_id", "user_id"),
        required=("experiment_id", "variant", "user_id"),
    ),
    PlatformEntity(
        "content_metrics",
        {
            "content_id": "str",
            "creator_id": "str",
            "platform": "str",
            "published_at": "ts",
            "as_of_date": "date",
            "impressions": "int",
            "views": "int",
            "watch_time_s": "num",
            "likes": "int",
            "comments": "int",
            "shares": "int",
            "clicks": "int",
            "conversions": "int",
            "followers_gained": "int",
        },
        key=("content_id", "as_of_date"),
        required=("content_id", "as_of_date"),
        kind="increment",
        non_negative=(
            "impressions", "views", "watch_time_s", "likes", "comments",
            "shares", "clicks", "conversions",
        ),
    ),
)

PLATFORM_BY_NAME = {e.name: e for e in PLATFORM_ENTITIES}


def all_ddl() -> list[str]:
    """Statements that create the raw schema and every raw table (idempotent)."""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}",
        EVENTS_DDL,
        # contract 1.1: a warehouse created before it gets the column (NULL on old rows)
        f"ALTER TABLE {RAW_SCHEMA}.events ADD COLUMN IF NOT EXISTS anonymous_id VARCHAR",
        REJECTS_DDL,
        LOAD_AUDIT_DDL,
        *(e.ddl() for e in PLATFORM_ENTITIES),
        reconciliation_view_ddl(),
    ]


def reconciliation_view_ddl() -> str:
    """``raw.file_reconciliation``: every file of the latest load of each export day, with
    its counts as they stand now (a later re-sent copy turns a loaded row into a
    duplicate; an older snapshot's rows are all superseded copies)."""
    copies = [
        "SELECT 'events' AS entity, source_file, count(*) FILTER (WHERE is_current) AS n_current,"
        " count(*) FILTER (WHERE NOT is_current) AS n_copies FROM raw.events GROUP BY ALL"
    ] + [
        f"SELECT '{e.name}', source_file, count(*) FILTER (WHERE is_current),"
        f" count(*) FILTER (WHERE NOT is_current) FROM {e.table} GROUP BY ALL"
        for e in PLATFORM_ENTITIES
    ]
    latest_snapshot = " UNION ALL ".join(
        f"SELECT '{e.name}' AS entity, max(export_date) AS snapshot_date FROM {e.table}"
        for e in PLATFORM_ENTITIES
        if e.kind == "snapshot"
    )
    return f"""
CREATE OR REPLACE VIEW {RAW_SCHEMA}.file_reconciliation AS
WITH latest AS (
    SELECT entity, export_date, arg_max(load_id, finished_at) AS load_id
    FROM {RAW_SCHEMA}.load_audit GROUP BY ALL
), files AS (
    SELECT a.* FROM {RAW_SCHEMA}.load_audit a JOIN latest USING (entity, export_date, load_id)
), copies AS (
    {" UNION ALL ".join(copies)}
), rejects AS (
    SELECT entity, source_file, count(*) AS n_rejected FROM {RAW_SCHEMA}.rejects GROUP BY ALL
), snapshots AS ({latest_snapshot}), counted AS (
    SELECT f.entity, f.export_date, f.source_file, f.status, f.message, f.records_read,
           coalesce(r.n_rejected, 0) AS rejected,
           s.snapshot_date IS NOT NULL AND f.export_date < s.snapshot_date AS superseded,
           coalesce(c.n_current, 0) AS n_current, coalesce(c.n_copies, 0) AS n_copies
    FROM files f
    LEFT JOIN copies c USING (entity, source_file)
    LEFT JOIN rejects r USING (entity, source_file)
    LEFT JOIN snapshots s USING (entity)
)
SELECT entity, export_date, source_file, status, message, records_read,
       CASE WHEN superseded THEN 0 ELSE n_current END AS loaded,
       rejected,
       CASE WHEN superseded THEN records_read - rejected ELSE n_copies END AS duplicates,
       status IN ('failed', 'ignored')
           OR records_read = (CASE WHEN superseded THEN records_read - rejected
                                   ELSE n_current + n_copies END) + rejected AS reconciles
FROM counted
"""
