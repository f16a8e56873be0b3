"""Every query the dashboard runs, as pure builders: filters in, (SQL, parameters) out.

No connection and no Streamlit here, so the SQL is unit-tested on a small DuckDB file
and timed by ``bench/dashboard_queries.py`` exactly as the pages run it. Each page has a
builder returning its named queries (:data:`PAGES`); a page draws what they return.

Marts with a ``creator_id`` hold an ``'__all__'`` row per number (all creators), so the
creator filter is always an equality (``ALL_CREATORS`` for everyone): never a sum over
creators, which would count a user active with two creators twice. Tables without a
creator column (streaks, goals, LTV, engagement scores) are restricted to the users
active with the creator in the date range (``dashboard.user_spans``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

ALL_CREATORS = "__all__"
Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
DEFAULT_DAYS = 28


@dataclass(frozen=True)
class Filters:
    """The global filters: an inclusive date range, one creator (or all) and a grain."""

    start: date
    end: date
    creator: str = ALL_CREATORS
    grain: Grain = "day"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "creator": self.creator}


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


def previous_period(f: Filters) -> Filters:
    """The range of the same length just before ``f``'s."""
    return replace(f, start=f.start - timedelta(days=f.days), end=f.start - timedelta(days=1))


def same_weekday_last_week(f: Filters) -> tuple[Filters, Filters]:
    """(the last day of the range, the same weekday a week earlier), one day each."""
    return (replace(f, start=f.end, end=f.end),
            replace(f, start=f.end - timedelta(days=7), end=f.end - timedelta(days=7)))


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse_filters(params: Mapping[str, str], first: date, last: date,
                  creators: set[str]) -> Filters:
    """Filters from URL query parameters (``start``, ``end``, ``creator``, ``grain``),
    each clamped to what the data holds; a missing or invalid one takes its default
    (the last DEFAULT_DAYS days to the latest date, all creators, day)."""
    end = min(max(_date(params.get("end")) or last, first), last)
    start = _date(params.get("start")) or end - timedelta(days=DEFAULT_DAYS - 1)
    start = min(max(start, first), end)
    creator = params.get("creator") or ALL_CREATORS
    if creator not in creators:
        creator = ALL_CREATORS
    grain = params.get("grain") if params.get("grain") in GRAINS else "day"
    return Filters(start, end, creator, grain)  # type: ignore[arg-type]


def to_params(f: Filters) -> dict[str, str]:
    """The URL query parameters of ``f`` (inverse of :func:`parse_filters`)."""
    return {"start": f.start.isoformat(), "end": f.end.isoformat(), "creator": f.creator,
            "grain": f.grain}


def _trunc(column: str) -> str:
    """``column`` truncated to the grain (a date)."""
    return f"CAST(date_trunc($grain, {column}) AS DATE)"


def _with_grain(f: Filters, grain: str | None = None) -> dict[str, Any]:
    return {**f.params(), "grain": grain or f.grain}


_IN_RANGE = "creator_id = $creator AND date BETWEEN $start AND $end"
# users active with the creator in the range (for the tables without a creator column)
# (dashboard.user_spans: one row per creator and user, with the user's active days)
_ACTIVE_USERS = ("SELECT user_id FROM dashboard.user_spans "
                 "WHERE creator_id = $creator AND first_active <= $end "
                 "AND last_active >= $start "
                 "AND len(list_filter(active_days, lambda d: d BETWEEN $start AND $end)) > 0")


# --- global ---------------------------------------------------------------------------

def bounds() -> Query:
    return Query("bounds", "SELECT min(date), max(date) FROM marts.engagement_daily "
                 "WHERE creator_id = $all", {"all": ALL_CREATORS})


def creators() -> Query:
    """Every creator with data, by display name (the id when the name is missing)."""
    return Query("creators", """
        SELECT DISTINCT e.creator_id, coalesce(c.name, e.creator_id) AS name
        FROM marts.engagement_daily AS e
        LEFT JOIN marts.creators AS c USING (creator_id)
        WHERE e.creator_id <> $all ORDER BY name""", {"all": ALL_CREATORS})


# --- overview -------------------------------------------------------------------------

