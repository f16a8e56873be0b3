"""``ops.data_quality``: every expectation outcome of every validation, and the views
the gate, the reports and ``insights status`` read."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from datetime import UTC, date, datetime

import duckdb

from data_quality.outcomes import Outcome

DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """
    CREATE TABLE IF NOT EXISTS ops.data_quality (
        validation_id VARCHAR NOT NULL,   -- one check run on one asset
        run_id VARCHAR,                   -- Dagster run id
        validated_at TIMESTAMP NOT NULL,  -- UTC
        asset_key VARCHAR NOT NULL,       -- e.g. marts/engagement_daily
        check_name VARCHAR NOT NULL,      -- e.g. gx_invariants
        suite VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        batch VARCHAR NOT NULL,           -- export days validated, '' for a whole table
        expectation VARCHAR NOT NULL,
        columns VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,        -- blocking | warning
        passed BOOLEAN NOT NULL,
        observed VARCHAR,
        unexpected_count BIGINT,
        element_count BIGINT,
        examples VARCHAR,                 -- JSON list of up to 5 failing values
        fingerprint VARCHAR               -- rows:hash of the table validated (marts, ml)
    )
    """,
    "ALTER TABLE ops.data_quality ADD COLUMN IF NOT EXISTS fingerprint VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS ops.data_quality_days (
        asset_key VARCHAR NOT NULL,
        check_name VARCHAR NOT NULL,
        export_date DATE NOT NULL,
        validation_id VARCHAR NOT NULL,
        validated_at TIMESTAMP NOT NULL,
        blocking_failed BOOLEAN NOT NULL,
        load_id VARCHAR                   -- the load of the day that was validated
    )
    """,
    "ALTER TABLE ops.data_quality_days ADD COLUMN IF NOT EXISTS load_id VARCHAR",
    """
    CREATE OR REPLACE VIEW ops.data_quality_latest AS
    SELECT * FROM ops.data_quality
    QUALIFY validation_id = first_value(validation_id) OVER (
        PARTITION BY asset_key, check_name ORDER BY validated_at DESC, validation_id DESC)
    """,
    """
    CREATE OR REPLACE VIEW ops.data_quality_checks AS
    SELECT asset_key, check_name, any_value(run_id) AS run_id,
           max(validated_at) AS validated_at,
           count(*) AS expectations,
           count(*) FILTER (WHERE NOT passed) AS failed,
           count(*) FILTER (WHERE NOT passed AND severity = 'blocking') AS blocking_failed,
           CASE WHEN count(*) FILTER (WHERE NOT passed AND severity = 'blocking') > 0
                THEN 'failed'
                WHEN count(*) FILTER (WHERE NOT passed) > 0 THEN 'warning'
                ELSE 'passed' END AS status
    FROM ops.data_quality_latest
    GROUP BY 1, 2
    """,
]


