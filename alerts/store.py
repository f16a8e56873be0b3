"""``ops.alerts`` (one row per fired alert, keyed by its stable ``alert_id``) and
``ops.alert_evaluations`` (what every rule did in every run, including skips)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb

from alerts.rules import Alert, RuleOutcome

DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """
    CREATE TABLE IF NOT EXISTS ops.alerts (
        alert_id VARCHAR NOT NULL,      -- hash of rule, date, creator_id, metric
        rule VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,          -- threshold | change_vs_same_weekday | anomaly
        severity VARCHAR NOT NULL,      -- low | medium | high
        date DATE NOT NULL,             -- the date judged (latest date of the table)
        creator_id VARCHAR NOT NULL,    -- '__all__' for all creators
        metric VARCHAR NOT NULL,
        value DOUBLE,
        threshold DOUBLE,               -- the bound, the max drop, or the expected value
        message VARCHAR NOT NULL,       -- plain language, quoting the numbers
        fired_at TIMESTAMP NOT NULL,    -- UTC, first time it fired
        run_id VARCHAR,                 -- Dagster run that first fired it
        sink_status VARCHAR NOT NULL    -- JSON: {sink name: {status, at, error?}}
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ops.alert_evaluations (
        run_id VARCHAR,
        evaluated_at TIMESTAMP NOT NULL,
        rule VARCHAR NOT NULL,
        status VARCHAR NOT NULL,        -- fired | ok | skipped | error
        latest_date DATE,
        alerts INTEGER NOT NULL,
        note VARCHAR NOT NULL
    )
    """,
]


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def payload(alert: Alert, fired_at: datetime, run_id: str | None) -> dict[str, Any]:
    return {**alert.as_json(), "fired_at": fired_at.isoformat(), "run_id": run_id}


def record_alerts(
    con: duckdb.DuckDBPyConnection,
    alerts: list[Alert],
    *,
    run_id: str | None,
    fired_at: datetime,
    sink_names: Iterable[str],
) -> list[tuple[dict[str, Any], set[str]]]:
    """Insert the alerts not stored yet; return, for every alert, its payload and the
    sinks it still has to reach (all of them when new; on a rerun only those whose last
    attempt did not succeed, so an alert is sent to a sink once)."""
    ensure_tables(con)
    names = set(sink_names)
    ids = [a.alert_id for a in alerts]
    existing: dict[str, tuple[dict[str, Any], datetime, str | None]] = {}
    if ids:
        for aid, status, first_fired, first_run in con.execute(
            "SELECT alert_id, sink_status, fired_at, run_id FROM ops.alerts "
            "WHERE alert_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
        ).fetchall():
            existing[aid] = (json.loads(status or "{}"), first_fired, first_run)
    pending: list[tuple[dict[str, Any], set[str]]] = []
    seen: set[str] = set()
    for alert in alerts:
        if alert.alert_id in seen:
            continue
        seen.add(alert.alert_id)
        if alert.alert_id in existing:
            status, first_fired, first_run = existing[alert.alert_id]
            todo = {n for n in names if (status.get(n) or {}).get("status") != "sent"}
            if todo:
                pending.append((payload(alert, first_fired, first_run), todo))
            continue
        con.execute(
            "INSERT INTO ops.alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [alert.alert_id, alert.rule, alert.kind, alert.severity, alert.date,
             alert.creator_id, alert.metric, alert.value, alert.threshold, alert.message,
             fired_at, run_id,
             json.dumps({n: {"status": "pending"} for n in sorted(names)}, sort_keys=True)],
        )
        if names:
            pending.append((payload(alert, fired_at, run_id), set(names)))
    return pending


def update_sink_status(
    con: duckdb.DuckDBPyConnection, results: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """Merge each alert's send results (by sink name) into its stored sink_status."""
    for aid, by_sink in results.items():
        if not by_sink:
            continue
        row = con.execute(
            "SELECT sink_status FROM ops.alerts WHERE alert_id = ?", [aid]
        ).fetchone()
        status = json.loads(row[0]) if row and row[0] else {}
        status.update(by_sink)
        con.execute("UPDATE ops.alerts SET sink_status = ? WHERE alert_id = ?",
                    [json.dumps(status, sort_keys=True), aid])


def record_evaluations(
    con: duckdb.DuckDBPyConnection,
    outcomes: list[RuleOutcome],
    *,
    run_id: str | None,
    evaluated_at: datetime,
) -> None:
    ensure_tables(con)
    for o in outcomes:
        con.execute(
            "INSERT INTO ops.alert_evaluations VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, evaluated_at, o.rule, o.status, o.latest_date, len(o.alerts), o.note],
        )
