"""The freshness check: flags late exports (a warning, recorded like every check).

Runs on its own schedule (``freshness_schedule``, after the daily refresh is due), so a
day whose export never arrived is flagged even though no run loads anything, and in every
``refresh_job`` after the raw layer is loaded.

It judges against today (the clock, the default for scheduled runs) or against the newest
export day loaded (``data``: a backfill of old days, the demo): the run tag
``insights/freshness_reference`` when the run has one (``insights run --backfill``,
``insights demo``), else the setting ``data_quality.freshness_reference``.
"""

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from data_quality import store
from data_quality.freshness import (
    REFERENCES,
    freshness_outcomes,
    newest_loaded_day,
    record_reference,
    reference_for,
)
from data_quality.html_summary import write_summary
from ingest.landing import EVENTS, landing_entities, scan_landing
from orchestration.assets.quality import check_result
from orchestration.keys import raw_key
from orchestration.resources import LandingResource, ReportsResource, WarehouseResource
from warehouse.settings import load_settings

FRESHNESS = "export_freshness"
# run tag naming the reference (clock | data); it overrides the setting for that run
FRESHNESS_REFERENCE_TAG = "insights/freshness_reference"


def reference_kind(tags: Mapping[str, str], setting: str) -> str:
    """Pure: the run's tag when it names a known reference, else the setting."""
    tagged = tags.get(FRESHNESS_REFERENCE_TAG)
    return tagged if tagged in REFERENCES else setting


@dg.asset_check(
    asset=raw_key(EVENTS),
    name=FRESHNESS,
    blocking=False,
    description="Late exports: every entity's newest complete export day is at most "
    "data_quality.freshness_max_lag_days old and loaded, against today (reporting time "
    "zone) or the newest export day loaded (data_quality.freshness_reference, or the run "
    "tag insights/freshness_reference). A warning.",
)
def export_freshness(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    reports: ReportsResource,
) -> dg.AssetCheckResult:
    settings = load_settings()
    tags = context.run.tags
    tagged = tags.get(FRESHNESS_REFERENCE_TAG)
    if tagged is not None and tagged not in REFERENCES:
        context.log.warning(f"run tag {FRESHNESS_REFERENCE_TAG}={tagged!r} is not one of "
                            f"{REFERENCES}; using the setting")
    kind = reference_kind(tags, settings.data_quality.freshness_reference)
    today = datetime.now(ZoneInfo(settings.reporting_timezone)).date()
    max_lag = settings.data_quality.freshness_max_lag_days
    entities = landing_entities()
    complete: dict = {}
    for day in scan_landing(landing.root):
        if day.complete and (day.entity not in complete or day.export_date > complete[day.entity]):
            complete[day.entity] = day.export_date
    with warehouse.writer(holder=f"run {context.run.run_id} (freshness)") as con:
        loaded = dict(con.execute(
            "SELECT entity, max(export_date) FROM raw.load_audit GROUP BY entity").fetchall())
        reference = reference_for(kind, today, newest_loaded_day(con))
        context.log.info(f"freshness judged against {reference.describe()} ({kind})")
        outcomes = freshness_outcomes(
            today, complete, loaded, entities, max_lag_days=max_lag, reference=reference)
        store.record(con, outcomes, asset_key=raw_key(EVENTS).to_user_string(),
                     check_name=FRESHNESS, run_id=context.run.run_id)
        record_reference(con, reference, max_lag_days=max_lag, run_id=context.run.run_id)
        write_summary(con, reports.data_quality_page)
    return check_result(dg.AssetCheckKey(raw_key(EVENTS), FRESHNESS), outcomes,
                        blocking=False, seconds=0.0)
