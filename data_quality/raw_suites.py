"""Suites of the raw layer: events (per batch of export days), volume, reject rate, and
one per platform table, derived from the contract's metadata in ``ingest/schema.py``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

import duckdb

from data_quality import expect as ex
from data_quality.outcomes import Outcome
from data_quality.suite import Suite
from ingest.schema import EVENT_TYPES, PLATFORM_BY_NAME, PlatformEntity
from warehouse.settings import DataQualitySettings

DAYS = "(SELECT unnest($days::DATE[]))"

# the event ids with copies on two or more export days from a run's first day on: a
# temporary table computed once per run (multi_day_ids), which EVENTS_SQL reads
MULTI_DAY_IDS = "_dq_multi_day_event_ids"

_EVENT_COLUMNS = """
    e.event_id, e.event_type, e.event_ts, e.session_id, e.export_date,
    e.duration_ms, e.response_time_ms, e.confidence, e.rating, e.quality, e.text_length,
    e.latency_ms, e.status_code, e.sentiment, e.channel, e.goal_type,
    date_diff('day', CAST(e.event_ts AS DATE), e.export_date) AS days_late"""

# The current copies of the ids found on these export days: the current copy of an id is
# its latest export day's, never before the batch's first day. Those on the batch's days
# are read by day (only those days' row groups); a current copy on another day is one of
# an id with copies on two days (MULTI_DAY_IDS, usually few), so the later days are only
# searched for those: proportional to the new data, not to the table after it.
EVENTS_SQL = f"""
SELECT {_EVENT_COLUMNS}
FROM raw.events AS e
WHERE e.is_current AND e.export_date IN {DAYS}
UNION ALL
SELECT {_EVENT_COLUMNS}
FROM raw.events AS e
SEMI JOIN (
    SELECT m.event_id FROM {MULTI_DAY_IDS} AS m
    SEMI JOIN (SELECT event_id FROM raw.events WHERE export_date IN {DAYS}) AS b
        ON m.event_id = b.event_id
) AS moved ON e.event_id = moved.event_id
WHERE e.is_current AND e.export_date >= list_min($days::DATE[])
  AND e.export_date NOT IN {DAYS}
"""


@contextmanager
def multi_day_ids(con: duckdb.DuckDBPyConnection, days: Sequence[date]) -> Iterator[None]:
    """MULTI_DAY_IDS for a run over ``days``: the ids with copies on two or more export
    days from the first of them on (one aggregation for all of the run's batches)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {MULTI_DAY_IDS} AS SELECT event_id FROM raw.events "
        "WHERE export_date >= $first GROUP BY event_id HAVING min(export_date) <> max(export_date)",
        {"first": min(days)})
    try:
        yield
    finally:
        con.execute(f"DROP TABLE IF EXISTS {MULTI_DAY_IDS}")


VOLUME_SQL = """
WITH days AS (SELECT unnest($days::DATE[]) AS export_date),
daily AS (SELECT export_date, count(*) AS events FROM raw.events GROUP BY 1),
scored AS (
    SELECT d.export_date, coalesce(t.events, 0) AS events,
           median(h.events) AS same_weekday_median, count(h.events) AS history_days
    FROM days AS d
    LEFT JOIN daily AS t ON t.export_date = d.export_date
    LEFT JOIN daily AS h
      ON h.export_date < d.export_date
     AND h.export_date >= d.export_date - to_days(7 * $weeks)
     AND dayofweek(h.export_date) = dayofweek(d.export_date)
    GROUP BY 1, 2
)
SELECT export_date, events, same_weekday_median, history_days,
       CASE WHEN history_days >= $min_history
            THEN events / nullif(same_weekday_median, 0) END AS volume_ratio
FROM scored
"""

