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

from orchestration.keys import (
    ALERTS_KEY,
    REPORT_MARTS,
    REPORT_ML,
    dbt_key,
    mart_key,
    ml_key,
    report_key,
)
from orchestration.resources import ReportsResource, WarehouseResource
from reports.chart_cache import ChartCache
from reports.content import DAILY, MONTHLY, QUARTERLY, WEEKLY
from reports.render import render
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings

REPORTS_GROUP = "reports"

# the report assets of a run execute in one process (the in-process executor), one kind
# after another: a chart the weekly pages share with the daily ones converts once
_CHARTS = ChartCache()

REPORT_DEPS = (
    [dbt_key("intermediate", "int_as_of_date")]
    + [mart_key(name) for name in REPORT_MARTS]
    + [ml_key(name) for name in REPORT_ML]
    # the summary lists the alerts that fired for the period: evaluated first
    + [ALERTS_KEY]
)


def _materialize(kind: str, context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 reports: ReportsResource) -> dg.MaterializeResult:
    settings = load_settings()
    root = reports.root
    with warehouse.writer(holder=f"run {context.run_id} (reports {kind})") as con:
        result = render(con, root, kind, settings.reports, run_id=context.run_id,
                        cost_currency=settings.metrics.cost_currency, chart_cache=_CHARTS)
        failpoint(f"reports.{kind}.rendered")  # files written and indexed, step not recorded
    overall = result.overall_html(kind)
    context.log.info(f"{kind} reports: {result.reports} reports, {len(result.files)} files "
                     f"in {result.seconds:.2f} s under {root} ({result.charts} charts, "
                     f"{result.charts_cached} from the cache)")
    metadata: dict[str, Any] = {
        "as_of_date": result.as_of.isoformat() if result.as_of else "",
        "reports": result.reports,
        "files": len(result.files),
        "bytes": sum(f.bytes for f in result.files),
        "seconds": round(result.seconds, 3),
        "charts": result.charts,
        "charts_from_cache": result.charts_cached,
        "root": dg.MetadataValue.path(str(root)),
    }
    if overall:
        metadata["overall_html"] = dg.MetadataValue.path(str(root / overall))
    return dg.MaterializeResult(metadata=metadata)


def _report_asset(kind: str, description: str) -> dg.AssetsDefinition:
    """The asset ``reports/<kind>``: the overall report and one per creator of that kind."""

    @dg.asset(key=report_key(kind), group_name=REPORTS_GROUP, deps=REPORT_DEPS,
              kinds={"python", "html"}, description=description)
    def _reports(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 reports: ReportsResource) -> dg.MaterializeResult:
        return _materialize(kind, context, warehouse, reports)

    return _reports


_FILES = "overall and per creator: HTML with inline charts, CSV and JSON, indexed in ops.reports"
daily_reports = _report_asset(DAILY, (
    "Daily reports (the as-of date against the previous day and the same weekday last "
    f"week), {_FILES}."))
weekly_reports = _report_asset(WEEKLY, (
    "Weekly reports (the ISO week ending on or before the as-of date against the week "
    f"before), {_FILES}."))
monthly_reports = _report_asset(MONTHLY, (
    "Monthly reports (the calendar month ending on or before the as-of date against the "
    f"month before), {_FILES}; rendered by period_reports_job on the 1st of each month, "
    "not by every refresh."))
quarterly_reports = _report_asset(QUARTERLY, (
    "Quarterly reports (the calendar quarter ending on or before the as-of date against "
    f"the quarter before), {_FILES}; rendered by period_reports_job."))

report_assets = [daily_reports, weekly_reports, monthly_reports, quarterly_reports]
