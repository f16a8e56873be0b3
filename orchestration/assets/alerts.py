"""The alerts asset ``ops/alerts``: evaluate the configured rules (settings ``alerts:``)
on the latest date of the marts and ``ml`` tables, store fired alerts in ``ops.alerts``
and send them to the configured sinks.

Rules are evaluated and new alerts stored under the writer lock; sinks are called after
the lock is released (a slow webhook never holds up other writers), then the send
results are stored under the lock again. A rule whose table is missing is skipped and
recorded in ``ops.alert_evaluations``; a failing sink is logged and recorded in
``sink_status``; neither fails the run. Invalid ``alerts:`` settings
fail when the settings load, before any run starts.
"""


import os
from collections import Counter
from datetime import UTC, datetime

import dagster as dg

from alerts.rules import evaluate_rules
from alerts.sinks import deliver
from alerts.store import record_alerts, record_evaluations, update_sink_status
from orchestration.keys import ALERT_TABLES, ALERTS_KEY, table_key
from orchestration.resources import ReportsResource, WarehouseResource
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings

ALERTS_GROUP = "alerts"


def _deps() -> list[dg.AssetKey]:
    """The default tables plus those of the configured rules."""
    keys = [table_key(t) for t in ALERT_TABLES]
    for rule in load_settings().alerts.rules:
        if table_key(rule.table) not in keys:
            keys.append(table_key(rule.table))
    return keys


@dg.asset(
    key=ALERTS_KEY,
    deps=_deps(),
    group_name=ALERTS_GROUP,
    kinds={"python", "duckdb"},
    description="ops.alerts: alerts fired by the rules of the settings (alerts.rules) on "
    "the latest date of the marts and ml tables, sent once to the configured sinks "
    "(alerts.sinks: a JSON-lines file, a webhook). A failing sink never fails the run.",
)
def ops_alerts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    cfg = load_settings().alerts.placed(reports.root)
    if not cfg.enabled:
        context.log.info("alerts disabled (alerts.enabled: false)")
        return dg.MaterializeResult(metadata={"enabled": False})
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    run_id = context.run_id
    with warehouse.writer(holder=f"run {run_id} (alerts)") as con:
        outcomes = evaluate_rules(con, cfg.rules, reports.root)
        alerts = [a for o in outcomes for a in o.alerts]
        pending = record_alerts(con, alerts, run_id=run_id, fired_at=now,
                                sink_names=[s.name for s in cfg.sinks])
        record_evaluations(con, outcomes, run_id=run_id, evaluated_at=now)
    for o in outcomes:
        if o.status == "skipped":
            context.log.info(f"alert rule {o.rule} skipped: {o.note}")
        elif o.status == "error":
            context.log.error(f"alert rule {o.rule} could not be evaluated: {o.note}")
    for a in alerts:
        context.log.warning(f"alert [{a.severity}] {a.rule}: {a.message}")

    failpoint("alerts.before_delivery")  # alerts stored, not yet sent to the sinks
    # SMTP passwords stay out of the settings file: read here from the variable named
    passwords = {s.name: os.environ[s.password_env] for s in cfg.sinks
                 if s.password_env and s.password_env in os.environ}
    results = deliver(cfg.sinks, pending, passwords=passwords)
    if any(results):
        with warehouse.writer(holder=f"run {run_id} (alerts sink status)") as con:
            update_sink_status(con, {p["alert_id"]: r for (p, _), r in zip(pending, results,
                                                                          strict=True)})
    sends = Counter(r["status"] for by_sink in results for r in by_sink.values())
    if sends.get("failed"):
        context.log.warning(f"{sends['failed']} alert send(s) failed; see ops.alerts.sink_status")
    statuses = Counter(o.status for o in outcomes)
    return dg.MaterializeResult(
        metadata={
            "rules": len(outcomes),
            "fired_rules": statuses.get("fired", 0),
            "skipped_rules": statuses.get("skipped", 0),
            "error_rules": statuses.get("error", 0),
            "alerts": len(alerts),
            "sent": sends.get("sent", 0),
            "send_failures": sends.get("failed", 0),
            "outcomes": dg.MetadataValue.json(
                [{"rule": o.rule, "status": o.status, "note": o.note} for o in outcomes]),
        }
    )


alert_assets = [ops_alerts]
