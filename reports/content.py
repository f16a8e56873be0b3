"""The numbers of a report, gathered from the marts, ``ml``, ``ops`` and ``raw`` tables.

Every query goes through :func:`rows`: a missing table, column or schema (or any other
query error) gives ``None`` and the section says "no data" instead of failing the report.
All functions are read-only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from data_quality.freshness import Reference, age_days
from warehouse.db import table_exists
from warehouse.settings import ReportsSettings

log = logging.getLogger(__name__)

ALL = "__all__"
DAILY, WEEKLY, MONTHLY, QUARTERLY = "daily", "weekly", "monthly", "quarterly"
KINDS = (DAILY, WEEKLY, MONTHLY, QUARTERLY)
# the user_lifecycle grain of each kind's period (a quarter has none)
LIFECYCLE_GRAIN = {DAILY: "day", WEEKLY: "week", MONTHLY: "month"}

Row = dict[str, Any]


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """The reported period and the periods it is compared with (inclusive dates)."""

    kind: str
    start: date
    end: date
    previous_start: date
    previous_end: date
    week_ago: date | None = None  # daily only: the same weekday last week

    @property
    def label(self) -> str:
        if self.kind == DAILY:
            return self.end.isoformat()
        if self.kind == MONTHLY:
            return f"{self.start.year}-{self.start.month:02d}"
        if self.kind == QUARTERLY:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        iso = self.start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def daily_period(as_of: date) -> Period:
    """The as-of date against the previous day and the same weekday last week."""
    prev = as_of - timedelta(days=1)
    return Period(DAILY, as_of, as_of, prev, prev, as_of - timedelta(days=7))


def weekly_period(as_of: date) -> Period:
    """The ISO week (Monday..Sunday) ending on or before the as-of date, against the week
    before it."""
    end = as_of - timedelta(days=(as_of.isoweekday() % 7))  # the Sunday on/before as_of
    start = end - timedelta(days=6)
    return Period(WEEKLY, start, end, start - timedelta(days=7), end - timedelta(days=7))


def _months_back(first: date, months: int) -> date:
    """The first day of the month ``months`` before the month starting on ``first``."""
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _calendar_period(kind: str, as_of: date, months: int) -> Period:
    """The last complete calendar period of ``months`` months (1: month, 3: quarter)
    ending on or before the as-of date, against the one before it."""
    start = date(as_of.year, as_of.month - (as_of.month - 1) % months, 1)
    following = _months_back(start, -months)
    if following - timedelta(days=1) != as_of:  # the as-of period is not complete yet
        following, start = start, _months_back(start, months)
    previous_start = _months_back(start, months)
    return Period(kind, start, following - timedelta(days=1), previous_start,
                  start - timedelta(days=1))


def monthly_period(as_of: date) -> Period:
    """The calendar month ending on or before the as-of date, against the month before."""
    return _calendar_period(MONTHLY, as_of, 1)


def quarterly_period(as_of: date) -> Period:
    """The calendar quarter ending on or before the as-of date, against the one before."""
    return _calendar_period(QUARTERLY, as_of, 3)


def period_for(kind: str, as_of: date) -> Period:
    if kind == DAILY:
        return daily_period(as_of)
    if kind == WEEKLY:
        return weekly_period(as_of)
    if kind == MONTHLY:
        return monthly_period(as_of)
    if kind == QUARTERLY:
        return quarterly_period(as_of)
    raise ValueError(f"unknown report kind {kind!r} ({', '.join(KINDS)})")


# --------------------------------------------------------------------------- queries


# the tables of the schemas a render only reads, listed once per render (known_tables)
_READ_ONLY_SCHEMAS = ("raw", "staging", "intermediate", "marts", "ml")
_KNOWN_TABLES: ContextVar[frozenset[tuple[str, str]] | None] = ContextVar(
    "report_known_tables", default=None)


@contextmanager
def known_tables(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Within: :func:`rows` finds the tables of the schemas a render only reads (raw,
    staging, intermediate, marts, ml) in one list read on entry, instead of one catalog
    query per query (~700 in a daily render); ops tables, which a render writes, are still
    looked up each time."""
    listed = frozenset(con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()").fetchall())
    token = _KNOWN_TABLES.set(listed)
    try:
        yield
    finally:
        _KNOWN_TABLES.reset(token)


# the rows of each query run while a render drafts its pages (same_rows): the overall
# and every creator's page ask some queries unchanged (data quality, freshness, loads)
_SAME_ROWS: ContextVar[dict[tuple[object, ...], list[Row] | None] | None] = ContextVar(
    "report_same_rows", default=None)


@contextmanager
def same_rows() -> Iterator[None]:
    """Within: :func:`rows` runs a query with the same SQL, parameters and needed tables
    once and hands each caller a copy of its rows. For a stretch that only reads (a
    render's drafting of its pages: its writes come after)."""
    token = _SAME_ROWS.set({})
    try:
        yield
    finally:
        _SAME_ROWS.reset(token)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    listed = _KNOWN_TABLES.get()
    if listed is not None and schema in _READ_ONLY_SCHEMAS:
        return (schema, name) in listed
    return table_exists(con, schema, name)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = (),
         *, needs: Sequence[str] = ()) -> list[Row] | None:
    """Rows as dicts, or None when a table in ``needs`` ("schema.table") is missing or
    the query fails (logged)."""
    memo = _SAME_ROWS.get()
    if memo is None:
        return _rows(con, sql, params, needs)
    key = (sql, repr(list(params)), tuple(needs))
    if key not in memo:
        memo[key] = _rows(con, sql, params, needs)
    found = memo[key]
    return None if found is None else [dict(r) for r in found]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object],
          needs: Sequence[str]) -> list[Row] | None:
    for qualified in needs:
        schema, name = qualified.split(".", 1)
        if not _exists(con, schema, name):
            log.debug("report: %s is missing", qualified)
            return None
    try:
        cur = con.execute(sql, list(params))
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    except duckdb.Error as exc:
        log.warning("report query failed (%s): %s", ", ".join(needs) or "query", exc)
        return None


def as_of_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """``intermediate.int_as_of_date``, else the last date of marts.engagement_daily."""
    for sql, needs in (
        ("SELECT max(as_of_date) AS d FROM intermediate.int_as_of_date",
         ["intermediate.int_as_of_date"]),
        ("SELECT max(date) AS d FROM marts.engagement_daily", ["marts.engagement_daily"]),
    ):
        found = rows(con, sql, needs=needs)
        if found and found[0]["d"] is not None:
            value = found[0]["d"]
            return value.date() if isinstance(value, datetime) else value
    return None