REJECT_RATE_SQL = f"""
WITH latest AS (
    SELECT export_date, arg_max(load_id, finished_at) AS load_id
    FROM raw.load_audit
    WHERE entity = $entity AND export_date IN {DAYS}
    GROUP BY 1
)
SELECT a.export_date, sum(a.records_read) AS lines_read, sum(a.rejected) AS rejected,
       count(*) FILTER (WHERE a.status = 'failed') AS failed_files,
       CASE WHEN sum(a.records_read) >= $min_lines
            THEN sum(a.rejected) / sum(a.records_read) END AS reject_rate
FROM raw.load_audit AS a
JOIN latest AS l ON a.export_date = l.export_date AND a.load_id = l.load_id
WHERE a.entity = $entity
GROUP BY 1
"""

SENTIMENTS = ("positive", "neutral", "negative")
CHANNELS = ("web", "mobile", "voice")
GOAL_TYPES = ("streak", "sessions", "mastery", "custom")
CONTENT_PLATFORMS = ("youtube", "tiktok", "instagram", "x", "linkedin", "reddit")
PLANS = ("free", "pro", "team")


def events_suite(cfg: DataQualitySettings, future_days: int = 1) -> Suite:
    def expectations() -> list:
        return [
            *(ex.not_null(c) for c in ("event_id", "event_type", "event_ts", "session_id")),
            ex.unique("event_id", what="one current copy per event_id after de-duplication"),
            ex.rate("confidence"),
            ex.rate("quality"),
            ex.between("rating", 1, 5),
            *(ex.non_negative(c) for c in
              ("duration_ms", "response_time_ms", "text_length", "latency_ms")),
            ex.between(
                "days_late", -future_days, None,
                what=f"no event after the end of the {future_days}. day after its export "
                "date (ingest.future_tolerance_days)",
            ),
            ex.between(
                "days_late", None, cfg.max_days_late, warning=True,
                what=f"events at most {cfg.max_days_late} days before their export date",
            ),
            ex.in_set("event_type", EVENT_TYPES, warning=True,
                      mostly=1 - cfg.max_unknown_event_type_share),
            ex.in_set("sentiment", SENTIMENTS, warning=True),
            ex.in_set("channel", CHANNELS, warning=True),
            ex.in_set("goal_type", GOAL_TYPES, warning=True),
            ex.between("status_code", 100, 599, warning=True),
        ]

    return Suite("raw.events", "raw.events", EVENTS_SQL, expectations, materialize=True)


def volume_suite(cfg: DataQualitySettings) -> Suite:
    def expectations() -> list:
        return [
            ex.between(
                "volume_ratio", cfg.volume_band_low, cfg.volume_band_high,
                warning=not cfg.volume_blocking,
                what=(
                    f"the export day's events within [{cfg.volume_band_low:g}, "
                    f"{cfg.volume_band_high:g}] x the median of the same weekday over "
                    f"{cfg.volume_history_weeks} weeks"
                ),
            )
        ]

    return Suite("raw.events.volume", "raw.events", VOLUME_SQL, expectations)


def reject_rate_suite(entity: str, cfg: DataQualitySettings) -> Suite:
    def expectations() -> list:
        return [
            ex.between(
                "reject_rate", 0, cfg.max_reject_rate,
                what=f"at most {cfg.max_reject_rate:g} of an export day's lines rejected",
            )
        ]

    table = "raw.events" if entity == "events" else f"raw.{entity}"
    return Suite(f"{table}.reject_rate", table, REJECT_RATE_SQL, expectations)


def platform_suite(entity: PlatformEntity) -> Suite:
    columns = [c for c in entity.columns if c not in entity.personal]
    sql = f"SELECT {', '.join(columns)} FROM {entity.table} WHERE is_current"

    def expectations() -> list:
        out = [ex.unique_key(entity.key)]
        out += [ex.not_null(c) for c in dict.fromkeys((*entity.key, *entity.required))]
        out += [ex.in_set(c, values) for c, values in entity.enums.items()]
        out += [ex.non_negative(c) for c in entity.non_negative]
        if "currency" in columns:
            out.append(ex.matches("currency", r"^[A-Z]{3}$", "currency is an ISO 4217 code"))
        if entity.name == "users":
            out.append(ex.in_set("plan", PLANS, warning=True))
            out.append(ex.matches("country", r"^[A-Z]{2}$", "country is ISO 3166-1 alpha-2",
                                  warning=True))
        if entity.name == "content_metrics":
            out.append(ex.in_set("platform", CONTENT_PLATFORMS, warning=True))
        return out

    return Suite(entity.table, entity.table, sql, expectations)


