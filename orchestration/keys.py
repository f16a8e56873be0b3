"""Asset keys and the table lists assets depend on: the one place that spells them.

Keys follow the warehouse: ``landing/<entity>`` (the export files), ``raw/<entity>``
(ingest), ``<schema>/<model>`` for dbt (``staging``, ``intermediate``, ``marts``),
``ml/<table>``, ``reports/<kind>``, ``ops/alerts``, ``serving/database`` and
``analyses/<name>``.
"""

from __future__ import annotations

import dagster as dg


def landing_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", entity])


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


def dbt_key(schema: str, model: str) -> dg.AssetKey:
    return dg.AssetKey([schema, model])


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


def ml_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["ml", name])


def report_key(kind: str) -> dg.AssetKey:
    return dg.AssetKey(["reports", kind])


def analysis_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["analyses", name])


def table_key(table: str) -> dg.AssetKey:
    """``schema.table`` -> its asset key (``marts.engagement_daily`` -> marts/engagement_daily)."""
    return dg.AssetKey(table.split(".", 1))


ALERTS_KEY = dg.AssetKey(["ops", "alerts"])
# the ml table dbt reads: fitted by the dbt step itself before it builds
BKT_PARAMS_KEY = ml_key("bkt_params")
SERVING_KEY = dg.AssetKey(["serving", "database"])

# the as-of date of a run and the activity every ml table is computed from
AS_OF = [dbt_key("intermediate", "int_as_of_date"),
         dbt_key("intermediate", "int_user_activity_days")]

# what the reports read (a missing table makes its section say "no data")
REPORT_MARTS = (
    "engagement_daily", "user_lifecycle", "retention", "retention_cohorts", "funnel_steps",
    "conversation_daily", "intent_daily", "nlu_daily", "session_drop_off", "topic_mastery",
    "revenue_daily", "creators", "api_health_daily", "satisfaction_daily", "agent_daily",
    "content_platform_daily", "content_timing", "session_depth_daily",
    "path_edges", "agent_version_daily", "intent_satisfaction_daily", "user_engagement",
    "failure_reasons_daily", "lesson_quality_daily",
)
REPORT_ML = ("engagement_forecast", "forecast_backtest", "metric_anomalies", "insights")

# the tables the default alert rules read (rules on other tables add theirs)
ALERT_TABLES = ("marts.engagement_daily", "marts.nlu_daily", "marts.conversation_daily",
                "ml.metric_anomalies", "raw.load_audit")