def headline(f: Filters, name: str = "headline") -> Query:
    """The headline numbers of the range: metric, unit, value."""
    return Query(name, f"""
        SELECT 'mean DAU' AS metric, 'count' AS unit, avg(dau) AS value
        FROM marts.engagement_daily WHERE {_IN_RANGE}
        UNION ALL
        SELECT 'sessions', 'count', sum(sessions) FROM marts.engagement_daily
        WHERE {_IN_RANGE}
        UNION ALL
        SELECT 'new users', 'count', sum(users) FROM marts.user_lifecycle
        WHERE creator_id = $creator AND period_grain = 'day' AND status = 'new'
          AND period_start BETWEEN $start AND $end
        UNION ALL
        SELECT 'conversations', 'count', sum(conversations) FROM marts.conversation_daily
        WHERE {_IN_RANGE}
        UNION ALL
        SELECT 'automation rate', 'rate',
               sum(automated_sessions) / nullif(sum(sessions), 0)
        FROM marts.conversation_daily WHERE {_IN_RANGE}
        UNION ALL
        SELECT * FROM (
            SELECT 'net revenue', currency, sum(net_revenue) FROM marts.revenue_daily
            WHERE {_IN_RANGE} GROUP BY currency ORDER BY currency)
        """, f.params())


def top_insights(f: Filters) -> Query:
    return Query("top_insights", """
        SELECT rank, kind, title, recommendation, status FROM ml.insights
        WHERE creator_id = $creator
          AND as_of_date = (SELECT max(as_of_date) FROM ml.insights)
        ORDER BY rank LIMIT 5""", {"creator": f.creator})


def dau_trend(f: Filters) -> Query:
    return Query("dau_trend", f"""
        SELECT {_trunc('date')} AS period, avg(dau) AS dau,
               CAST(sum(sessions) AS BIGINT) AS sessions
        FROM marts.engagement_daily WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1""",
                 _with_grain(f))


def overview(f: Filters) -> dict[str, Query]:
    day, week_before = same_weekday_last_week(f)
    return {q.name: q for q in (
        headline(f), headline(previous_period(f), "headline_previous"),
        headline(day, "headline_day"), headline(week_before, "headline_week_before"),
        top_insights(f), dau_trend(f))}


# --- engagement and lifecycle ---------------------------------------------------------

def engagement_trend(f: Filters) -> Query:
    return Query("engagement_trend", f"""
        SELECT {_trunc('date')} AS period, avg(dau) AS dau, avg(wau) AS wau, avg(mau) AS mau,
               avg(stickiness) AS stickiness, CAST(sum(sessions) AS BIGINT) AS sessions,
               sum(active_events) AS active_events
        FROM marts.engagement_daily WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1""",
                 _with_grain(f))


def lifecycle(f: Filters) -> Query:
    return Query("lifecycle", """
        SELECT period_start, status, users, is_complete_period FROM marts.user_lifecycle
        WHERE creator_id = $creator AND period_grain = $grain
          AND period_start BETWEEN CAST(date_trunc($grain, $start) AS DATE) AND $end
        ORDER BY period_start, status""", _with_grain(f))


def stickiness(f: Filters) -> Query:
    grain = "month" if f.grain == "month" else "week"
    return Query("stickiness", """
        SELECT days_active, sum(users) AS users FROM marts.stickiness_distribution
        WHERE creator_id = $creator AND period_grain = $grain
          AND period_start BETWEEN CAST(date_trunc($grain, $start) AS DATE) AND $end
        GROUP BY days_active ORDER BY days_active""", _with_grain(f, grain))


def session_depth(f: Filters) -> Query:
    return Query("session_depth", f"""
        SELECT {_trunc('date')} AS period, CAST(sum(sessions) AS BIGINT) AS sessions,
               sum(mean_duration_s * sessions) / nullif(sum(sessions), 0) AS mean_duration_s,
               sum(bounce_rate * sessions) / nullif(sum(sessions), 0) AS bounce_rate
        FROM marts.session_depth_daily WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1""",
                 _with_grain(f))


def active_users(f: Filters, day: date, limit: int = 500) -> Query:
    """The drill from a day's DAU to its users (with streak, churn risk and segment)."""
    return Query("active_users", """
        SELECT u.user_id, u.active_events, s.current_streak, s.longest_streak,
               round(p.churn_probability, 3) AS churn_probability, p.risk_band,
               g.segment_label
        FROM dashboard.user_days AS u
        LEFT JOIN marts.user_streaks AS s USING (user_id)
        LEFT JOIN ml.churn_predictions AS p USING (user_id)
        LEFT JOIN ml.user_segments AS g USING (user_id)
        WHERE u.creator_id = $creator AND u.date = $day
        ORDER BY u.active_events DESC, u.user_id LIMIT $limit""",
                 {"creator": f.creator, "day": day, "limit": limit})


def active_users_count(f: Filters, day: date) -> Query:
    return Query("active_users_count", "SELECT count(*) FROM dashboard.user_days "
                 "WHERE creator_id = $creator AND date = $day",
                 {"creator": f.creator, "day": day})


SCORE_BAND = 10  # engagement score bands of 10 points (0-9, 10-19, ..., 90-100)


def _score_band(column: str = "engagement_score") -> str:
    return f"least(CAST(floor({column} / {SCORE_BAND}) AS INTEGER) * {SCORE_BAND}, 90)"


