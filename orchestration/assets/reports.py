"""Report assets: ``reports/daily`` and ``reports/weekly``.

Each renders the overall report and one per creator (settings ``reports:``) as HTML with
CSV and JSON beside it under INSIGHTS_REPORTS_DIR, and indexes the files in
``ops.reports`` (see :mod:`reports.render`). They read the marts and ``ml`` tables listed
in :data:`MART_DEPS` and :data:`ML_DEPS`; a missing or empty table makes its section say
"no data" rather than failing the asset.
"""

from typing import Any

import dagster as dg

from orchestration.failpoints import failpoint
from orchestration.resources import ReportsResource, WarehouseResource
from reports.config import load_config
from reports.content import DAILY, WEEKLY
from reports.render import render

REPORTS_GROUP = "reports"

MART_DEPS = [
    "engagement_daily", "user_lifecycle", "retention_cohorts", "funnel_steps",
    "conversation_daily", "intent_daily", "nlu_daily", "session_drop_off", "topic_mastery",
    "revenue_daily",
]
ML_DEPS = ["engagement_forecast", "forecast_backtest", "metric_anomalies", "insights"]

REPORT_DEPS = (
    [dg.AssetKey(["intermediate", "int_as_of_date"])]
    + [dg.AssetKey(["marts", name]) for name in MART_DEPS]
    + [dg.AssetKey(["ml", name]) for name in ML_DEPS]
)


def report_key(kind: str) -> dg.AssetKey:
    return dg.AssetKey(["reports", kind])


def _materialize(kind: str, context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 reports: ReportsResource) -> dg.MaterializeResult:
    cfg = load_config()
    root = reports.root
    with warehouse.writer(holder=f"run {context.run_id} (reports {kind})") as con:
        result = render(con, root, kind, cfg, run_id=context.run_id)
        failpoint(f"reports.{kind}.rendered")  # files written and indexed, step not recorded
    overall = result.overall_html(kind)
    context.log.info(f"{kind} reports: {result.reports} reports, {len(result.files)} files "
                     f"in {result.seconds:.2f} s under {root}")
    metadata: dict[str, Any] = {
        "as_of_date": result.as_of.isoformat() if result.as_of else "",
        "reports": result.reports,
        "files": len(result.files),
        "bytes": sum(f.bytes for f in result.files),
        "seconds": round(result.seconds, 3),
        "root": dg.MetadataValue.path(str(root)),
    }
    if overall:
        metadata["overall_html"] = dg.MetadataValue.path(str(root / overall))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=report_key(DAILY), group_name=REPORTS_GROUP, deps=REPORT_DEPS,
    kinds={"python", "html"},
    description="Daily reports (the as-of date against the previous day and the same "
    "weekday last week), overall and per creator: HTML with inline charts, CSV and JSON, "
    "indexed in ops.reports.",
)
def daily_reports(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  reports: ReportsResource) -> dg.MaterializeResult:
    return _materialize(DAILY, context, warehouse, reports)


@dg.asset(
    key=report_key(WEEKLY), group_name=REPORTS_GROUP, deps=REPORT_DEPS,
    kinds={"python", "html"},
    description="Weekly reports (the ISO week ending on or before the as-of date against "
    "the week before), overall and per creator: HTML with inline charts, CSV and JSON, "
    "indexed in ops.reports.",
)
def weekly_reports(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   reports: ReportsResource) -> dg.MaterializeResult:
    return _materialize(WEEKLY, context, warehouse, reports)


report_assets = [daily_reports, weekly_reports]