def creators(con: duckdb.DuckDBPyConnection, limit: int) -> list[str]:
    """Creators of marts.engagement_daily, most active first (active events), capped."""
    found = rows(con, """
        SELECT creator_id FROM marts.engagement_daily
        WHERE creator_id IS NOT NULL AND creator_id <> ?
        GROUP BY creator_id ORDER BY sum(active_events) DESC NULLS LAST, creator_id
        LIMIT ?""", [ALL, limit], needs=["marts.engagement_daily"])
    return [str(r["creator_id"]) for r in found or []]


def creator_name(con: duckdb.DuckDBPyConnection, creator: str) -> str | None:
    """The creator's name (marts.creators); None for all creators or an unnamed one."""
    if creator == ALL:
        return None
    found = rows(con, "SELECT name FROM marts.creators WHERE creator_id = ?", [creator],
                 needs=["marts.creators"])
    name = found[0]["name"] if found else None
    return str(name) if name not in (None, "") else None


def scope(creator: str, name: str | None = None) -> str:
    """Whose numbers a heading shows: ``all creators``, the creator's name, or its id."""
    if creator == ALL:
        return "all creators"
    return name or f"creator {creator}"


# --------------------------------------------------------------------------- headline


@dataclass(frozen=True)
class Metric:
    """One headline number, its previous-period value and (daily) same weekday last week."""

    section: str
    metric: str
    value: float | None
    previous: float | None
    week_ago: float | None = None
    unit: str = ""         # "" count, "rate" (fraction), "money"
    currency: str | None = None

    @property
    def change(self) -> float | None:
        return diff(self.value, self.previous)

    @property
    def change_pct(self) -> float | None:
        return rel(self.value, self.previous)

    @property
    def change_week(self) -> float | None:
        return diff(self.value, self.week_ago)

    @property
    def change_week_pct(self) -> float | None:
        return rel(self.value, self.week_ago)


def diff(value: float | None, previous: float | None) -> float | None:
    if value is None or previous is None:
        return None
    return float(value) - float(previous)


def rel(value: float | None, previous: float | None) -> float | None:
    if value is None or previous is None or float(previous) == 0:
        return None
    return (float(value) - float(previous)) / abs(float(previous))


def _num(v: object) -> float | None:
    if v is None:
        return None
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_ENGAGEMENT_SQL = """
    SELECT count(*) AS days,
           avg(dau) AS dau,
           arg_max(wau, date) AS wau,
           arg_max(mau, date) AS mau,
           avg(stickiness) AS stickiness,
           sum(sessions) AS sessions,
           sum(active_events) AS active_events
    FROM marts.engagement_daily
    WHERE creator_id = ? AND date BETWEEN ? AND ?
"""

_CONVERSATION_SQL = """
    SELECT count(*) AS days,
           sum(conversations) AS conversations,
           avg(automation_rate) AS automation_rate,
           sum(cost_savings) AS cost_savings,
           avg(workflow_completion_rate) AS workflow_completion_rate
    FROM marts.conversation_daily
    WHERE creator_id = ? AND date BETWEEN ? AND ?
"""

_REVENUE_SQL = """
    SELECT currency, sum(charges) AS charges, sum(refunds) AS refunds,
           sum(net_revenue) AS net_revenue
    FROM marts.revenue_daily
    WHERE creator_id = ? AND date BETWEEN ? AND ?
    GROUP BY currency ORDER BY currency
"""


def _aggregate(con: duckdb.DuckDBPyConnection, sql: str, table: str, creator: str,
               start: date, end: date) -> Row | None:
    found = rows(con, sql, [creator, start, end], needs=[table])
    if not found or not found[0].get("days"):
        return None
    return found[0]


def _windows(period: Period) -> list[tuple[date, date] | None]:
    week = ((period.week_ago, period.week_ago) if period.week_ago else None)
    return [(period.start, period.end), (period.previous_start, period.previous_end), week]


def headline(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
             cost_currency: str | None = None) -> list[Metric]:
    """DAU (mean over the period), WAU and MAU (at its end), stickiness, sessions,
    conversations, automation rate, cost savings (in ``cost_currency``) and net revenue
    per currency (0 in a window with revenue rows but none in that currency)."""
    out: list[Metric] = []
    plan = [
        ("engagement", _ENGAGEMENT_SQL, "marts.engagement_daily",
         [("dau", ""), ("wau", ""), ("mau", ""), ("stickiness", "rate"), ("sessions", "")]),
        ("conversations", _CONVERSATION_SQL, "marts.conversation_daily",
         [("conversations", ""), ("automation_rate", "rate"), ("cost_savings", "money")]),
    ]
    for section, sql, table, metrics in plan:
        values = [None if w is None else _aggregate(con, sql, table, creator, *w)
                  for w in _windows(period)]
        if values[0] is None and values[1] is None:
            continue
        for name, unit in metrics:
            cur, prev, week = ((_num(v[name]) if v else None) for v in values)
            out.append(Metric(section, name, cur, prev, week, unit,
                              cost_currency if name == "cost_savings" else None))
    revenue = [None if w is None else rows(con, _REVENUE_SQL, [creator, *w],
                                           needs=["marts.revenue_daily"])
               for w in _windows(period)]
    by_currency: dict[str, list[float | None]] = {}
    for i, found in enumerate(revenue):
        for r in found or []:
            by_currency.setdefault(str(r["currency"]), [
                None if w is None else 0.0 for w in revenue])[i] = _num(r["net_revenue"])
    for currency, (cur, prev, week) in sorted(by_currency.items()):
        out.append(Metric("revenue", f"net_revenue_{currency}", cur, prev, week, "money",
                          currency))
    return out


# --------------------------------------------------------------------------- sections


@dataclass
class Table:
    """A table of a section: shown in HTML, exported to CSV (long) and JSON."""

    name: str
    columns: list[str]
    rows: list[list[object]]
    key_columns: int = 1  # leading columns identifying a row in the long CSV
    # a column's unit where its name does not tell it (reports/html.py ``column_unit``)
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class Section:
    name: str                         # machine name (CSV "section")
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    available: bool = True            # False: "no data"
    currency: str | None = None       # the currency of money columns without a currency column
    charts: dict[str, Any] = field(default_factory=dict)  # chart inputs (see render)


def _table(name: str, found: list[Row] | None, columns: list[str],
           key_columns: int = 1) -> Table | None:
    if not found:
        return None
    return Table(name, columns, [[r.get(c) for c in columns] for r in found], key_columns)