def engagement_scores(f: Filters) -> Query:
    """The distribution of ``marts.user_engagement``'s score (as of the marts' date) over
    the users active with the creator in the range, in bands of SCORE_BAND points."""
    return Query("engagement_scores", f"""
        SELECT {_score_band()} AS band, count(*) AS users,
               avg(engagement_score) AS mean_score
        FROM marts.user_engagement WHERE user_id IN ({_ACTIVE_USERS})
        GROUP BY 1 ORDER BY 1""", f.params())


def engagement_score_users(f: Filters, band: int, limit: int = 500) -> Query:
    """The drill from a score band to its users (with the score's parts)."""
    return Query("engagement_score_users", f"""
        SELECT user_id, round(engagement_score, 1) AS engagement_score, active_days_28d,
               sessions_28d, round(messages_per_session, 2) AS messages_per_session,
               days_since_active, last_active_date
        FROM marts.user_engagement
        WHERE {_score_band()} = $band AND user_id IN ({_ACTIVE_USERS})
        ORDER BY engagement_score DESC, user_id LIMIT $limit""",
                 {**f.params(), "band": band, "limit": limit})


def engagement(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (engagement_trend(f), lifecycle(f), stickiness(f),
                                session_depth(f), active_users(f, f.end),
                                active_users_count(f, f.end), engagement_scores(f),
                                engagement_score_users(f, 50))}


# --- retention ------------------------------------------------------------------------

def retention(f: Filters) -> Query:
    """Every definition and mode of ``marts.retention``, cohorts starting in the range."""
    return Query("retention", """
        SELECT definition, mode, cohort_grain, cohort_start, period, cohort_size,
               retained_users, retention_rate
        FROM marts.retention
        WHERE creator_id = $creator AND is_covered
          AND cohort_start BETWEEN CAST(date_trunc('month', $start) AS DATE) AND $end
        ORDER BY definition, mode, cohort_start, period""", f.params())


def retention_curves(f: Filters) -> Query:
    """Per definition and mode, the users-weighted mean retention of each period."""
    return Query("retention_curves", """
        SELECT definition, mode, period, sum(retained_users) / sum(cohort_size) AS retention_rate,
               sum(cohort_size) AS cohort_users
        FROM marts.retention
        WHERE creator_id = $creator AND is_covered AND cohort_size > 0
          AND cohort_start BETWEEN CAST(date_trunc('month', $start) AS DATE) AND $end
        GROUP BY ALL ORDER BY definition, mode, period""", f.params())


def retention_page(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (retention(f), retention_curves(f))}


# --- funnels --------------------------------------------------------------------------

def funnel_steps(f: Filters) -> Query:
    return Query("funnel_steps", """
        SELECT funnel, step, step_name, users, conversion_rate, dropoff_users,
               median_seconds_to_step
        FROM marts.funnel_steps WHERE creator_id = $creator ORDER BY funnel, step""",
                 {"creator": f.creator})


def funnel_breakdowns(f: Filters) -> Query:
    """Each funnel's last step by breakdown value (the conversion of the whole funnel)."""
    return Query("funnel_breakdowns", """
        SELECT funnel, breakdown_field, attribution, breakdown_value, step, step_name, users,
               funnel_users, conversion_rate
        FROM marts.funnel_breakdowns AS b
        WHERE creator_id = $creator
          AND step = (SELECT max(step) FROM marts.funnel_breakdowns AS m
                      WHERE m.funnel = b.funnel AND m.creator_id = $creator)
        ORDER BY funnel, breakdown_field, funnel_users DESC""", {"creator": f.creator})


def funnel_trends(f: Filters) -> Query:
    grain = "day" if f.grain == "day" else "week"
    return Query("funnel_trends", """
        SELECT funnel, entry_period, step, step_name, users, conversion_rate, is_complete
        FROM marts.funnel_trends
        WHERE creator_id = $creator AND entry_period_grain = $grain
          AND entry_period BETWEEN CAST(date_trunc($grain, $start) AS DATE) AND $end
        ORDER BY funnel, entry_period, step""", _with_grain(f, grain))


def funnel_time_to_convert(f: Filters) -> Query:
    return Query("funnel_time_to_convert", """
        SELECT funnel, step, step_name, converted_users, p25_seconds, p50_seconds,
               p75_seconds, p90_seconds
        FROM marts.funnel_time_to_convert WHERE creator_id = $creator
        ORDER BY funnel, step""", {"creator": f.creator})


_FUNNEL = "coalesce($funnel, (SELECT min(funnel) FROM marts.funnel_steps))"


