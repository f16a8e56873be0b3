"""Report assets: ``reports/daily``, ``reports/weekly``, ``reports/monthly`` and
``reports/quarterly``.

Each renders the overall report and one per creator (settings ``reports:``) as HTML with
CSV and JSON beside it under INSIGHTS_REPORTS_DIR, and indexes the files in
``ops.reports`` (see :mod:`reports.render`). They read the marts and ``ml`` tables of
``REPORT_MARTS`` and ``REPORT_ML`` (orchestration/keys.py); a missing or empty table makes
its section say "no data" rather than failing the asset.
"""

from typing import Any

import dagster as dg

from orchestration.keys import REPORT_MARTS, REPORT_ML, dbt_key, mart_key, ml_key, report_key
from orchestration.resources import ReportsResource, WarehouseResource
from reports.content import DAILY, MONTHLY, QUARTERLY, WEEKLY
from reports.render import render
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings

REPORTS_GROUP = "reports"

REPORT_DEPS = (
    [dbt_key("intermediate", "int_as_of_date")]
    + [mart_key(name) for name in REPORT_MARTS]
    + [ml_key(name) for name in REPORT_ML]
)


def _materialize(kind: str, context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 reports: ReportsResource) -> dg.MaterializeResult:
    cfg = load_settings().reports
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


@dg.asset(
    key=report_key(MONTHLY), group_name=REPORTS_GROUP, deps=REPORT_DEPS,
    kinds={"python", "html"},
    description="Monthly reports (the calendar month ending on or before the as-of date "
    "against the month before), overall and per creator, indexed in ops.reports; rendered "
    "by period_reports_job on the 1st of each month, not by every refresh.",
)
def monthly_reports(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    reports: ReportsResource) -> dg.MaterializeResult:
    return _materialize(MONTHLY, context, warehouse, reports)


@dg.asset(
    key=report_key(QUARTERLY), group_name=REPORTS_GROUP, deps=REPORT_DEPS,
    kinds={"python", "html"},
    description="Quarterly reports (the calendar quarter ending on or before the as-of "
    "date against the quarter before), overall and per creator, indexed in ops.reports; "
    "rendered by period_reports_job.",
)
def quarterly_reports(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      reports: ReportsResource) -> dg.MaterializeResult:
    return _materialize(QUARTERLY, context, warehouse, reports)


report_assets = [daily_reports, weekly_reports, monthly_reports, quarterly_reports]