def engagement_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                       cfg: ReportsSettings) -> Section:
    sec = Section("engagement", "Engagement")
    start = period.end - timedelta(days=max(cfg.engagement_days, 1) - 1)
    found = rows(con, """
        SELECT date, dau, wau, mau, stickiness, sessions FROM marts.engagement_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ? ORDER BY date""",
                 [creator, start, period.end], needs=["marts.engagement_daily"])
    if not found:
        sec.available = False
        return sec
    sec.charts["series"] = {m.upper(): [(r["date"], _num(r[m])) for r in found]
                            for m in ("dau", "wau", "mau")}
    recent = found[-14:]
    sec.tables.append(Table("daily", ["date", "dau", "wau", "mau", "stickiness", "sessions"],
                            [[r["date"], r["dau"], r["wau"], r["mau"], r["stickiness"],
                              r["sessions"]] for r in reversed(recent)]))
    grain = LIFECYCLE_GRAIN.get(period.kind)
    lifecycle = rows(con, """
        SELECT status, users FROM marts.user_lifecycle
        WHERE period_grain = ? AND creator_id = ? AND period_start = ? ORDER BY status""",
                     [grain, creator, period.start],
                     needs=["marts.user_lifecycle"]) if grain else None
    depth = rows(con, """
        SELECT sum(sessions) AS sessions,
               sum(mean_duration_s * sessions) / nullif(sum(sessions), 0) AS mean_duration_s,
               sum(mean_user_messages * sessions) / nullif(sum(sessions), 0)
                   AS mean_user_messages,
               sum(bounce_rate * sessions) / nullif(sum(sessions), 0) AS bounce_rate,
               count(*) AS days
        FROM marts.session_depth_daily WHERE creator_id = ? AND date BETWEEN ? AND ?""",
                 [creator, period.start, period.end], needs=["marts.session_depth_daily"])
    if depth and depth[0]["days"]:
        sec.tables.append(Table("session depth", ["metric", "value"],
                                [[m, depth[0][m]] for m in ("sessions", "mean_duration_s",
                                                            "mean_user_messages",
                                                            "bounce_rate")]))
    if lifecycle:
        sec.tables.append(Table("lifecycle", ["status", "users"],
                                [[r["status"], r["users"]] for r in lifecycle]))
    return sec


@dataclass(frozen=True)
class RetentionView:
    """The retention definition a report shows."""

    name: str
    grain: str
    title: str


def retention_view(con: duckdb.DuckDBPyConnection, cfg: ReportsSettings,
                   creator: str = ALL) -> RetentionView | None:
    """The definition of marts.retention a report shows, among the ``on`` and
    ``on_or_after`` definitions with rows for the creator: reports.retention_definition,
    else signup to any activity in mode ``on`` (weekly first), else the first by name.
    A signup has no creator, so a creator's report falls back to a definition whose start
    is one of its events. None when there is none."""
    found = rows(con, """
        SELECT DISTINCT definition, mode, cohort_grain, start_event, return_event
        FROM marts.retention WHERE mode IN ('on', 'on_or_after') AND creator_id = ?""",
                 [creator], needs=["marts.retention"])
    if not found:
        return None
    grains = {"week": 0, "month": 1, "day": 2}

    def rank(r: Row) -> tuple:
        signup_any = r["start_event"] == "signup" and r["return_event"] == "any_active"
        return (r["definition"] != cfg.retention_definition, not signup_any,
                r["mode"] != "on", grains.get(str(r["cohort_grain"]), 3), r["definition"])

    best = min(found, key=rank)
    unbounded = ", on or after" if best["mode"] == "on_or_after" else ""
    grain = {"day": "daily", "week": "weekly", "month": "monthly"}.get(
        str(best["cohort_grain"]), str(best["cohort_grain"]))
    title = (f"{grain} {_event_label(best['start_event'])} cohorts, returning with "
             f"{_event_label(best['return_event'])}{unbounded}")
    return RetentionView(str(best["definition"]), str(best["cohort_grain"]), title)


def _event_label(selector: object) -> str:
    """A retention start or return as words: ``signup``, ``any activity``, or the event
    types of its selector (``lesson_started``; ``a or b``; filtered ones marked ``*``)."""
    if selector in ("signup", "any_active"):
        return "any activity" if selector == "any_active" else "signup"
    try:
        alternatives = json.loads(str(selector))["any_of"]
        names = [str(a["event_type"]) + ("*" if a.get("filters") else "")
                 for a in alternatives]
    except (ValueError, KeyError, TypeError):
        return str(selector)
    return " or ".join(dict.fromkeys(names))


def retention_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                      cfg: ReportsSettings, definition: RetentionView | None,
                      name: str | None = None) -> Section:
    """The retention curve and the recent cohorts of one ``on``/``on_or_after``
    definition of marts.retention (:func:`retention_view`; overall by default signup to
    any activity weekly, equal to marts.retention_cohorts), over the creator's own start
    and return events (creator_id = '__all__': all events)."""
    if definition is None:
        sec = Section("retention", f"Retention ({scope(creator, name)})")
        sec.available = False
        return sec
    unit = definition.grain
    sec = Section("retention", f"Retention ({definition.title}, {scope(creator, name)})")
    found = rows(con, """
        SELECT cohort_start, cohort_size, period, retained_users, retention_rate
        FROM marts.retention
        WHERE definition = ? AND creator_id = ? AND cohort_start <= ?
        ORDER BY cohort_start DESC, period""", [definition.name, creator, period.end],
                 needs=["marts.retention"])
    if not found:
        sec.available = False
        return sec
    cohorts = sorted({r["cohort_start"] for r in found}, reverse=True)
    recent = cohorts[: max(cfg.retention_cohorts, 1)]
    max_period = max(int(r["period"]) for r in found)
    # covered cells only (metrics.md v2 "Coverage"): a period before the first loaded day
    # is unknown (null), never a 0 that would drag the curve down
    curve = rows(con, """
        SELECT period, sum(retained_users) / nullif(sum(cohort_size), 0) AS retention_rate,
               count(*) AS cohorts
        FROM marts.retention
        WHERE definition = ? AND creator_id = ? AND is_covered
          AND retention_rate IS NOT NULL AND cohort_start <= ?
        GROUP BY period ORDER BY period""", [definition.name, creator, period.end],
                 needs=["marts.retention"])
    if curve:
        sec.charts["curve"] = [(int(r["period"]), _num(r["retention_rate"])) for r in curve]
        sec.charts["curve_cohorts"] = [(int(r["period"]), int(r["cohorts"])) for r in curve]
        sec.charts["curve_unit"] = unit
        sec.tables.append(Table("curve", [unit, "retention_rate", "cohorts"],
                                [[r["period"], r["retention_rate"], r["cohorts"]]
                                 for r in curve]))
        sec.notes.append(f"Each point of the curve averages the covered cohorts of its {unit} "
                         "(weighted by cohort size): " + ", ".join(
                             f"{unit} {k}: {n}" for k, n in sec.charts["curve_cohorts"]) + ".")
    shown = min(max_period, 8)
    columns = ["cohort_start", "cohort_size"] + [f"{unit}_{k}" for k in range(shown + 1)]
    table_rows: list[list[object]] = []
    for cohort in recent:
        by_period = {int(r["period"]): r for r in found if r["cohort_start"] == cohort}
        size = next(iter(by_period.values()))["cohort_size"]
        table_rows.append([cohort, size] + [
            by_period[k]["retention_rate"] if k in by_period else None
            for k in range(shown + 1)])
    sec.tables.append(Table("cohorts", columns, table_rows))
    sec.notes.append("Retention = retained users / cohort size; periods not complete yet, "
                     "and periods before the first loaded day (not covered: unknown, never "
                     "0), are empty.")
    return sec