def funnel_step_users(f: Filters, funnel: str | None, step: int, limit: int = 500
                      ) -> Query:
    """The drill from a funnel step to the users who reached it (``dashboard.funnel_users``
    counts them as ``marts.funnel_steps`` does), with how far each got. ``funnel`` None:
    the first by name (the page's default)."""
    return Query("funnel_step_users", f"""
        SELECT u.user_id, u.deepest_step, s.step_name AS deepest_step_name, u.attempts,
               u.first_attempt_at
        FROM dashboard.funnel_users AS u
        LEFT JOIN marts.funnel_steps AS s
          ON s.funnel = u.funnel AND s.creator_id = u.creator_id AND s.step = u.deepest_step
        WHERE u.funnel = {_FUNNEL} AND u.creator_id = $creator AND u.deepest_step >= $step
        ORDER BY u.deepest_step DESC, u.user_id LIMIT $limit""",
                 {"funnel": funnel, "creator": f.creator, "step": step, "limit": limit})


def funnel_step_users_count(f: Filters, funnel: str | None, step: int) -> Query:
    return Query("funnel_step_users_count", f"""
        SELECT count(*) FROM dashboard.funnel_users
        WHERE funnel = {_FUNNEL} AND creator_id = $creator AND deepest_step >= $step""",
                 {"funnel": funnel, "creator": f.creator, "step": step})


def funnels(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (funnel_steps(f), funnel_breakdowns(f), funnel_trends(f),
                                funnel_time_to_convert(f),
                                funnel_step_users(f, None, 1),
                                funnel_step_users_count(f, None, 1))}


# --- paths ----------------------------------------------------------------------------

def paths(f: Filters) -> dict[str, Query]:
    return {"path_edges": Query("path_edges", """
        SELECT path, direction, step, source, target, users FROM (
            SELECT *, row_number() OVER (PARTITION BY path, step ORDER BY users DESC,
                                         source, target) AS r
            FROM marts.path_edges WHERE creator_id = $creator)
        WHERE r <= 8 ORDER BY path, step, users DESC""", {"creator": f.creator})}


# --- conversations and NLU ------------------------------------------------------------

def conversation_trend(f: Filters) -> Query:
    return Query("conversation_trend", f"""
        SELECT {_trunc('date')} AS period, CAST(sum(conversations) AS BIGINT) AS conversations,
               sum(turns) / nullif(sum(sessions_with_turns), 0) AS avg_turns,
               sum(workflows_completed) / nullif(sum(workflows_started), 0)
                   AS workflow_completion_rate,
               sum(automated_sessions) / nullif(sum(sessions), 0) AS automation_rate,
               max(response_time_ms_p95) AS response_time_ms_p95_max
        FROM marts.conversation_daily WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1""",
                 _with_grain(f))


def nlu_trend(f: Filters) -> Query:
    return Query("nlu_trend", f"""
        SELECT {_trunc('date')} AS period, CAST(sum(classifications) AS BIGINT) AS classifications,
               sum(low_confidence_classifications)
                   / nullif(sum(classifications_with_confidence), 0) AS low_confidence_rate,
               sum(fallback_classifications) / nullif(sum(classifications), 0) AS fallback_rate
        FROM marts.nlu_daily WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1""", _with_grain(f))


def top_intents(f: Filters) -> Query:
    return Query("top_intents", f"""
        SELECT intent, CAST(sum(classifications) AS BIGINT) AS classifications,
               sum(low_confidence_classifications)
                   / nullif(sum(classifications_with_confidence), 0) AS low_confidence_rate
        FROM marts.intent_daily WHERE {_IN_RANGE}
        GROUP BY intent ORDER BY classifications DESC, intent LIMIT 15""", f.params())


def drop_off(f: Filters) -> Query:
    return Query("drop_off", """
        SELECT drop_off_point, sessions, share FROM marts.session_drop_off
        WHERE creator_id = $creator ORDER BY sessions DESC""", {"creator": f.creator})


def satisfaction(f: Filters) -> Query:
    return Query("satisfaction", f"""
        SELECT agent_id, CAST(sum(ratings) AS BIGINT) AS ratings,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               sum(negative_sentiment_rate * sentiment_events)
                   / nullif(sum(sentiment_events), 0) AS negative_sentiment_rate
        FROM marts.satisfaction_daily
        WHERE {_IN_RANGE} AND ratings > 0 AND agent_id <> $all
        GROUP BY agent_id ORDER BY ratings DESC LIMIT 20""",
                 {**f.params(), "all": ALL_CREATORS})