def day_batches(
    con: duckdb.DuckDBPyConnection, days: Sequence[date], max_rows: int
) -> list[list[date]]:
    """Export days grouped in order into batches of at most ``max_rows`` current events
    (a single day larger than that is a batch of its own)."""
    if not days:
        return []
    counts = dict(
        con.execute(
            f"SELECT export_date, count(*) FROM raw.events "
            f"WHERE is_current AND export_date IN {DAYS} GROUP BY 1",
            {"days": sorted(days)},
        ).fetchall()
    )
    batches: list[list[date]] = []
    rows = 0
    for day in sorted(days):
        n = counts.get(day, 0)
        if batches and rows + n <= max_rows:
            batches[-1].append(day)
            rows += n
        else:
            batches.append([day])
            rows = n
    return batches


def batch_label(days: Sequence[date]) -> str:
    if not days:
        return ""
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()}..{days[-1].isoformat()} ({len(days)} days)"


def validate_events(
    con: duckdb.DuckDBPyConnection,
    days: Sequence[date],
    cfg: DataQualitySettings,
    future_days: int = 1,
) -> list[Outcome]:
    """The events contract suite on the current rows of these export days (and every
    other current copy of their event ids), plus the reject rate of each day."""
    suite = events_suite(cfg, future_days)
    outcomes: list[Outcome] = []
    batches = day_batches(con, days, cfg.max_rows_per_batch)
    if batches:
        with multi_day_ids(con, days):
            for batch in batches:
                outcomes += suite.run(con, {"days": batch}, batch_label(batch))
    return outcomes + validate_reject_rate(con, "events", days, cfg)


def validate_volume(
    con: duckdb.DuckDBPyConnection, days: Sequence[date], cfg: DataQualitySettings
) -> list[Outcome]:
    if not days:
        return []
    params = {"days": sorted(days), "weeks": cfg.volume_history_weeks,
              "min_history": cfg.volume_min_history}
    outcomes = volume_suite(cfg).run(con, params, batch_label(sorted(days)))
    return _name_failing_days(
        con, outcomes, VOLUME_SQL, params,
        f"volume_ratio NOT BETWEEN {cfg.volume_band_low} AND {cfg.volume_band_high}",
    )


def validate_platform(
    con: duckdb.DuckDBPyConnection, entity: str, days: Sequence[date], cfg: DataQualitySettings
) -> list[Outcome]:
    return platform_suite(PLATFORM_BY_NAME[entity]).run(con) + validate_reject_rate(
        con, entity, days, cfg
    )


def validate_reject_rate(
    con: duckdb.DuckDBPyConnection, entity: str, days: Sequence[date], cfg: DataQualitySettings
) -> list[Outcome]:
    if not days:
        return []
    params = {"days": sorted(days), "entity": entity, "min_lines": cfg.reject_rate_min_lines}
    outcomes = reject_rate_suite(entity, cfg).run(con, params, batch_label(sorted(days)))
    return _name_failing_days(
        con, outcomes, REJECT_RATE_SQL, params, f"reject_rate > {cfg.max_reject_rate}"
    )


def _name_failing_days(
    con: duckdb.DuckDBPyConnection,
    outcomes: list[Outcome],
    sql: str,
    params: dict,
    failing: str,
) -> list[Outcome]:
    """A per-day suite that failed names the export days that failed (in its batch, so
    only those days are validated again), not the whole range it looked at."""
    if all(o.passed for o in outcomes):
        return outcomes
    days = [d for (d,) in con.execute(
        f"SELECT export_date FROM ({sql}) WHERE {failing} ORDER BY 1", params).fetchall()]
    if not days:
        return outcomes
    label = ", ".join(d.isoformat() for d in days)
    return [o if o.passed else replace(o, batch=label) for o in outcomes]