def funnel_section(con: duckdb.DuckDBPyConnection, creator: str = ALL,
                   name: str | None = None) -> Section:
    """The funnels over the creator's own events (creator_id = '__all__': all events)."""
    sec = Section("funnel", f"Funnels ({scope(creator, name)})")
    found = rows(con, """
        SELECT funnel, step, step_name, users, conversion_rate, dropoff_users,
               median_seconds_to_step
        FROM marts.funnel_steps WHERE creator_id = ? ORDER BY funnel, step""", [creator],
                 needs=["marts.funnel_steps"])
    if not found:
        sec.available = False
        return sec
    funnels: dict[str, list[Row]] = {}
    for r in found:
        funnels.setdefault(str(r["funnel"]), []).append(r)
    sec.charts["funnels"] = {
        name: ([f"{r['step']}. {r['step_name']}" for r in steps],
               [_num(r["users"]) or 0.0 for r in steps])
        for name, steps in funnels.items()}
    sec.tables.append(Table(
        "steps", ["funnel", "step", "step_name", "users", "conversion_rate", "dropoff_users",
                  "dropoff_rate", "median_seconds_to_step"],
        [[r["funnel"], r["step"], r["step_name"], r["users"], r["conversion_rate"],
          r["dropoff_users"], _dropoff_rate(steps_before(funnels[str(r["funnel"])], r), r),
          r["median_seconds_to_step"]]
         for r in found], key_columns=3))
    sec.notes.append("Median time to step: from the user's step 1 to this step, among the "
                     "users reaching it (their first attempt).")
    sec.charts["trend"] = funnel_trend(con, creator)
    sec.charts["breakdowns"] = funnel_breakdown_bars(con, creator)
    if sec.charts["trend"]:
        sec.notes.append(f"Trend: conversion to each funnel's last step by day of entry, the "
                         f"last {TREND_DAYS} complete days (a day whose conversion window "
                         "has not elapsed yet is left out, never shown low).")
    return sec


PATH_TABLE_EDGES = 12  # the largest edges of each path in the report's table


def paths_section(con: duckdb.DuckDBPyConnection, creator: str = ALL,
                  name: str | None = None) -> Section:
    """The paths of the settings (marts.path_edges) over the creator's own events
    (creator_id = '__all__': all events): a Sankey chart per path and its largest edges."""
    sec = Section("paths", f"Paths ({scope(creator, name)})")
    found = rows(con, """
        SELECT path, direction, step, source, target, users, max_steps
        FROM marts.path_edges WHERE creator_id = ?
        ORDER BY path, step, users DESC, source, target""", [creator],
                 needs=["marts.path_edges"])
    if not found:
        sec.available = False
        return sec
    paths: dict[str, list[Row]] = {}
    for r in found:
        paths.setdefault(str(r["path"]), []).append(r)
    sec.charts["paths"] = {
        path: {"direction": str(edges[0]["direction"]),
               "edges": [(int(r["step"]), str(r["source"]), str(r["target"]),
                          _num(r["users"]) or 0.0) for r in edges]}
        for path, edges in paths.items()}
    table_rows = []
    for path, edges in paths.items():
        largest = sorted(edges, key=lambda r: (-(_num(r["users"]) or 0), r["step"]))
        table_rows += [[path, r["step"], r["source"], r["target"], r["users"]]
                       for r in sorted(largest[:PATH_TABLE_EDGES],
                                       key=lambda r: (r["step"], -(_num(r["users"]) or 0)))]
    sec.tables.append(Table("edges", ["path", "step", "source", "target", "users"],
                            table_rows, key_columns=4))
    sec.notes.append(
        "From each user's first anchor event, the next events of the same session "
        "(repeats merged), step 1 being the anchor's; `end`: the session stopped there. "
        f"The table shows the {PATH_TABLE_EDGES} largest edges of each path; all of them "
        "are in marts.path_edges.")
    return sec


TREND_DAYS = 28
BREAKDOWN_VALUES = 6


def funnel_trend(con: duckdb.DuckDBPyConnection, creator: str = ALL
                 ) -> dict[str, list[tuple[object, float | None]]]:
    """funnel -> [(entry day, conversion to the last step)] over the last complete days
    (marts.funnel_trends, day grain); {} when the mart is missing or empty."""
    found = rows(con, """
        WITH last_step AS (
            SELECT funnel, max(step) AS step FROM marts.funnel_trends GROUP BY funnel),
        days AS (
            SELECT DISTINCT entry_period FROM marts.funnel_trends
            WHERE entry_period_grain = 'day' AND is_complete AND creator_id = ?
            ORDER BY entry_period DESC LIMIT ?)
        SELECT t.funnel, t.entry_period, t.conversion_rate
        FROM marts.funnel_trends AS t
        JOIN last_step USING (funnel, step)
        WHERE t.entry_period_grain = 'day' AND t.creator_id = ? AND t.is_complete
          AND t.entry_period IN (SELECT entry_period FROM days)
        ORDER BY t.funnel, t.entry_period""", [creator, TREND_DAYS, creator],
                 needs=["marts.funnel_trends"]) or []
    series: dict[str, list[tuple[object, float | None]]] = {}
    for r in found:
        series.setdefault(str(r["funnel"]), []).append((r["entry_period"],
                                                         _num(r["conversion_rate"])))
    return series