def agents(f: Filters) -> Query:
    """Per agent over the range (``marts.agent_daily``): conversations, automation,
    fallback, response time and satisfaction."""
    return Query("agents", """
        SELECT agent_id,
               CAST(sum(sessions) AS BIGINT) AS sessions,
               CAST(sum(conversations) AS BIGINT) AS conversations,
               sum(automation_rate * sessions) / nullif(sum(sessions), 0) AS automation_rate,
               sum(fallback_rate * classifications) / nullif(sum(classifications), 0)
                   AS fallback_rate,
               sum(response_time_ms_p50 * timed_responses)
                   / nullif(sum(timed_responses), 0) AS mean_daily_response_ms_p50,
               CAST(sum(ratings) AS BIGINT) AS ratings,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat
        FROM marts.agent_daily
        WHERE (creator_id = $creator OR $creator = $all) AND date BETWEEN $start AND $end
        GROUP BY agent_id ORDER BY conversations DESC, agent_id""",
                 {**f.params(), "all": ALL_CREATORS})


def agent_versions(f: Filters) -> Query:
    """Per agent and version over the range (``marts.agent_version_daily``, all
    creators): sessions, fallback, response time, ratings, CSAT, negative sentiment."""
    return Query("agent_versions", """
        SELECT agent_id, agent_version, CAST(sum(sessions) AS BIGINT) AS sessions,
               sum(fallback_rate * classifications) / nullif(sum(classifications), 0)
                   AS fallback_rate,
               median(response_time_ms_p50) AS median_daily_response_ms_p50,
               CAST(sum(ratings) AS BIGINT) AS ratings,
               sum(mean_rating * ratings) / nullif(sum(ratings), 0) AS mean_rating,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               sum(negative_sentiment_rate * sentiment_events)
                   / nullif(sum(sentiment_events), 0) AS negative_sentiment_rate
        FROM marts.agent_version_daily WHERE date BETWEEN $start AND $end
        GROUP BY agent_id, agent_version ORDER BY agent_id, agent_version""",
                 {"start": f.start, "end": f.end})


def intent_satisfaction(f: Filters) -> Query:
    """Per intent over the range (``marts.intent_satisfaction_daily``, all creators)."""
    return Query("intent_satisfaction", """
        SELECT intent, CAST(sum(ratings) AS BIGINT) AS ratings,
               sum(mean_rating * ratings) / nullif(sum(ratings), 0) AS mean_rating,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               CAST(sum(sentiment_messages) AS BIGINT) AS sentiment_messages,
               sum(negative_sentiment_rate * sentiment_messages)
                   / nullif(sum(sentiment_messages), 0) AS negative_sentiment_rate
        FROM marts.intent_satisfaction_daily WHERE date BETWEEN $start AND $end
        GROUP BY intent ORDER BY ratings DESC, intent LIMIT 20""",
                 {"start": f.start, "end": f.end})


def failure_reasons(f: Filters) -> Query:
    return Query("failure_reasons", f"""
        SELECT kind, workflow, reason, CAST(sum(occurrences) AS BIGINT) AS occurrences,
               CAST(sum(sessions) AS BIGINT) AS sessions
        FROM marts.failure_reasons_daily WHERE {_IN_RANGE}
        GROUP BY ALL ORDER BY occurrences DESC, kind, workflow, reason LIMIT 20""",
                 f.params())


def api_health_trend(f: Filters) -> Query:
    """Every endpoint's calls per period: error rate and the daily latency p95 (the
    worst day's; percentiles do not add up over days)."""
    return Query("api_health_trend", f"""
        SELECT {_trunc('date')} AS period, CAST(sum(calls) AS BIGINT) AS calls,
               CAST(sum(error_calls) AS BIGINT) AS error_calls,
               sum(error_calls) / nullif(sum(calls), 0) AS error_rate,
               max(latency_ms_p95) AS latency_ms_p95, max(latency_ms_p99) AS latency_ms_p99
        FROM marts.api_health_daily WHERE {_IN_RANGE} AND endpoint = $all
        GROUP BY 1 ORDER BY 1""", {**_with_grain(f), "all": ALL_CREATORS})


def api_endpoints(f: Filters) -> Query:
    return Query("api_endpoints", f"""
        SELECT endpoint,
               CAST(sum(calls) AS BIGINT) AS calls,
               CAST(sum(error_calls) AS BIGINT) AS error_calls,
               sum(error_calls) / nullif(sum(calls), 0) AS error_rate,
               CAST(sum(server_error_calls) AS BIGINT) AS server_errors,
               sum(latency_ms_p50 * timed_calls) / nullif(sum(timed_calls), 0)
                   AS mean_daily_latency_ms_p50,
               max(latency_ms_p95) AS worst_daily_latency_ms_p95,
               max(latency_ms_p99) AS worst_daily_latency_ms_p99
        FROM marts.api_health_daily WHERE {_IN_RANGE} AND endpoint <> $all
        GROUP BY endpoint ORDER BY calls DESC, endpoint""",
                 {**f.params(), "all": ALL_CREATORS})


