"""Suites of the marts: the invariants of metrics.md and marts.md, one suite per mart.

Where an invariant spans rows (funnel users non-increasing by step, period 0 of a
cohort holding the whole cohort, net revenue = charges - refunds), the frame's SQL adds
a column that makes it a per-row expectation.
"""

from __future__ import annotations

from collections.abc import Callable

from data_quality import expect as ex
from data_quality.suite import Suite


def _suite(name: str, expectations: Callable[[], list], sql: str | None = None) -> Suite:
    table = f"marts.{name}"
    return Suite(table, table, sql or f"SELECT * FROM {table}", expectations)


MART_SUITES: dict[str, Suite] = {
    s.table.split(".", 1)[1]: s
    for s in (
        _suite(
            "engagement_daily",
            lambda: [
                ex.unique_key(("date", "creator_id")),
                *(ex.not_null(c) for c in ("date", "creator_id", "dau", "wau", "mau")),
                ex.non_negative("dau"),
                ex.at_least("wau", "dau"),
                ex.at_least("mau", "wau"),
                ex.rate("stickiness"),
                ex.between("stickiness_gap", -1e-9, 1e-9, what="stickiness = dau / mau"),
            ],
            sql="""
                SELECT *, stickiness - dau / nullif(mau, 0) AS stickiness_gap
                FROM marts.engagement_daily
            """,
        ),
        _suite("user_lifecycle", lambda: [
            ex.unique_key(("period_grain", "period_start", "status")),
            ex.in_set("period_grain", ("day", "week", "month")),
            ex.in_set("status", ("new", "returning", "resurrecting", "dormant")),
            ex.non_negative("users"),
        ]),
        _suite(
            "retention_cohorts",
            lambda: [
                ex.unique_key(("cohort_grain", "cohort_start", "period")),
                ex.in_set("cohort_grain", ("week", "month")),
                ex.rate("retention_rate"),
                ex.at_least("cohort_size", "retained_users"),
                ex.equals_zero("first_period", "every cohort starts at period 0"),
                ex.equals_zero(
                    "cohort_size_drift", "every period of a cohort has period 0's cohort_size"
                ),
                ex.between(
                    "retention_rate_gap", -1e-9, 1e-9,
                    what="retention_rate = retained_users / cohort_size",
                ),
            ],
            sql="""
                SELECT *,
                    min(period) OVER cohort AS first_period,
                    cohort_size - first_value(cohort_size) OVER (cohort ORDER BY period)
                        AS cohort_size_drift,
                    CASE WHEN retention_rate IS NOT NULL
                         THEN retention_rate - retained_users / nullif(cohort_size, 0)
                    END AS retention_rate_gap
                FROM marts.retention_cohorts
                WINDOW cohort AS (PARTITION BY cohort_grain, cohort_start)
            """,
        ),
        _suite(
            "funnel_steps",
            lambda: [
                ex.unique_key(("funnel", "step")),
                ex.between("step", 1, None),
                ex.rate("conversion_rate"),
                ex.non_negative("dropoff_users"),
                ex.at_least("previous_step_users", "users"),
                ex.equals_zero(
                    "dropoff_gap", "dropoff_users = users of the previous step - users"
                ),
                ex.between(
                    "step1_conversion_gap", -1e-9, 1e-9,
                    what="conversion_rate is 1 at step 1 (when step 1 has users)",
                ),
            ],
            sql="""
                SELECT *,
                    lag(users) OVER (PARTITION BY funnel ORDER BY step) AS previous_step_users,
                    dropoff_users - coalesce(
                        lag(users) OVER (PARTITION BY funnel ORDER BY step) - users, 0)
                        AS dropoff_gap,
                    CASE WHEN step = 1 AND users > 0 THEN conversion_rate - 1 END
                        AS step1_conversion_gap
                FROM marts.funnel_steps
            """,
        ),
        _suite("conversation_daily", lambda: [
            ex.unique_key(("date", "creator_id")),
            ex.rate("automation_rate"),
            ex.rate("workflow_completion_rate"),
            ex.at_least("response_time_ms_p95", "response_time_ms_p50"),
            ex.non_negative("avg_turns"),
            ex.non_negative("cost_savings"),
        ]),
        _suite("intent_daily", lambda: [
            ex.unique_key(("date", "intent")),
            ex.rate("share"),
            ex.rate("mean_confidence"),
            ex.rate("low_confidence_rate"),
        ]),
        _suite("nlu_daily", lambda: [
            ex.unique("date"),
            ex.rate("mean_confidence"),
            ex.rate("low_confidence_rate"),
            ex.rate("fallback_rate"),
        ]),
        _suite("session_drop_off", lambda: [
            ex.unique("drop_off_point"),
            ex.non_negative("sessions"),
            ex.rate("share"),
        ]),
        _suite("user_streaks", lambda: [
            ex.unique("user_id"),
            ex.non_negative("current_streak"),
            ex.at_least("longest_streak", "current_streak"),
        ]),
        _suite("topic_mastery", lambda: [
            ex.unique_key(("user_id", "topic")),
            ex.rate("mastery"),
            ex.at_least("attempts", "correct_attempts"),
            ex.in_set("params_source", ("default", "fitted")),
        ]),
        _suite("goal_progress", lambda: [
            ex.unique("goal_id"),
            ex.rate("progress"),
            ex.in_set("status", ("active", "completed")),
        ]),
        _suite("achievement_unlocks", lambda: [
            ex.unique_key(("user_id", "achievement_id")),
            ex.not_null("unlocked_on"),
        ]),
        _suite(
            "revenue_daily",
            lambda: [
                ex.unique_key(("date", "currency", "creator_id")),
                ex.matches("currency", r"^[A-Z]{3}$", "one ISO 4217 currency per row"),
                ex.non_negative("charges"),
                ex.non_negative("refunds"),
                ex.between(
                    "net_revenue_gap", -0.005, 0.005,
                    what="net_revenue = charges - refunds (to half a cent)",
                ),
            ],
            sql="""
                SELECT *, net_revenue - (charges - refunds) AS net_revenue_gap
                FROM marts.revenue_daily
            """,
        ),
        _suite("program_effectiveness", lambda: [
            ex.unique("program_id"),
            ex.rate("completion_rate"),
            ex.rate("goal_completion_rate"),
            ex.rate("retention_30d"),
            ex.between("effectiveness_score", 0, 100),
        ]),
        _suite("content_performance", lambda: [
            ex.unique("content_id"),
            ex.rate("ctr"),
            # engagements / views can exceed 1 on odd source data (docs/metrics.md)
            ex.rate("engagement_rate", warning=True),
            ex.between("performance_score", 0, 100),
        ]),
        _suite("experiment_results", lambda: [
            ex.unique_key(("experiment_id", "variant")),
            ex.rate("conversion_rate"),
            ex.rate("p_value"),
            ex.rate("srm_p_value"),
            ex.at_least("users", "conversions"),
            ex.at_least("ci_high", "ci_low"),
        ]),
    )
}