def funnel_breakdown_bars(con: duckdb.DuckDBPyConnection, creator: str = ALL
                          ) -> dict[str, tuple[list[str], list[float]]]:
    """'funnel by field' -> (values, conversion to the last step) of each funnel's first
    first-touch breakdown, its largest values by users (null shown as '(none)')."""
    found = rows(con, """
        WITH last_step AS (
            SELECT funnel, max(step) AS step FROM marts.funnel_breakdowns GROUP BY funnel),
        first_field AS (
            SELECT funnel, min(breakdown_field) AS breakdown_field
            FROM marts.funnel_breakdowns WHERE attribution = 'first_touch' GROUP BY funnel),
        entered AS (
            SELECT funnel, breakdown_field, breakdown_value, users AS entered,
                   row_number() OVER (PARTITION BY funnel ORDER BY users DESC,
                                      breakdown_value NULLS LAST) AS value_rank
            FROM marts.funnel_breakdowns JOIN first_field USING (funnel, breakdown_field)
            WHERE attribution = 'first_touch' AND creator_id = ? AND step = 1)
        SELECT b.funnel, b.breakdown_field, b.breakdown_value, b.conversion_rate
        FROM marts.funnel_breakdowns AS b
        JOIN last_step USING (funnel, step)
        JOIN entered ON entered.funnel = b.funnel
            AND entered.breakdown_field = b.breakdown_field
            AND entered.breakdown_value IS NOT DISTINCT FROM b.breakdown_value
        WHERE b.attribution = 'first_touch' AND b.creator_id = ? AND entered.value_rank <= ?
        ORDER BY b.funnel, entered.value_rank""", [creator, creator, BREAKDOWN_VALUES],
                 needs=["marts.funnel_breakdowns"]) or []
    bars: dict[str, tuple[list[str], list[float]]] = {}
    for r in found:
        labels, values = bars.setdefault(f"{r['funnel']} by {r['breakdown_field']}", ([], []))
        labels.append("(none)" if r["breakdown_value"] is None else str(r["breakdown_value"]))
        values.append(_num(r["conversion_rate"]) or 0.0)
    return bars


def steps_before(steps: list[Row], row: Row) -> Row | None:
    earlier = [s for s in steps if s["step"] < row["step"]]
    return earlier[-1] if earlier else None


def _dropoff_rate(previous: Row | None, row: Row) -> float | None:
    if previous is None:
        return None
    before = _num(previous["users"])
    dropped = _num(row["dropoff_users"])
    if not before or dropped is None:
        return None
    return dropped / before


def system_health_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                          cfg: ReportsSettings, name: str | None = None) -> Section:
    """API calls of the period (marts.api_health_daily): per endpoint the calls, the error
    rate over the period's calls, server errors and the worst day's p95 latency (daily
    percentiles do not combine into a period's), and the daily error rate as a chart."""
    sec = Section("system_health", f"System health: API calls ({scope(creator, name)})")
    endpoints = rows(con, """
        SELECT endpoint, sum(calls) AS calls,
               sum(error_calls) / nullif(sum(calls), 0) AS error_rate,
               sum(server_error_calls) AS server_errors,
               max(latency_ms_p95) AS worst_day_p95_ms
        FROM marts.api_health_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY endpoint ORDER BY endpoint = '__all__' DESC, calls DESC, endpoint LIMIT ?""",
                     [creator, period.start, period.end, cfg.top_intents + 1],
                     needs=["marts.api_health_daily"])
    if not endpoints:
        sec.available = False
        return sec
    sec.tables.append(Table("endpoints", ["endpoint", "calls", "error_rate", "server_errors",
                                          "worst_day_p95_ms"],
                            [[r["endpoint"], r["calls"], r["error_rate"], r["server_errors"],
                              r["worst_day_p95_ms"]] for r in endpoints]))
    start = period.end - timedelta(days=max(cfg.engagement_days, 1) - 1)
    daily = rows(con, """
        SELECT date, error_rate, latency_ms_p95 FROM marts.api_health_daily
        WHERE creator_id = ? AND endpoint = '__all__' AND date BETWEEN ? AND ?
        ORDER BY date""", [creator, start, period.end], needs=["marts.api_health_daily"])
    if daily:
        sec.charts["error_rate"] = [(r["date"], _num(r["error_rate"])) for r in daily]
    sec.notes.append("An error is a call with status 400 or more; `__all__` is every "
                     "endpoint. Latency: the worst day's 95th percentile in the period.")
    return sec


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def content_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                    name: str | None = None) -> Section:
    """Reach and audience growth per platform in the period (content_platform_daily) and
    when to publish (content_timing: platform-wide, with its uncertainty)."""
    sec = Section("content", f"Content by platform ({scope(creator, name)})")
    reach = rows(con, """
        SELECT platform, sum(impressions) AS impressions, sum(views) AS views,
               sum(watch_time_s) / 3600.0 AS watch_hours,
               sum(engagements) / nullif(sum(impressions), 0) AS engagement_rate,
               sum(followers_gained) AS followers_gained
        FROM marts.content_platform_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY platform ORDER BY impressions DESC, platform""",
                 [creator, period.start, period.end], needs=["marts.content_platform_daily"])
    t = _table("reach", reach, ["platform", "impressions", "views", "watch_hours",
                                "engagement_rate", "followers_gained"])
    if t:
        sec.tables.append(t)
    timing = rows(con, """
        SELECT platform, slot_kind, slot, contents, mean_engagement_rate, ci_low, ci_high,
               platform_mean_engagement_rate, beats_platform_mean
        FROM marts.content_timing WHERE "rank" = 1 ORDER BY platform, slot_kind DESC""",
                  [], needs=["marts.content_timing"])
    if timing:
        sec.tables.append(Table(
            "best publishing slot (all creators)",
            ["platform", "slot", "contents", "mean_engagement_rate", "ci_low", "ci_high",
             "platform_mean", "clearly_better"],
            [[r["platform"], _slot(r["slot_kind"], r["slot"]), r["contents"],
              r["mean_engagement_rate"], r["ci_low"], r["ci_high"],
              r["platform_mean_engagement_rate"], "yes" if r["beats_platform_mean"] else "no"]
             for r in timing], key_columns=2,
            units={"ci_low": "rate", "ci_high": "rate", "platform_mean": "rate"}))
        sec.notes.append("A slot is clearly better only when its 95 % interval lies above "
                         "the platform's mean engagement rate; otherwise the data cannot "
                         "tell the best slot from the others.")
    if not sec.tables:
        sec.available = False
    return sec


def _slot(kind: object, slot: object) -> str:
    if kind == "weekday" and isinstance(slot, int) and 1 <= slot <= 7:
        return WEEKDAYS[slot - 1]
    return f"{int(slot):02d}:00" if isinstance(slot, int) else str(slot)