def conversation_sessions(f: Filters, day: date, limit: int = 500) -> Query:
    """The drill from a day's conversations to its sessions (``dashboard.sessions``, as
    ``marts.conversation_daily`` counts them)."""
    return Query("conversation_sessions", """
        SELECT session_id, user_id, started_at, duration_s, turns, user_messages,
               is_completed, is_escalated, drop_off_point
        FROM dashboard.sessions
        WHERE date = $day AND ($creator = $all OR creator_id = $creator) AND is_conversation
        ORDER BY started_at, session_id LIMIT $limit""",
                 {"day": day, "creator": f.creator, "all": ALL_CREATORS, "limit": limit})


def conversation_sessions_count(f: Filters, day: date) -> Query:
    return Query("conversation_sessions_count", """
        SELECT count(*) FROM dashboard.sessions
        WHERE date = $day AND ($creator = $all OR creator_id = $creator) AND is_conversation
        """, {"day": day, "creator": f.creator, "all": ALL_CREATORS})


def conversations(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (conversation_trend(f), nlu_trend(f), top_intents(f),
                                drop_off(f), satisfaction(f), agents(f), agent_versions(f),
                                intent_satisfaction(f), failure_reasons(f),
                                api_health_trend(f), api_endpoints(f),
                                conversation_sessions(f, f.end),
                                conversation_sessions_count(f, f.end))}


# --- learning -------------------------------------------------------------------------

def mastery(f: Filters) -> Query:
    """Learners per topic and mastery level (the heat map)."""
    return Query("mastery", """
        SELECT topic, level, count(*) AS learners, avg(mastery) AS mean_mastery
        FROM marts.topic_mastery WHERE creator_id = $creator
        GROUP BY topic, level ORDER BY topic, level""", {"creator": f.creator})


def mastery_users(f: Filters, topic: str | None, limit: int = 500) -> Query:
    """The drill from a topic to its learners."""
    return Query("mastery_users", """
        SELECT user_id, level, round(mastery, 3) AS mastery, attempts, correct_attempts
        FROM marts.topic_mastery WHERE creator_id = $creator AND topic = $topic
        ORDER BY mastery DESC, user_id LIMIT $limit""",
                 {"creator": f.creator, "topic": topic or "", "limit": limit})


def streaks(f: Filters) -> Query:
    return Query("streaks", f"""
        SELECT least(current_streak, 30) AS current_streak, count(*) AS users
        FROM marts.user_streaks WHERE user_id IN ({_ACTIVE_USERS})
        GROUP BY 1 ORDER BY 1""", f.params())


def goals(f: Filters) -> Query:
    return Query("goals", f"""
        SELECT goal_type, status, count(*) AS goals, avg(progress) AS mean_progress
        FROM marts.goal_progress
        WHERE created_date BETWEEN $start AND $end AND user_id IN ({_ACTIVE_USERS})
        GROUP BY ALL ORDER BY goal_type, status""", f.params())


def lesson_quality_trend(f: Filters) -> Query:
    """Lesson quality per period (``marts.lesson_quality_daily``, every topic)."""
    return Query("lesson_quality_trend", f"""
        SELECT {_trunc('date')} AS period,
               CAST(sum(lessons_completed) AS BIGINT) AS lessons_completed,
               sum(mean_quality * lessons_completed) / nullif(sum(lessons_completed), 0)
                   AS mean_quality,
               sum(low_quality_rate * lessons_completed) / nullif(sum(lessons_completed), 0)
                   AS low_quality_rate
        FROM marts.lesson_quality_daily WHERE {_IN_RANGE} AND topic = $all
        GROUP BY 1 ORDER BY 1""", {**_with_grain(f), "all": ALL_CREATORS})


def lesson_quality_topics(f: Filters) -> Query:
    return Query("lesson_quality_topics", f"""
        SELECT topic, CAST(sum(lessons_completed) AS BIGINT) AS lessons_completed,
               sum(mean_quality * lessons_completed) / nullif(sum(lessons_completed), 0)
                   AS mean_quality,
               sum(low_quality_rate * lessons_completed) / nullif(sum(lessons_completed), 0)
                   AS low_quality_rate
        FROM marts.lesson_quality_daily WHERE {_IN_RANGE} AND topic <> $all
        GROUP BY topic ORDER BY mean_quality, topic""", {**f.params(), "all": ALL_CREATORS})


def learning(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (mastery(f), mastery_users(f, None), streaks(f), goals(f),
                                lesson_quality_trend(f), lesson_quality_topics(f))}


# --- revenue and LTV ------------------------------------------------------------------

def revenue_trend(f: Filters) -> Query:
    return Query("revenue_trend", f"""
        SELECT {_trunc('date')} AS period, currency, sum(charges) AS charges,
               sum(refunds) AS refunds, sum(net_revenue) AS net_revenue
        FROM marts.revenue_daily WHERE {_IN_RANGE} GROUP BY ALL ORDER BY 1, 2""",
                 _with_grain(f))


