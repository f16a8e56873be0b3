"""Report sections of issue 25: satisfaction per agent version and per intent, and the
users' engagement scores (marts.agent_version_daily, marts.intent_satisfaction_daily,
marts.user_engagement). Each returns a :class:`reports.content.Section`, rendered like
the others (HTML tables through reports/html.py, CSV, JSON)."""

from __future__ import annotations

from datetime import timedelta

import duckdb

from reports import content as c


def agent_versions_section(con: duckdb.DuckDBPyConnection, period: c.Period, creator: str,
                           name: str | None = None) -> c.Section:
    """Per agent and version over the period: sessions, ratings, CSAT, mean rating,
    negative-sentiment share and fallback rate (a creator's report: its agents)."""
    sec = c.Section("agent_versions", f"Agents by version ({c.scope(creator, name)})")
    found = c.rows(con, """
        SELECT agent_id, agent_version, sum(sessions) AS sessions, sum(ratings) AS ratings,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               sum(mean_rating * ratings) / nullif(sum(ratings), 0) AS mean_rating,
               sum(negative_sentiment_rate * sentiment_events)
                   / nullif(sum(sentiment_events), 0) AS negative_sentiment_rate,
               sum(fallback_rate * classifications) / nullif(sum(classifications), 0)
                   AS fallback_rate
        FROM marts.agent_version_daily
        WHERE date BETWEEN ? AND ?
          AND (? = '__all__' OR agent_id IN (
              SELECT DISTINCT agent_id FROM marts.agent_daily WHERE creator_id = ?))
        GROUP BY agent_id, agent_version ORDER BY agent_id, agent_version LIMIT 40""",
                   [period.start, period.end, creator, creator],
                   needs=["marts.agent_version_daily", "marts.agent_daily"])
    if not found:
        sec.available = False
        return sec
    cols = ["agent_id", "agent_version", "sessions", "ratings", "csat", "mean_rating",
            "negative_sentiment_rate", "fallback_rate"]
    sec.tables.append(c.Table("versions", cols, [[r[k] for k in cols] for r in found], 2))
    sec.notes.append("The version is the events' data.agent_version; CSAT is the share of "
                     "ratings of 4 or 5. Compare a version with the one before it on the "
                     "same agent.")
    return sec


def intent_satisfaction_section(con: duckdb.DuckDBPyConnection, period: c.Period,
                                creator: str) -> c.Section:
    """Per intent over the period (all creators): ratings, CSAT, mean rating and
    negative-sentiment share of the messages, worst CSAT first."""
    sec = c.Section("intent_satisfaction", "Satisfaction by intent (all creators)")
    if creator != c.ALL:  # the mart has no creator: shown in the overall report only
        sec.available = False
        return sec
    found = c.rows(con, """
        SELECT intent, sum(ratings) AS ratings,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               sum(mean_rating * ratings) / nullif(sum(ratings), 0) AS mean_rating,
               sum(negative_sentiment_rate * sentiment_messages)
                   / nullif(sum(sentiment_messages), 0) AS negative_sentiment_rate
        FROM marts.intent_satisfaction_daily WHERE date BETWEEN ? AND ?
        GROUP BY intent ORDER BY csat NULLS LAST, intent LIMIT 20""",
                   [period.start, period.end], needs=["marts.intent_satisfaction_daily"])
    if not found:
        sec.available = False
        return sec
    cols = ["intent", "ratings", "csat", "mean_rating", "negative_sentiment_rate"]
    sec.tables.append(c.Table("intents", cols, [[r[k] for k in cols] for r in found]))
    sec.notes.append("A rating counts for the last intent of its session before it; a "
                     "message's sentiment for that message's intent.")
    return sec


def engagement_score_section(con: duckdb.DuckDBPyConnection, creator: str) -> c.Section:
    """The distribution of marts.user_engagement's score as of the as-of date (overall)."""
    sec = c.Section("engagement_score", "User engagement score (all users)")
    if creator != c.ALL:
        sec.available = False
        return sec
    found = c.rows(con, """
        SELECT CASE WHEN engagement_score < 25 THEN '0-25'
                    WHEN engagement_score < 50 THEN '25-50'
                    WHEN engagement_score < 75 THEN '50-75' ELSE '75-100' END AS band,
               count(*) AS users, avg(engagement_score) AS mean_score,
               avg(active_days_28d) AS mean_active_days_28d
        FROM marts.user_engagement GROUP BY band ORDER BY band""",
                   needs=["marts.user_engagement"])
    if not found:
        sec.available = False
        return sec
    cols = ["band", "users", "mean_score", "mean_active_days_28d"]
    sec.tables.append(c.Table("bands", cols, [[r[k] for k in cols] for r in found]))
    sec.notes.append("engagement_score = 100 * (0.35 frequency + 0.25 volume + 0.20 depth "
                     "+ 0.20 recency) over the last 28 days (docs/metrics.md).")
    return sec


def lesson_quality_section(con: duckdb.DuckDBPyConnection, period: c.Period, creator: str,
                           name: str | None = None) -> c.Section:
    """Lesson quality per topic over the period against the period before
    (marts.lesson_quality_daily, the creator's own rows in a creator's report)."""
    sec = c.Section("lesson_quality", f"Lesson quality by topic ({c.scope(creator, name)})")
    length = (period.end - period.start).days + 1
    found = c.rows(con, """
        SELECT topic,
               sum(lessons_completed) FILTER (WHERE date >= ?) AS lessons_completed,
               sum(mean_quality * lessons_completed) FILTER (WHERE date >= ?)
                   / nullif(sum(lessons_completed) FILTER (WHERE date >= ?), 0) AS mean_quality,
               sum(mean_quality * lessons_completed) FILTER (WHERE date < ?)
                   / nullif(sum(lessons_completed) FILTER (WHERE date < ?), 0)
                   AS previous_mean_quality,
               sum(low_quality_rate * lessons_completed) FILTER (WHERE date >= ?)
                   / nullif(sum(lessons_completed) FILTER (WHERE date >= ?), 0)
                   AS low_quality_rate
        FROM marts.lesson_quality_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY topic HAVING sum(lessons_completed) FILTER (WHERE date >= ?) > 0
        ORDER BY topic = '__all__' DESC, lessons_completed DESC, topic LIMIT 12""",
                   [period.start] * 3 + [period.start] * 2 + [period.start] * 2
                   + [creator, period.start - timedelta(days=length), period.end,
                      period.start],
                   needs=["marts.lesson_quality_daily"])
    if not found:
        sec.available = False
        return sec
    cols = ["topic", "lessons_completed", "mean_quality", "previous_mean_quality",
            "low_quality_rate"]
    sec.tables.append(c.Table("topics", cols, [
        ["(all topics)" if r["topic"] == c.ALL else r["topic"]] + [r[k] for k in cols[1:]]
        for r in found]))
    sec.notes.append("Quality is lesson_completed's data.quality (0..1); low quality is "
                     "below 0.5; the previous period has the same length.")
    return sec