def conversation_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                         cfg: ReportsSettings, name: str | None = None) -> Section:
    who = scope(creator, name)
    sec = Section("conversation", "Conversation and intent quality"
                  + ("" if creator == ALL else f" ({who})"))
    conv = rows(con, """
        SELECT sum(conversations) AS conversations, avg(avg_turns) AS avg_turns,
               avg(workflow_completion_rate) AS workflow_completion_rate,
               avg(response_time_ms_mean) AS response_time_ms_mean,
               avg(response_time_ms_p50) AS response_time_ms_p50,
               max(response_time_ms_p95) AS response_time_ms_p95,
               avg(automation_rate) AS automation_rate, sum(cost_savings) AS cost_savings,
               count(*) AS days
        FROM marts.conversation_daily WHERE creator_id = ? AND date BETWEEN ? AND ?""",
                [creator, period.start, period.end], needs=["marts.conversation_daily"])
    if conv and conv[0]["days"]:
        metrics = [k for k in conv[0] if k != "days"]
        sec.tables.append(Table("conversations", ["metric", "value"],
                                [[m, conv[0][m]] for m in metrics]))
    nlu = rows(con, """
        SELECT sum(classifications) AS classifications,
               sum(mean_confidence * classifications) / nullif(sum(classifications), 0)
                   AS mean_confidence,
               sum(low_confidence_rate * classifications) / nullif(sum(classifications), 0)
                   AS low_confidence_rate,
               sum(fallback_rate * classifications) / nullif(sum(classifications), 0)
                   AS fallback_rate,
               count(*) AS days
        FROM marts.nlu_daily WHERE creator_id = ? AND date BETWEEN ? AND ?""",
               [creator, period.start, period.end], needs=["marts.nlu_daily"])
    if nlu and nlu[0]["days"]:
        sec.tables.append(Table(f"nlu ({who})", ["metric", "value"],
                                [[m, nlu[0][m]] for m in
                                 ("classifications", "mean_confidence", "low_confidence_rate",
                                  "fallback_rate")]))
    intents = rows(con, """
        SELECT intent, sum(classifications) AS classifications,
               sum(classifications) / nullif(sum(sum(classifications)) OVER (), 0) AS share,
               sum(mean_confidence * classifications) / nullif(sum(classifications), 0)
                   AS mean_confidence,
               sum(low_confidence_rate * classifications) / nullif(sum(classifications), 0)
                   AS low_confidence_rate
        FROM marts.intent_daily WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY intent ORDER BY classifications DESC, intent LIMIT ?""",
                   [creator, period.start, period.end, cfg.top_intents],
                   needs=["marts.intent_daily"])
    t = _table(f"top intents ({who})", intents,
               ["intent", "classifications", "share", "mean_confidence",
                "low_confidence_rate"])
    if t:
        sec.tables.append(t)
    satisfaction = rows(con, """
        SELECT sum(ratings) AS ratings,
               sum(rating_4 + rating_5) / nullif(sum(ratings), 0) AS csat,
               sum(mean_rating * ratings) / nullif(sum(ratings), 0) AS mean_rating,
               sum(negative_sentiment_rate * sentiment_events)
                   / nullif(sum(sentiment_events), 0) AS negative_sentiment_rate,
               count(*) AS days
        FROM marts.satisfaction_daily
        WHERE creator_id = ? AND agent_id = '__all__' AND date BETWEEN ? AND ?""",
                        [creator, period.start, period.end],
                        needs=["marts.satisfaction_daily"])
    if satisfaction and satisfaction[0]["days"]:
        sec.tables.append(Table(f"satisfaction ({who})", ["metric", "value"],
                                [[m, satisfaction[0][m]] for m in
                                 ("ratings", "csat", "mean_rating",
                                  "negative_sentiment_rate")]))
    agents = rows(con, """
        SELECT agent_id, sum(conversations) AS conversations,
               sum(automation_rate * sessions) / nullif(sum(sessions), 0) AS automation_rate,
               sum(fallback_rate * classifications) / nullif(sum(classifications), 0)
                   AS fallback_rate,
               sum(csat * ratings) / nullif(sum(ratings), 0) AS csat,
               sum(ratings) AS ratings
        FROM marts.agent_daily
        WHERE (creator_id = ? OR ? = '__all__') AND date BETWEEN ? AND ?
        GROUP BY agent_id ORDER BY conversations DESC, agent_id LIMIT ?""",
                  [creator, creator, period.start, period.end, cfg.top_intents],
                  needs=["marts.agent_daily"])
    t = _table(f"agents ({who})", agents,
               ["agent_id", "conversations", "automation_rate", "fallback_rate", "csat",
                "ratings"])
    if t:
        sec.tables.append(t)
    drop = rows(con, """
        SELECT drop_off_point, sessions FROM marts.session_drop_off WHERE creator_id = ?
        ORDER BY sessions DESC, drop_off_point LIMIT ?""", [creator, cfg.top_intents],
                needs=["marts.session_drop_off"])
    t = _table(f"session drop-off points ({who}, to date)", drop,
               ["drop_off_point", "sessions"])
    if t:
        sec.tables.append(t)
        sec.charts["drop_off"] = ([str(r["drop_off_point"]) for r in drop or []],
                                  [_num(r["sessions"]) or 0.0 for r in drop or []])
    sec.available = bool(sec.tables)
    return sec


def mastery_section(con: duckdb.DuckDBPyConnection, creator: str = ALL,
                    name: str | None = None) -> Section:
    """Mastery by topic of the creator's learners (their attempts with that creator)."""
    sec = Section("mastery", f"Mastery progress by topic ({scope(creator, name)})")
    found = rows(con, """
        SELECT topic, count(DISTINCT user_id) AS learners, sum(attempts) AS attempts,
               avg(mastery) AS mean_mastery,
               avg(CASE WHEN level = 'mastered' THEN 1.0 ELSE 0.0 END) AS share_mastered
        FROM marts.topic_mastery WHERE creator_id = ?
        GROUP BY topic ORDER BY learners DESC, topic""", [creator],
                 needs=["marts.topic_mastery"])
    t = _table("topics", found, ["topic", "learners", "attempts", "mean_mastery",
                                 "share_mastered"])
    if t is None:
        sec.available = False
        return sec
    sec.tables.append(t)
    sec.charts["mastery"] = ([str(r["topic"]) for r in found or []],
                             [_num(r["mean_mastery"]) or 0.0 for r in found or []])
    return sec