def ltv(f: Filters) -> Query:
    return Query("ltv", f"""
        SELECT currency, count(*) AS users, sum(revenue_to_date) AS revenue_to_date,
               avg(predicted_revenue_90d) AS mean_predicted_90d,
               sum(predicted_revenue_90d) AS predicted_90d
        FROM ml.ltv_predictions WHERE user_id IN ({_ACTIVE_USERS})
        GROUP BY currency ORDER BY currency""", f.params())


def ltv_users(f: Filters, limit: int = 100) -> Query:
    return Query("ltv_users", f"""
        SELECT user_id, currency, revenue_to_date, round(predicted_revenue_90d, 2)
                   AS predicted_revenue_90d
        FROM ml.ltv_predictions WHERE user_id IN ({_ACTIVE_USERS})
        ORDER BY predicted_revenue_90d DESC, user_id LIMIT $limit""",
                 {**f.params(), "limit": limit})


def business_scenarios(f: Filters) -> Query:
    """``ml.business_scenarios``: revenue over the horizon if a lever moves (all creators)."""
    return Query("business_scenarios", """
        SELECT scenario, lever, change, currency, horizon_days, revenue, revenue_lower_80,
               revenue_upper_80, revenue_vs_baseline, new_customers
        FROM ml.business_scenarios ORDER BY currency, lever, change""")


def revenue(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (revenue_trend(f), ltv(f), ltv_users(f), business_scenarios(f))}


# --- content --------------------------------------------------------------------------

def content_trend(f: Filters) -> Query:
    return Query("content_trend", f"""
        SELECT {_trunc('date')} AS period, platform,
               CAST(sum(impressions) AS BIGINT) AS impressions,
               CAST(sum(engagements) AS BIGINT) AS engagements,
                      CAST(sum(clicks) AS BIGINT) AS clicks,
               sum(conversions) AS conversions,
                      CAST(sum(followers_gained) AS BIGINT) AS followers_gained
        FROM marts.content_platform_daily WHERE {_IN_RANGE} GROUP BY ALL ORDER BY 1, 2""",
                 _with_grain(f))


def top_content(f: Filters) -> Query:
    return Query("top_content", """
        SELECT content_id, platform, impressions, engagement_rate, ctr, conversions,
               performance_score
        FROM marts.content_performance WHERE $creator = $all OR creator_id = $creator
        ORDER BY performance_score DESC NULLS LAST, content_id LIMIT 15""",
                 {"creator": f.creator, "all": ALL_CREATORS})


def content_timing(f: Filters) -> Query:
    return Query("content_timing", """
        SELECT platform, slot_kind, slot, contents, mean_engagement_rate, ci_low, ci_high,
               beats_platform_mean
        FROM marts.content_timing WHERE rank <= 3 ORDER BY platform, slot_kind, rank""")


def content(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (content_trend(f), top_content(f), content_timing(f))}


# --- experiments ----------------------------------------------------------------------

def experiments(f: Filters) -> dict[str, Query]:
    return {"experiment_results": Query("experiment_results", """
        SELECT experiment_id, metric, variant, is_control, users, conversion_rate,
               mean_value, lift, ci_low, ci_high, p_value, p_value_holm, significant,
               srm_ok, power
        FROM ml.experiment_analysis ORDER BY experiment_id, is_primary DESC, metric,
                                             is_control DESC, variant""")}


# --- forecasts ------------------------------------------------------------------------

def forecast(f: Filters) -> Query:
    """Forecasts with their intervals, beside the actuals of the range."""
    return Query("forecast", """
        SELECT metric, date, 'forecast' AS kind, forecast AS value, lower_80, upper_80,
               lower_95, upper_95
        FROM ml.engagement_forecast WHERE creator_id = $creator
        UNION ALL
        SELECT 'dau', date, 'actual', dau, NULL, NULL, NULL, NULL
        FROM marts.engagement_daily WHERE creator_id = $creator
          AND date BETWEEN $start AND $end
        UNION ALL
        SELECT 'sessions', date, 'actual', sessions, NULL, NULL, NULL, NULL
        FROM marts.engagement_daily WHERE creator_id = $creator
          AND date BETWEEN $start AND $end
        ORDER BY metric, date, kind""", f.params())


def backtest(f: Filters) -> Query:
    return Query("backtest", """
        SELECT metric, chosen, best_model, mase_ets, mase_theta, mase_seasonal_naive,
               coverage_80, coverage_95, fallback_reason
        FROM ml.forecast_backtest WHERE creator_id = $creator ORDER BY metric""",
                 {"creator": f.creator})