#: connections that ran the DDL: a check step records ~100 validations on one
#: connection, and the DDL costs ~10 ms each time (seven catalog statements)
_ENSURED: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or migrate) the tables and views, once per connection."""
    if con in _ENSURED:
        return
    for statement in DDL:
        con.execute(statement)
    _ENSURED.add(con)


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the tables exist (readers never create them: they may be read-only)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'ops' "
            "AND view_name = 'data_quality_checks' AND database_name = current_database()"
        ).fetchone()[0]
    )


def record(
    con: duckdb.DuckDBPyConnection,
    outcomes: Sequence[Outcome],
    *,
    asset_key: str,
    check_name: str,
    run_id: str | None,
    days: Sequence[date] = (),
    fingerprint: str | None = None,
) -> str:
    """Store one validation's outcomes: for a table check, the fingerprint of the table
    it saw; for a day-partitioned raw check, which export days (and which load of each)
    it covered and whether they failed a blocking expectation."""
    ensure_tables(con)
    loads = _latest_loads(con, asset_key, days)
    validation_id = uuid.uuid4().hex
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (validation_id, run_id, now, asset_key, check_name, o.suite, o.table_name, o.batch,
         o.expectation, o.columns, o.description, o.severity, o.passed, o.observed,
         o.unexpected_count, o.element_count, o.examples, fingerprint)
        for o in outcomes
    ]
    con.execute("BEGIN")
    try:
        if rows:
            con.executemany(
                "INSERT INTO ops.data_quality VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        failed_batches = {o.batch for o in outcomes if o.blocking_failure}
        day_rows = [
            (asset_key, check_name, d, validation_id, now,
             any(_in_batch(d, b) for b in failed_batches), loads.get(d))
            for d in days
        ]
        if day_rows:
            con.executemany(
                "INSERT INTO ops.data_quality_days VALUES (?, ?, ?, ?, ?, ?, ?)", day_rows
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return validation_id


def _entity(asset_key: str) -> str | None:
    return asset_key.split("/", 1)[1] if asset_key.startswith("raw/") else None


def _latest_loads(
    con: duckdb.DuckDBPyConnection, asset_key: str, days: Sequence[date]
) -> dict[date, str]:
    """The latest load of each export day of a raw asset (raw.load_audit)."""
    entity = _entity(asset_key)
    if entity is None or not days:
        return {}
    return dict(
        con.execute(
            "SELECT export_date, arg_max(load_id, finished_at) FROM raw.load_audit "
            "WHERE entity = ? AND export_date IN (SELECT unnest(?::DATE[])) GROUP BY 1",
            [entity, sorted(days)],
        ).fetchall()
    )


def _in_batch(day: date, batch: str) -> bool:
    """Whether a batch label covers ``day``: '' (everything), 'D', 'D1..D2 (n days)' or a
    list 'D1, D2, D3' (see raw_suites.batch_label)."""
    if not batch:
        return True
    label = batch.split(" (", 1)[0]
    if ".." in label:
        first, _, last = label.partition("..")
        return first <= day.isoformat() <= last
    return day.isoformat() in {part.strip() for part in label.split(",")}


def failing_days(
    con: duckdb.DuckDBPyConnection, asset_key: str, check_name: str
) -> list[date]:
    """Export days whose latest validation failed a blocking expectation: they are
    validated again on every run until they pass."""
    if not _exists(con):
        return []
    return [
        d
        for (d,) in con.execute(
            """
            SELECT export_date FROM ops.data_quality_days
            WHERE asset_key = ? AND check_name = ?
            QUALIFY row_number() OVER (
                PARTITION BY export_date ORDER BY validated_at DESC, validation_id DESC) = 1
                AND blocking_failed
            ORDER BY 1
            """,
            [asset_key, check_name],
        ).fetchall()
    ]


def unvalidated_days(
    con: duckdb.DuckDBPyConnection, entity: str, check_name: str
) -> list[date]:
    """Export days of an entity whose latest load has no validation by this check (a check
    that never ran, or crashed, after the load): validated on the next run, and the
    publish refuses until then."""
    if not _exists(con):
        rows = con.execute(
            "SELECT DISTINCT export_date FROM raw.load_audit WHERE entity = ? ORDER BY 1",
            [entity],
        ).fetchall()
        return [d for (d,) in rows]
    return [
        d
        for (d,) in con.execute(
            """
            WITH latest AS (
                SELECT export_date, arg_max(load_id, finished_at) AS load_id
                FROM raw.load_audit WHERE entity = ? GROUP BY 1
            )
            SELECT l.export_date FROM latest AS l
            WHERE NOT EXISTS (
                SELECT 1 FROM ops.data_quality_days AS v
                WHERE v.asset_key = 'raw/' || ? AND v.check_name = ?
                  AND v.export_date = l.export_date AND v.load_id = l.load_id)
            ORDER BY 1
            """,
            [entity, entity, check_name],
        ).fetchall()
    ]


def table_fingerprint(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """Rows and an order-independent hash of every row: changes when the table does."""
    relation = '"' + schema.replace('"', '""') + '"."' + table.replace('"', '""') + '"'
    return str(
        con.execute(
            f"SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM {relation} AS t"
        ).fetchone()[0]
    )


def stale_validations(
    con: duckdb.DuckDBPyConnection, tables: Sequence[tuple[str, str, str]]
) -> list[str]:
    """For (asset_key, schema, table): messages for tables never validated, or changed
    since the latest validation of one of their checks (built after it was checked)."""
    latest: dict[str, set[str | None]] = {}
    if _exists(con):
        for asset_key, fingerprint in con.execute(
            "SELECT DISTINCT asset_key, fingerprint FROM ops.data_quality_latest"
        ).fetchall():
            latest.setdefault(asset_key, set()).add(fingerprint)
    problems = []
    for asset_key, schema, table in tables:
        seen = latest.get(asset_key)
        if not seen:
            problems.append(f"{schema}.{table}: never validated")
            continue
        current = table_fingerprint(con, schema, table)
        if seen != {current}:
            problems.append(f"{schema}.{table}: changed since its latest validation")
    return problems


def blocking_failures(con: duckdb.DuckDBPyConnection) -> list[Outcome]:
    """Failed blocking expectations of the latest validation of every check."""
    return latest_outcomes(con, only_failed=True, blocking_only=True)


def latest_outcomes(
    con: duckdb.DuckDBPyConnection, *, only_failed: bool = False, blocking_only: bool = False
) -> list[Outcome]:
    if not _exists(con):
        return []
    where = []
    if only_failed:
        where.append("NOT passed")
    if blocking_only:
        where.append("severity = 'blocking'")
    sql = (
        "SELECT suite, table_name, batch, expectation, columns, description, severity, "
        "passed, observed, unexpected_count, element_count, examples "
        "FROM ops.data_quality_latest"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY passed, severity, table_name, suite, batch, expectation, columns"
    )
    return [Outcome(*row) for row in con.execute(sql).fetchall()]


def check_statuses(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(asset_key, check_name, status, expectations, failed, validated_at) per check."""
    if not _exists(con):
        return []
    return con.execute(
        "SELECT asset_key, check_name, status, expectations, failed, validated_at "
        "FROM ops.data_quality_checks ORDER BY status <> 'failed', status <> 'warning', "
        "asset_key, check_name"
    ).fetchall()