def revenue_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str) -> Section:
    sec = Section("revenue", "Revenue (per currency, never summed across currencies)")
    found = rows(con, """
        SELECT currency, sum(charges) AS charges, sum(refunds) AS refunds,
               sum(net_revenue) AS net_revenue
        FROM marts.revenue_daily WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY currency ORDER BY currency""", [creator, period.start, period.end],
                 needs=["marts.revenue_daily"])
    prev = rows(con, """
        SELECT currency, sum(net_revenue) AS net_revenue FROM marts.revenue_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ? GROUP BY currency""",
                [creator, period.previous_start, period.previous_end],
                needs=["marts.revenue_daily"]) or []
    if not found and not prev:
        sec.available = False
        return sec
    previous = {r["currency"]: r["net_revenue"] for r in prev}
    currencies = sorted({r["currency"] for r in found or []} | set(previous), key=str)
    current = {r["currency"]: r for r in found or []}
    sec.tables.append(Table(
        "by currency", ["currency", "charges", "refunds", "net_revenue", "previous_net_revenue"],
        [[c, (current.get(c) or {}).get("charges", 0.0),
          (current.get(c) or {}).get("refunds", 0.0),
          (current.get(c) or {}).get("net_revenue", 0.0), previous.get(c, 0.0)]
         for c in currencies]))
    return sec


def forecast_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                     cfg: ReportsSettings) -> Section:
    sec = Section("forecast", "Forecasts (80% and 95% intervals)")
    fc = rows(con, """
        SELECT date, metric, forecast, lower_80, upper_80, lower_95, upper_95
        FROM ml.engagement_forecast
        WHERE creator_id = ? AND date > ? AND date <= ?
        ORDER BY metric, date""",
              [creator, period.end, period.end + timedelta(days=cfg.forecast_days)],
              needs=["ml.engagement_forecast"])
    hist = rows(con, """
        SELECT date, dau, sessions FROM marts.engagement_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ? ORDER BY date""",
                [creator, period.end - timedelta(days=27), period.end],
                needs=["marts.engagement_daily"]) or []
    if fc:
        metrics: dict[str, list[Row]] = {}
        for r in fc:
            metrics.setdefault(str(r["metric"]), []).append(r)
        charts: dict[str, Any] = {}
        for metric, pts in metrics.items():
            series = {"forecast": [(r["date"], _num(r["forecast"])) for r in pts]}
            if hist and metric in hist[0]:
                series = {"actual": [(r["date"], _num(r[metric])) for r in hist], **series}
            charts[metric] = {
                "series": series,
                "bands": {"95%": [(r["date"], _num(r["lower_95"]), _num(r["upper_95"]))
                                  for r in pts],
                          "80%": [(r["date"], _num(r["lower_80"]), _num(r["upper_80"]))
                                  for r in pts]}}
        sec.charts["forecasts"] = charts
        summary = []
        for metric, pts in metrics.items():
            for r in (pts[0], pts[min(6, len(pts) - 1)], pts[-1]):
                summary.append([metric, r["date"], r["forecast"], r["lower_80"], r["upper_80"],
                                r["lower_95"], r["upper_95"]])
        sec.tables.append(Table("forecast", ["metric", "date", "forecast", "lower_80",
                                             "upper_80", "lower_95", "upper_95"],
                                _dedupe(summary), key_columns=2))
    bt = rows(con, """
        SELECT * FROM ml.forecast_backtest WHERE creator_id = ? ORDER BY metric""",
              [creator], needs=["ml.forecast_backtest"])
    if bt:
        cols = [c for c in ("metric", "history_days", "mase_ets", "mase_theta",
                            "mase_seasonal_naive", "chosen", "fallback_reason") if c in bt[0]]
        t = _table("backtest (MASE, lower is better; < 1 beats the naive forecast)", bt, cols)
        if t:
            sec.tables.append(t)
        for r in bt:
            if r.get("fallback_reason"):
                sec.notes.append(f"The {r['metric']} forecast is the seasonal naive (the last "
                                 f"week repeated): {r['fallback_reason']}.")
        sec.notes.append("Intervals are the empirical 80% and 95% ranges of the chosen "
                         "method's own errors over a rolling-origin backtest.")
    sec.available = bool(sec.tables)
    return sec


def _dedupe(table_rows: list[list[object]]) -> list[list[object]]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for r in table_rows:
        key = (r[0], r[1])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def anomalies_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                      cfg: ReportsSettings) -> Section:
    sec = Section("anomalies", "Anomalies")
    since = period.end - timedelta(days=max(cfg.anomaly_days, 1) - 1)
    found = rows(con, """
        SELECT date, metric, value, expected, score, direction, severity
        FROM ml.metric_anomalies
        WHERE creator_id = ? AND date BETWEEN ? AND ?
        ORDER BY date DESC, abs(score) DESC NULLS LAST, metric LIMIT ?""",
                 [creator, min(since, period.start), period.end, cfg.max_anomalies],
                 needs=["ml.metric_anomalies"])
    if found is None:
        sec.available = False
        return sec
    if not found:
        sec.notes.append(f"No anomalies between {since.isoformat()} and "
                         f"{period.end.isoformat()}.")
        return sec
    sec.tables.append(Table("anomalies", ["date", "metric", "value", "expected", "score",
                                          "direction", "severity"],
                            [list(r.values()) for r in found], key_columns=2))
    return sec


_REPORT_LINK = re.compile(r"\s*Report: \S+$")


def alert_text(message: object) -> str:
    """An alert's message without the link to its day's report (alerts.rules adds it for
    the sinks; in the report it would point at the page being read)."""
    return _REPORT_LINK.sub("", str(message or ""))


def alerts_section(con: duckdb.DuckDBPyConnection, period: Period, creator: str,
                   cfg: ReportsSettings) -> Section:
    """The alerts that fired for the period's dates (``ops.alerts``, written by the
    ``ops/alerts`` asset, which runs before the reports): every creator's in the overall
    report, the creator's own in a creator's report; most severe first."""
    sec = Section("alerts", "Alerts")
    found = rows(con, """
        SELECT a.date, a.severity, a.rule, a.creator_id, c.name AS creator_name, a.metric,
               a.value, a.threshold, a.message
        FROM ops.alerts AS a
        LEFT JOIN (SELECT creator_id, any_value(name) AS name FROM marts.creators
                   GROUP BY creator_id) AS c USING (creator_id)
        WHERE a.date BETWEEN ? AND ? AND (? = ? OR a.creator_id = ?)
        ORDER BY CASE a.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
                 a.date DESC, a.rule, a.creator_id, a.metric""",
                 [period.start, period.end, creator, ALL, creator],
                 needs=["ops.alerts", "marts.creators"])
    if found is None:  # no marts.creators: the same without names
        found = rows(con, """
            SELECT date, severity, rule, creator_id, NULL AS creator_name, metric, value,
                   threshold, message
            FROM ops.alerts
            WHERE date BETWEEN ? AND ? AND (? = ? OR creator_id = ?)
            ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
                     date DESC, rule, creator_id, metric""",
                     [period.start, period.end, creator, ALL, creator], needs=["ops.alerts"])
    if found is None:
        sec.available = False
        return sec
    if not found:
        sec.notes.append(f"No alert fired for {period.start.isoformat()}"
                         + (f" to {period.end.isoformat()}." if period.days > 1 else "."))
        return sec
    shown = found[: max(cfg.max_anomalies, 1)]
    sec.tables.append(Table("fired", ["date", "severity", "rule", "creator", "metric",
                                       "message"],
                            [[r["date"], r["severity"], r["rule"],
                              scope(str(r["creator_id"]), r["creator_name"]), r["metric"],
                              alert_text(r["message"])] for r in shown], key_columns=4))
    if len(shown) < len(found):
        sec.notes.append(f"The {len(shown)} most severe of {len(found)} alerts; all of them "
                         "are in ops.alerts.")
    sec.charts["alerts"] = found
    return sec