def business_forecast(f: Filters) -> Query:
    """``ml.business_forecasts`` (all creators: net revenue per currency, new users) with
    their intervals, beside the net revenue of the range."""
    return Query("business_forecast", """
        SELECT metric, currency, CAST(date AS DATE) AS date, 'forecast' AS kind,
               forecast AS value, lower_80, upper_80, lower_95, upper_95, method,
               backtest_mase, seasonal_naive_mase
        FROM ml.business_forecasts
        UNION ALL
        SELECT 'net_revenue', currency, date, 'actual', net_revenue, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL
        FROM marts.revenue_daily WHERE creator_id = $all AND date BETWEEN $start AND $end
          AND currency IN (SELECT currency FROM ml.business_forecasts)
        ORDER BY metric, currency, date, kind""",
                 {"start": f.start, "end": f.end, "all": ALL_CREATORS})


def forecasts(f: Filters) -> dict[str, Query]:
    return {q.name: q for q in (forecast(f), backtest(f), business_forecast(f))}


# --- anomalies and alerts -------------------------------------------------------------

def anomalies_page(f: Filters) -> dict[str, Query]:
    return {
        "anomalies": Query("anomalies", """
            SELECT date, metric, value, expected, score, direction, severity
            FROM ml.metric_anomalies
            WHERE creator_id = $creator AND date BETWEEN $start AND $end
            ORDER BY date DESC, score DESC""", f.params()),
        "alerts": Query("alerts", """
            SELECT fired_at, severity, rule, metric, date, value, threshold, message
            FROM ops.alerts
            WHERE ($creator = $all OR creator_id = $creator) AND date BETWEEN $start AND $end
            ORDER BY fired_at DESC LIMIT 200""", {**f.params(), "all": ALL_CREATORS}),
        "user_anomalies": Query("user_anomalies", f"""
            SELECT direction, count(*) AS users FROM ml.user_behaviour_anomalies
            WHERE is_anomaly AND user_id IN ({_ACTIVE_USERS})
            GROUP BY direction ORDER BY direction""", f.params()),
        "anomaly_day": anomaly_day(f, f.end),
    }


def anomaly_day(f: Filters, day: date) -> Query:
    """The drill from an anomaly to its day: the day's engagement and conversation
    numbers from the marts (the users behind its DAU are ``active_users``)."""
    return Query("anomaly_day", """
        SELECT e.date, e.dau, e.sessions, e.active_events, c.conversations,
               c.automated_sessions / nullif(c.sessions, 0) AS automation_rate
        FROM marts.engagement_daily AS e
        LEFT JOIN marts.conversation_daily AS c USING (creator_id, date)
        WHERE e.creator_id = $creator AND e.date = $day""",
                 {"creator": f.creator, "day": day})


# --- data quality ---------------------------------------------------------------------

def data_quality(f: Filters) -> dict[str, Query]:
    return {
        "dq_checks": Query("dq_checks", """
            SELECT asset_key, check_name, status, expectations, failed, blocking_failed,
                   validated_at
            FROM ops.data_quality_checks
            QUALIFY row_number() OVER (PARTITION BY asset_key, check_name
                                       ORDER BY validated_at DESC) = 1
            ORDER BY status <> 'passed' DESC, asset_key, check_name"""),
        "dq_failures": Query("dq_failures", """
            SELECT table_name, expectation, columns, severity, unexpected_count,
                   element_count, observed
            FROM ops.data_quality_latest WHERE NOT passed
            ORDER BY severity, table_name, expectation LIMIT 200"""),
        "model_drift": Query("model_drift", """
            SELECT model_name, kind, feature, psi, status,
                   strftime(reference_start, '%Y-%m-%d') || ' to '
                       || strftime(reference_end, '%Y-%m-%d') AS training_window,
                   CAST("current_date" AS DATE) AS scored_date, reference_rows, current_rows
            FROM ml.model_drift
            ORDER BY status = 'significant' DESC, status = 'moderate' DESC, psi DESC,
                     model_name, feature"""),
    }


PageQueries = Callable[[Filters], dict[str, Query]]

# page (URL path) -> (title, its queries)
PAGES: dict[str, tuple[str, PageQueries]] = {
    "overview": ("Overview", overview),
    "engagement": ("Engagement and lifecycle", engagement),
    "retention": ("Retention", retention_page),
    "funnels": ("Funnels", funnels),
    "paths": ("Paths", paths),
    "conversations": ("Conversations and NLU", conversations),
    "learning": ("Learning", learning),
    "revenue": ("Revenue and LTV", revenue),
    "content": ("Content", content),
    "experiments": ("Experiments", experiments),
    "forecasts": ("Forecasts", forecasts),
    "anomalies": ("Anomalies and alerts", anomalies_page),
    "data_quality": ("Data quality", data_quality),
}
