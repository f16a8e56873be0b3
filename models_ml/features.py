"""Point-in-time user features: one row per (user_id, as_of_date) request.

Every aggregate reads only rows dated on or before the request's as-of date (activity
days, sessions, exercise attempts, goals, payments), so a row can never see the future:
``tests/test_ml_features.py`` plants future rows in every source and checks that no
feature changes. Labels (churn, retention) look strictly after the as-of date and are
computed separately (:func:`label_sql`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd


@dataclass(frozen=True)
class Sources:
    """The relations features read (the warehouse's by default; tests pass their own)."""

    user_days: str = "intermediate.int_user_activity_days"
    users: str = "staging.stg_users"
    sessions: str = "intermediate.int_sessions"
    attempts: str = "intermediate.int_exercise_attempts"
    goals: str = "marts.goal_progress"
    payments: str = "staging.stg_payments"


FEATURE_COLUMNS: tuple[str, ...] = (
    "tenure_days",
    "days_since_last_active",
    "active_days_7",
    "active_days_14",
    "active_days_28",
    "active_days_total",
    "events_7",
    "events_28",
    "activity_trend",
    "sessions_28",
    "conversations_28",
    "avg_session_minutes_28",
    "attempts_28",
    "correct_rate_28",
    "attempts_total",
    "goals_created",
    "goals_completed",
    "charges_to_date",
    "days_since_last_charge",
    "plan_pro",
    "plan_team",
    "engagement_score",
)

RECENCY = "days_since_last_active"
#: days since the last active day of a user with none by then: a large number rather than
#: null because the churn population is chosen on it (never active: outside it) and the
#: recency baseline reads it as a number
NEVER = 999

#: The engagement score of ``marts.user_engagement`` (docs/metrics.md), point in time:
#: over the 28 days ending on the as-of date (the ``_28`` features' window), each
#: component is its signal over its cap (at most 1), recency is ``RECENCY_DAYS /
#: (RECENCY_DAYS + days since the last active day)`` (0 when never active by then), and
#: the score is 100 x the weighted sum, in [0, 100]. The mart computes it in SQL for the
#: warehouse's as-of date; ``tests/test_ml_features.py`` checks that both agree on the
#: demo warehouse.
ENGAGEMENT_CAPS = {"frequency": 14.0, "volume": 20.0, "depth": 6.0}
ENGAGEMENT_WEIGHTS = {"frequency": 0.35, "volume": 0.25, "depth": 0.20, "recency": 0.20}
RECENCY_DAYS = 7.0


def engagement_score_sql(active_days: str, sessions: str, messages_per_session: str,
                         days_since_active: str) -> str:
    """SQL of the engagement score from its four signals (SQL expressions; a null
    ``days_since_active``, never active, gives recency 0)."""
    caps, w = ENGAGEMENT_CAPS, ENGAGEMENT_WEIGHTS
    return (
        f"100 * ({w['frequency']} * least(cast({active_days} as double) / {caps['frequency']}, 1.0)"
        f" + {w['volume']} * least(cast({sessions} as double) / {caps['volume']}, 1.0)"
        f" + {w['depth']} * least(cast({messages_per_session} as double) / {caps['depth']}, 1.0)"
        f" + {w['recency']} * coalesce({RECENCY_DAYS} / ({RECENCY_DAYS} + {days_since_active}),"
        f" 0.0))")


def feature_sql(requests: str, src: Sources = Sources()) -> str:
    """SQL of the features of the (user_id, as_of_date) pairs of relation ``requests``."""
    return f"""
with req as (
    select distinct r.user_id, cast(r.as_of_date as date) as as_of_date,
           u.signup_date, u.plan
    from {requests} as r
    join {src.users} as u on u.user_id = r.user_id
    where u.signup_date <= cast(r.as_of_date as date)
),
act as (
    select r.user_id, r.as_of_date,
        max(d.activity_date) as last_active,
        count(*) filter (where d.activity_date > r.as_of_date - 7) as active_days_7,
        count(*) filter (where d.activity_date > r.as_of_date - 14) as active_days_14,
        count(*) filter (where d.activity_date > r.as_of_date - 28) as active_days_28,
        count(*) as active_days_total,
        coalesce(sum(d.active_events) filter (where d.activity_date > r.as_of_date - 7), 0)
            as events_7,
        coalesce(sum(d.active_events) filter (where d.activity_date > r.as_of_date - 28), 0)
            as events_28
    from req as r
    join {src.user_days} as d
      on d.user_id = r.user_id and d.creator_id = '__all__' and d.activity_date <= r.as_of_date
    group by r.user_id, r.as_of_date
),
sess as (
    select r.user_id, r.as_of_date,
        count(*) as sessions_28,
        count(*) filter (where s.is_conversation) as conversations_28,
        sum(s.user_messages) as messages_28,
        avg(s.duration_s) / 60.0 as avg_session_minutes_28
    from req as r
    join {src.sessions} as s
      on s.user_id = r.user_id and s.start_date <= r.as_of_date
     and s.start_date > r.as_of_date - 28
    group by r.user_id, r.as_of_date
),
att as (
    select r.user_id, r.as_of_date,
        count(*) filter (where a.attempt_date > r.as_of_date - 28) as attempts_28,
        avg(cast(a.is_correct as double)) filter (where a.attempt_date > r.as_of_date - 28)
            as correct_rate_28,
        count(*) as attempts_total
    from req as r
    join {src.attempts} as a on a.user_id = r.user_id and a.attempt_date <= r.as_of_date
    group by r.user_id, r.as_of_date
),
gls as (
    select r.user_id, r.as_of_date,
        count(*) as goals_created,
        count(*) filter (where g.completed_on <= r.as_of_date) as goals_completed
    from req as r
    join {src.goals} as g on g.user_id = r.user_id and g.created_date <= r.as_of_date
    group by r.user_id, r.as_of_date
),
pay as (
    select r.user_id, r.as_of_date,
        count(*) as charges_to_date,
        max(p.paid_date) as last_charge
    from req as r
    join {src.payments} as p
      on p.user_id = r.user_id and p.payment_kind = 'charge' and p.paid_date <= r.as_of_date
    group by r.user_id, r.as_of_date
)
select
    req.user_id,
    req.as_of_date,
    cast(req.as_of_date - req.signup_date as double) as tenure_days,
    cast(coalesce(req.as_of_date - act.last_active, {NEVER}) as double)
        as days_since_last_active,
    cast(coalesce(act.active_days_7, 0) as double) as active_days_7,
    cast(coalesce(act.active_days_14, 0) as double) as active_days_14,
    cast(coalesce(act.active_days_28, 0) as double) as active_days_28,
    cast(coalesce(act.active_days_total, 0) as double) as active_days_total,
    cast(coalesce(act.events_7, 0) as double) as events_7,
    cast(coalesce(act.events_28, 0) as double) as events_28,
    coalesce(act.active_days_7, 0) / 7.0 - coalesce(act.active_days_28, 0) / 28.0
        as activity_trend,
    cast(coalesce(sess.sessions_28, 0) as double) as sessions_28,
    cast(coalesce(sess.conversations_28, 0) as double) as conversations_28,
    coalesce(sess.avg_session_minutes_28, 0.0) as avg_session_minutes_28,
    cast(coalesce(att.attempts_28, 0) as double) as attempts_28,
    att.correct_rate_28,  -- null: no attempt in the 28 days (no rate to speak of)
    cast(coalesce(att.attempts_total, 0) as double) as attempts_total,
    cast(coalesce(gls.goals_created, 0) as double) as goals_created,
    cast(coalesce(gls.goals_completed, 0) as double) as goals_completed,
    cast(coalesce(pay.charges_to_date, 0) as double) as charges_to_date,
    -- null: never paid (no charge to count days from; the models read nulls natively)
    cast(req.as_of_date - pay.last_charge as double) as days_since_last_charge,
    cast(coalesce(req.plan = 'pro', false) as double) as plan_pro,
    cast(coalesce(req.plan = 'team', false) as double) as plan_team,
    {engagement_score_sql(
        "coalesce(act.active_days_28, 0)", "coalesce(sess.sessions_28, 0)",
        "coalesce(sess.messages_28 / sess.sessions_28, 0)",
        "(req.as_of_date - act.last_active)")} as engagement_score
from req
left join act using (user_id, as_of_date)
left join sess using (user_id, as_of_date)
left join att using (user_id, as_of_date)
left join gls using (user_id, as_of_date)
left join pay using (user_id, as_of_date)
order by req.as_of_date, req.user_id
"""


def label_sql(requests: str, horizon_days: int, src: Sources = Sources()) -> str:
    """``active_next``: whether the user has an active day in (as_of, as_of + horizon]."""
    return f"""
select r.user_id, cast(r.as_of_date as date) as as_of_date,
    exists (
        select 1 from {src.user_days} as d
        where d.user_id = r.user_id and d.creator_id = '__all__'
          and d.activity_date > cast(r.as_of_date as date)
          and d.activity_date <= cast(r.as_of_date as date) + {int(horizon_days)}
    ) as active_next
from (select distinct user_id, as_of_date from {requests}) as r
"""


def compute_features(
    con: duckdb.DuckDBPyConnection, requests: pd.DataFrame, src: Sources = Sources()
) -> pd.DataFrame:
    """Features of the (user_id, as_of_date) rows of ``requests`` (a DataFrame)."""
    con.register("_feature_requests", requests[["user_id", "as_of_date"]])
    try:
        return con.execute(feature_sql("_feature_requests", src)).df()
    finally:
        con.unregister("_feature_requests")


def compute_labels(
    con: duckdb.DuckDBPyConnection, requests: pd.DataFrame, horizon_days: int,
    src: Sources = Sources(),
) -> pd.DataFrame:
    con.register("_label_requests", requests[["user_id", "as_of_date"]])
    try:
        return con.execute(label_sql("_label_requests", horizon_days, src)).df()
    finally:
        con.unregister("_label_requests")


def snapshot_dates(first_day: pd.Timestamp, last_day: pd.Timestamp, every_days: int,
                   min_history_days: int) -> list[pd.Timestamp]:
    """As-of dates every ``every_days`` ending on ``last_day`` (the newest snapshot), from
    ``first_day + min_history_days`` on."""
    first = pd.Timestamp(first_day) + pd.Timedelta(days=min_history_days)
    out = []
    d = pd.Timestamp(last_day)
    while d >= first:
        out.append(d)
        d -= pd.Timedelta(days=every_days)
    return sorted(out)