def insights_section(con: duckdb.DuckDBPyConnection, as_of: date, creator: str,
                     cfg: ReportsSettings) -> Section:
    """The top insights of the latest insight run on or before the as-of date."""
    sec = Section("insights", "Top insights and recommendations")
    found = rows(con, """
        SELECT rank, kind, title, description, recommendation, metric, significance, impact
        FROM ml.insights
        WHERE creator_id = ?
          AND as_of_date = (SELECT max(as_of_date) FROM ml.insights
                            WHERE creator_id = ? AND as_of_date <= ?)
        ORDER BY rank NULLS LAST, insight_id LIMIT ?""",
                 [creator, creator, as_of, cfg.top_insights], needs=["ml.insights"])
    if not found:
        sec.available = False
        return sec
    sec.tables.append(Table("insights", ["rank", "kind", "title", "description",
                                         "recommendation", "metric", "significance",
                                         "impact"],
                            [list(r.values()) for r in found]))
    return sec


def data_quality_section(con: duckdb.DuckDBPyConnection, cfg: ReportsSettings) -> Section:
    sec = Section("data_quality", "Data quality")
    found = rows(con, """
        SELECT asset_key, check_name, status, expectations, failed, blocking_failed,
               validated_at
        FROM ops.data_quality_checks
        ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                 asset_key, check_name""", needs=["ops.data_quality_checks"])
    if not found:
        sec.available = False
        return sec
    counts = {s: sum(r["status"] == s for r in found) for s in ("passed", "warning", "failed")}
    sec.tables.append(Table("status", ["status", "checks"],
                            [[s, n] for s, n in counts.items()]))
    bad = [r for r in found if r["status"] != "passed"][: cfg.max_failures]
    if bad:
        sec.tables.append(Table("checks not passed", ["asset_key", "check_name", "status",
                                                      "failed", "blocking_failed",
                                                      "validated_at"],
                                [[r["asset_key"], r["check_name"], r["status"], r["failed"],
                                  r["blocking_failed"], r["validated_at"]] for r in bad],
                                key_columns=2))
        failures = rows(con, """
            SELECT table_name, check_name, expectation, columns, batch, severity, observed
            FROM ops.data_quality_latest WHERE NOT passed
            ORDER BY severity, table_name, check_name, expectation, batch DESC LIMIT ?""",
                        [cfg.max_failures], needs=["ops.data_quality_latest"])
        t = _table("failed expectations", failures,
                   ["table_name", "check_name", "expectation", "columns", "batch", "severity",
                    "observed"], key_columns=5)
        if t:
            sec.tables.append(t)
    sec.charts["counts"] = counts
    return sec


def freshness_section(con: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    """The newest export day loaded per entity and its age, counted from the reference the
    latest ``export_freshness`` check judged against (``ops.export_freshness``: today for
    the clock, the newest export day loaded for the data), so the table and the check
    agree; before any check has run, from the report's as-of date."""
    sec = Section("freshness", "Data freshness")
    found = rows(con, """
        SELECT entity, max(export_date) AS last_export_date, max(finished_at) AS loaded_at
        FROM raw.load_audit WHERE status <> 'failed'
        GROUP BY entity ORDER BY entity""", needs=["raw.load_audit"])
    if not found:
        sec.available = False
        return sec
    judged = rows(con, """
        SELECT reference, reference_date, max_lag_days FROM ops.export_freshness
        ORDER BY judged_at DESC LIMIT 1""", needs=["ops.export_freshness"])
    if judged:
        ref = Reference(judged[0]["reference"], judged[0]["reference_date"])
        reference_day = ref.day
        note = (f"Age in days against {ref.describe()}: the reference of the latest "
                f"export_freshness check, which warns above {judged[0]['max_lag_days']} "
                "day(s).")
    else:
        reference_day = as_of
        note = f"Age in days against the as-of date {as_of.isoformat()}."
    sec.tables.append(Table("entities", ["entity", "last_export_date", "age_days",
                                         "loaded_at"],
                            [[r["entity"], r["last_export_date"],
                              _age(reference_day, r["last_export_date"]), r["loaded_at"]]
                             for r in found]))
    sec.notes.append(note)
    return sec


def _age(reference: date, d: object) -> int | None:
    if isinstance(d, datetime):
        d = d.date()
    return age_days(reference, d) if isinstance(d, date) else None


# --------------------------------------------------------------------------- report


@dataclass
class ReportData:
    kind: str
    period: Period
    as_of: date
    creator_id: str
    headline: list[Metric]
    sections: list[Section]
    creator_name: str | None = None  # marts.creators; None for all creators


def gather(con: duckdb.DuckDBPyConnection, kind: str, as_of: date, creator: str,
           cfg: ReportsSettings, cost_currency: str | None = None) -> ReportData:
    """Every number of one report (one kind, period and creator or overall)."""
    period = period_for(kind, as_of)
    name = creator_name(con, creator)
    sections = [
        engagement_section(con, period, creator, cfg),
        retention_section(con, period, creator, cfg,
                          retention_view(con, cfg, creator), name),
        funnel_section(con, creator, name),
        *([paths_section(con, creator, name)] if kind != DAILY else []),
        conversation_section(con, period, creator, cfg, name),
        system_health_section(con, period, creator, cfg, name),
        content_section(con, period, creator, name),
        mastery_section(con, creator, name),
        revenue_section(con, period, creator),
        forecast_section(con, period, creator, cfg),
        anomalies_section(con, period, creator, cfg),
        alerts_section(con, period, creator, cfg),
        insights_section(con, as_of, creator, cfg),
        data_quality_section(con, cfg),
        freshness_section(con, as_of),
    ]
    for sec in sections:
        if sec.name == "conversation":
            sec.currency = cost_currency  # cost savings
    return ReportData(kind, period, as_of, creator,
                      headline(con, period, creator, cost_currency), sections, name)
