"""The freshness check: flags late exports (a warning, recorded like every check).

Runs on its own schedule (``freshness_schedule``, after the daily refresh is due), so a
day whose export never arrived is flagged even though no run loads anything.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from data_quality import store
from data_quality.freshness import freshness_outcomes
from data_quality.html_summary import write_summary
from ingest.landing import EVENTS, landing_entities, scan_landing
from orchestration.assets.quality import check_result
from orchestration.keys import raw_key
from orchestration.resources import LandingResource, ReportsResource, WarehouseResource
from warehouse.settings import load_settings

FRESHNESS = "export_freshness"


@dg.asset_check(
    asset=raw_key(EVENTS),
    name=FRESHNESS,
    blocking=False,
    description="Late exports: every entity's newest complete export day is at most "
    "data_quality.freshness_max_lag_days old (reporting time zone) and loaded. A warning.",
)
def export_freshness(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    reports: ReportsResource,
) -> dg.AssetCheckResult:
    settings = load_settings()
    today = datetime.now(ZoneInfo(settings.reporting_timezone)).date()
    entities = landing_entities()
    complete: dict = {}
    for day in scan_landing(landing.root):
        if day.complete and (day.entity not in complete or day.export_date > complete[day.entity]):
            complete[day.entity] = day.export_date
    with warehouse.writer(holder=f"run {context.run.run_id} (freshness)") as con:
        loaded = dict(con.execute(
            "SELECT entity, max(export_date) FROM raw.load_audit GROUP BY entity").fetchall())
        outcomes = freshness_outcomes(
            today, complete, loaded, entities,
            max_lag_days=settings.data_quality.freshness_max_lag_days)
        store.record(con, outcomes, asset_key=raw_key(EVENTS).to_user_string(),
                     check_name=FRESHNESS, run_id=context.run.run_id)
        write_summary(con, reports.data_quality_page)
    return check_result(dg.AssetCheckKey(raw_key(EVENTS), FRESHNESS), outcomes,
                        blocking=False, seconds=0.0)
