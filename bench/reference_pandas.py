"""A plain pandas reference of the marts, and its comparison with the dbt marts.

Row-oriented, as a naive analytics service would compute them: the current events (and
the users snapshot) are read from the warehouse into DataFrames once, then Python loops
over the rows build dicts and sets per user, creator and day. Definitions: metrics.md
(../shared/spec/metrics.md) and docs/metrics.md, with the dbt models' conventions:

- ``engagement_daily`` (every creator and ``'__all__'``): DAU, WAU, MAU (null when the
  window reaches before the coverage start, metrics.md v2), stickiness,
  sessions (started that day, attributed to the session's first non-null creator_id by
  (event_ts, event_id), anonymous included), active_events (anonymous included); one
  row per creator and date from the creator's first activity to the as-of date.
- ``retention_cohorts``, weekly grain: signup week cohorts (users snapshot, signup date up
  to the as-of date), one row per period k up to the as-of week, null while incomplete or
  not covered (metrics.md v2 "Coverage": the week starts before the first day with a
  loaded event).
- ``retention`` (metrics.md v2), the definitions start = signup, return = any active
  event, first_time, weekly, modes ``on`` and ``on_or_after``, ``'__all__'`` rows
  (:func:`compare_v2`).
- ``stickiness_distribution`` (metrics.md v2): per covered ISO week and month, creator
  and ``'__all__'``, users active on exactly n days and on at least n days, n = 1 to the
  period's length (:func:`compare_v2`).
- ``path_edges`` (metrics.md v2 "Paths") of the settings' path definitions, every creator
  and ``'__all__'`` (:func:`compare_paths`).
- ``funnel_steps`` of the ``conversation`` funnel (settings ``metrics.funnels``): users
  (identified) reaching each step within the conversion window, conversion, drop-off,
  median seconds from step 1 of the user's first chain reaching the step.
- ``funnel_breakdowns`` and ``funnel_trends`` of every shipped funnel, ``'__all__'``
  (:func:`compare_funnels`).
- ``revenue_daily`` (charges, refunds and net revenue per date, currency and creator),
  ``experiment_results`` (conversions in the window, lift, z-test, interval, sample ratio
  test) and ``topic_mastery`` (attempts and the BKT recursion per user, topic and
  creator) (:func:`compare_money_learning`).

Dates are in the reporting time zone; the as-of date is ``metrics.as_of_date`` or the
last export date of the current events. ``compare(con)`` runs it on a built warehouse and
counts the rows that differ from the marts (0 when they agree).

    python bench/reference_pandas.py WAREHOUSE.duckdb
"""

from __future__ import annotations

import bisect
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

# metrics.md "Active event" (dbt_project/macros/active_events.sql).
ACTIVE_EVENT_TYPES = frozenset({
    "conversation_start", "user_message", "user_feedback", "lesson_started",
    "lesson_completed", "exercise_attempted", "goal_created", "goal_completed",
})
ALL = "__all__"
FUNNEL = "conversation"
ENGAGEMENT_COLUMNS = ["date", "creator_id", "dau", "wau", "mau", "stickiness", "sessions",
                      "active_events"]
RETENTION_COLUMNS = ["cohort_start", "period", "cohort_size", "retained_users",
                     "retention_rate", "period_start", "period_end", "is_complete_period"]
FUNNEL_COLUMNS = ["funnel", "step", "step_name", "users", "conversion_rate", "dropoff_users",
                  "median_seconds_to_step"]


@dataclass
class Reference:
    engagement_daily: pd.DataFrame
    retention_cohorts: pd.DataFrame
    funnel_steps: pd.DataFrame
    as_of: date
    seconds: dict[str, float] = field(default_factory=dict)


def _metrics() -> dict[str, Any]:
    from warehouse.settings import load_settings

    return load_settings().dbt_vars()


def load_frames(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current events (users resolved, metrics.md Identity) and the current users
    snapshot, as DataFrames (one read each)."""
    events = con.execute(
        "SELECT event_id, session_id, user_id, anonymous_id, creator_id, event_type, event_ts, "
        "export_date FROM raw.events WHERE is_current").df()
    users = con.execute("SELECT user_id, signup_at FROM raw.users WHERE is_current").df()
    return resolve_users(events).drop(columns=["anonymous_id"]), users


def resolve_users(events: pd.DataFrame) -> pd.DataFrame:
    """Each event's resolved user, in pandas (independent of int_identity_resolution): its
    user_id; else the user_id of its anonymous_id's nearest identified event before it,
    else after it (event_ts, then event_id); else its session's only user_id; else none."""
    ev = events.sort_values(["event_ts", "event_id"], kind="stable").copy()
    device = ev.groupby("anonymous_id", dropna=True)["user_id"]
    before = device.transform(lambda s: s.ffill())
    after = device.transform(lambda s: s.bfill())
    per_session = ev.dropna(subset=["user_id"]).groupby("session_id")["user_id"].agg(
        lambda s: s.iloc[0] if s.nunique() == 1 else None)
    session_user = ev["session_id"].map(per_session)
    resolved = ev["user_id"].copy()
    for fallback in (before, after, session_user):
        resolved = resolved.where(resolved.notna(), fallback.reindex(ev.index))
    return ev.assign(user_id=resolved).sort_index()


def _local_dates(ts: pd.Series, tz: str) -> pd.Series:
    """Dates in the reporting time zone of naive UTC timestamps (None for NaT)."""
    local = pd.to_datetime(ts).dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
    return local.where(ts.notna(), None)


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def compute(events: pd.DataFrame, users: pd.DataFrame,
            metrics: dict[str, Any] | None = None) -> Reference:
    metrics = _metrics() if metrics is None else metrics
    tz = metrics.get("reporting_timezone") or "UTC"
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    events = events.assign(event_date=_local_dates(events["event_ts"], tz))
    as_of_var = metrics.get("as_of_date")
    as_of = (date.fromisoformat(str(as_of_var)) if as_of_var
             else pd.Timestamp(events["export_date"].max()).date())
    seconds["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engagement = engagement_daily(events, as_of, int(metrics.get("wau_window_days", 7)),
                                  int(metrics.get("mau_window_days", 30)))
    seconds["engagement_daily"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    retention = retention_cohorts(events, users, as_of, tz)
    seconds["retention_cohorts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    steps = next(f["steps"] for f in metrics.get("funnels", []) if f["name"] == FUNNEL)
    funnel = funnel_steps(events, as_of, steps, int(metrics.get("conversion_window_days", 14)))
    seconds["funnel_steps"] = time.perf_counter() - t0
    return Reference(engagement, retention, funnel, as_of, seconds)


def engagement_daily(events: pd.DataFrame, as_of: date, wau_days: int,
                     mau_days: int) -> pd.DataFrame:
    users_on: dict[tuple[str, date], set[str]] = defaultdict(set)
    active_events: dict[tuple[str, date], int] = defaultdict(int)
    sessions: dict[Any, list] = {}  # session_id -> [started_at, start date, creator key]
    for row in events.itertuples(index=False):
        user, creator, day = _none(row.user_id), _none(row.creator_id), row.event_date
        if row.event_type in ACTIVE_EVENT_TYPES:
            active_events[(ALL, day)] += 1
            if creator is not None:
                active_events[(creator, day)] += 1
            if user is not None:
                users_on[(ALL, day)].add(user)
                if creator is not None:
                    users_on[(creator, day)].add(user)
        s = sessions.get(row.session_id)
        if s is None:
            s = sessions[row.session_id] = [row.event_ts, day, None]
        elif row.event_ts < s[0]:
            s[0], s[1] = row.event_ts, day
        if creator is not None and (s[2] is None or (row.event_ts, row.event_id) < s[2][:2]):
            s[2] = (row.event_ts, row.event_id, creator)
    sessions_on: dict[tuple[str, date], int] = defaultdict(int)
    for _started, day, first_creator in sessions.values():
        sessions_on[(ALL, day)] += 1
        if first_creator is not None:
            sessions_on[(first_creator[2], day)] += 1

    first_date: dict[str, date] = {}
    for creator, day in [*users_on, *active_events, *sessions_on]:
        if day is not None and day <= as_of and (creator not in first_date
                                                  or day < first_date[creator]):
            first_date[creator] = day
    covered_from = coverage_start(events, as_of)
    rows = []
    for creator in sorted(first_date):
        day = first_date[creator]
        while day <= as_of:
            dau = len(users_on.get((creator, day), ()))
            wau_set: set[str] = set()
            mau_set: set[str] = set()
            for back in range(max(wau_days, mau_days)):
                seen = users_on.get((creator, day - timedelta(days=back)))
                if seen:
                    if back < wau_days:
                        wau_set |= seen
                    if back < mau_days:
                        mau_set |= seen
            mau = len(mau_set)
            # metrics.md v2 "Coverage": a window reaching before the first loaded day is null
            wau_known = day - timedelta(days=wau_days - 1) >= covered_from
            mau_known = day - timedelta(days=mau_days - 1) >= covered_from
            rows.append({
                "date": day, "creator_id": creator, "dau": dau,
                "wau": len(wau_set) if wau_known else None,
                "mau": mau if mau_known else None,
                "stickiness": dau / mau if mau and mau_known else None,
                "sessions": sessions_on.get((creator, day), 0),
                "active_events": active_events.get((creator, day), 0),
            })
            day += timedelta(days=1)
    return pd.DataFrame(rows, columns=ENGAGEMENT_COLUMNS)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def coverage_start(events: pd.DataFrame, as_of: date) -> date | None:
    """metrics.md v2 "Coverage": the first day holding a loaded (current) event."""
    days = [d for d in events["event_date"] if d is not None and d <= as_of]
    return min(days) if days else None


def _weekly_signup_cohorts(events: pd.DataFrame, users: pd.DataFrame, as_of: date, tz: str
                           ) -> tuple[dict[str, set[date]], dict[date, list[str]]]:
    """(each user's active weeks, the users of each weekly signup cohort) up to as_of."""
    active_weeks: dict[str, set[date]] = defaultdict(set)
    for row in events.itertuples(index=False):
        user = _none(row.user_id)
        if (user is not None and row.event_type in ACTIVE_EVENT_TYPES
                and row.event_date <= as_of):
            active_weeks[user].add(_monday(row.event_date))
    cohorts: dict[date, list[str]] = defaultdict(list)
    users = users.assign(signup_date=_local_dates(users["signup_at"], tz))
    for row in users.itertuples(index=False):
        if row.signup_date is not None and row.signup_date <= as_of:
            cohorts[_monday(row.signup_date)].append(row.user_id)
    return active_weeks, cohorts


def retention_cohorts(events: pd.DataFrame, users: pd.DataFrame, as_of: date,
                      tz: str) -> pd.DataFrame:
    active_weeks, cohorts = _weekly_signup_cohorts(events, users, as_of, tz)
    last_week = _monday(as_of)
    first_day = coverage_start(events, as_of)
    rows = []
    for start in sorted(cohorts):
        members = cohorts[start]
        week, k = start, 0
        while week <= last_week:
            end = week + timedelta(days=6)
            complete = end <= as_of
            covered = complete and first_day is not None and week >= first_day
            retained = (sum(1 for u in members if week in active_weeks.get(u, ()))
                        if covered else None)
            rows.append({
                "cohort_start": start, "period": k, "cohort_size": len(members),
                "retained_users": retained,
                "retention_rate": retained / len(members) if retained is not None else None,
                "period_start": week, "period_end": end, "is_complete_period": complete,
            })
            week += timedelta(days=7)
            k += 1
    return pd.DataFrame(rows, columns=RETENTION_COLUMNS)


def _matches(row: Any, step: dict) -> bool:
    if row.event_type != step["event_type"]:
        return False
    return all(getattr(row, col, None) == value
               for col, value in (step.get("filters") or {}).items())


def funnel_steps(events: pd.DataFrame, as_of: date, steps: list[dict],
                 window_days: int) -> pd.DataFrame:
    """Per user: every step-1 time starts a chain that takes, step by step, the earliest
    event of the next step at or after the previous one, within t1 + window."""
    if any(step.get("filters") for step in steps):
        missing = {c for s in steps for c in (s.get("filters") or {}) if c not in events}
        if missing:
            raise ValueError(f"funnel filters on columns not loaded: {sorted(missing)}")
    times: dict[str, list[set]] = defaultdict(lambda: [set() for _ in steps])
    for row in events.itertuples(index=False):
        user = _none(row.user_id)
        if user is None or row.event_date > as_of:
            continue
        for k, step in enumerate(steps):
            if _matches(row, step):
                times[user][k].add(row.event_ts)
    window = timedelta(days=window_days)
    to_step: list[list[float]] = [[] for _ in steps]
    for per_step in times.values():
        sorted_times = [sorted(t) for t in per_step]
        first_reach: list[float | None] = [None] * len(steps)
        for t1 in sorted_times[0]:
            first_reach[0] = 0.0 if first_reach[0] is None else first_reach[0]
            t = t1
            for k in range(1, len(steps)):
                candidates = sorted_times[k]
                i = bisect.bisect_left(candidates, t)
                if i == len(candidates) or candidates[i] > t1 + window:
                    break
                t = candidates[i]
                if first_reach[k] is None:
                    first_reach[k] = (t - t1) / timedelta(microseconds=1) / 1e6
        for k, secs in enumerate(first_reach):
            if secs is not None:
                to_step[k].append(secs)
    rows = []
    step1 = len(to_step[0])
    for k, step in enumerate(steps):
        reached = to_step[k]
        rows.append({
            "funnel": FUNNEL, "step": k + 1, "step_name": step["name"], "users": len(reached),
            "conversion_rate": len(reached) / step1 if step1 else None,
            "dropoff_users": len(to_step[k - 1]) - len(reached) if k else 0,
            "median_seconds_to_step": _median(reached),
        })
    return pd.DataFrame(rows, columns=FUNNEL_COLUMNS)


def _median(values: list[float]) -> float | None:
    """percentile_cont(0.5)."""
    if not values:
        return None
    s = sorted(values)
    mid = (len(s) - 1) / 2
    lo, hi = s[math.floor(mid)], s[math.ceil(mid)]
    return lo + (hi - lo) * (mid - math.floor(mid))


# --- version 2: retention (signup -> any activity, weekly) and stickiness distribution ---

RETENTION_V2_COLUMNS = ["definition", "cohort_start", "period", "cohort_size",
                        "retained_users", "retention_rate", "is_covered"]
STICKINESS_COLUMNS = ["period_grain", "period_start", "creator_id", "days_active", "users",
                      "users_at_least"]


def _signup_weekly_definitions(metrics: dict[str, Any]) -> dict[str, str]:
    """name -> mode of the settings' definitions start = signup, return = any_active,
    first_time, weekly, mode on or on_or_after."""
    return {d["name"]: d["mode"] for d in metrics.get("retention", [])
            if d.get("start") == "signup" and d.get("return") == "any_active"
            and d.get("cohort", "first_time") == "first_time"
            and d.get("grain") == "week" and d.get("mode") in ("on", "on_or_after")}


def retention_signup_weekly(events: pd.DataFrame, users: pd.DataFrame, as_of: date,
                            tz: str, definitions: dict[str, str]) -> pd.DataFrame:
    """marts.retention's '__all__' rows of the given signup / any-activity weekly
    definitions (name -> mode)."""
    active_weeks, cohorts = _weekly_signup_cohorts(events, users, as_of, tz)
    first_day = coverage_start(events, as_of)
    last_week = _monday(as_of)
    rows = []
    for name, mode in sorted(definitions.items()):
        for start in sorted(cohorts):
            members = cohorts[start]
            # on_or_after: each member's latest complete week with activity, from the cohort on
            latest = {u: max((w for w in active_weeks.get(u, ())
                              if w >= start and w + timedelta(days=6) <= as_of), default=None)
                      for u in members}
            week, k = start, 0
            while week <= last_week:
                covered = (first_day is not None and week >= first_day
                           and week + timedelta(days=6) <= as_of)
                retained = None
                if covered and mode == "on":
                    retained = sum(1 for u in members if week in active_weeks.get(u, ()))
                elif covered:
                    retained = sum(1 for u in members
                                   if latest[u] is not None and latest[u] >= week)
                rows.append({
                    "definition": name, "cohort_start": start, "period": k,
                    "cohort_size": len(members), "retained_users": retained,
                    "retention_rate": None if retained is None else retained / len(members),
                    "is_covered": covered,
                })
                week += timedelta(days=7)
                k += 1
    return pd.DataFrame(rows, columns=RETENTION_V2_COLUMNS)


def _month_end(start: date) -> date:
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return following - timedelta(days=1)


def stickiness_distribution(events: pd.DataFrame, as_of: date) -> pd.DataFrame:
    days_of: dict[tuple[str, str], set[date]] = defaultdict(set)  # (creator, user) -> days
    for row in events.itertuples(index=False):
        user, creator, day = _none(row.user_id), _none(row.creator_id), row.event_date
        if user is None or row.event_type not in ACTIVE_EVENT_TYPES or day > as_of:
            continue
        days_of[(ALL, user)].add(day)
        if creator is not None:
            days_of[(creator, user)].add(day)
    first_day = coverage_start(events, as_of)
    if first_day is None:
        return pd.DataFrame(columns=STICKINESS_COLUMNS)
    periods: list[tuple[str, date, date]] = []
    week = _monday(first_day)
    while week + timedelta(days=6) <= as_of:
        if week >= first_day:
            periods.append(("week", week, week + timedelta(days=6)))
        week += timedelta(days=7)
    month = first_day.replace(day=1)
    while _month_end(month) <= as_of:
        if month >= first_day:
            periods.append(("month", month, _month_end(month)))
        month = _month_end(month) + timedelta(days=1)
    rows = []
    for grain, start, end in periods:
        counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for (creator, _user), days in days_of.items():
            n = sum(1 for d in days if start <= d <= end)
            if n:
                counts[creator][n] += 1
        length = (end - start).days + 1
        for creator in sorted(counts):
            at_least = 0
            per_n = []
            for n in range(length, 0, -1):
                at_least += counts[creator].get(n, 0)
                per_n.append((n, counts[creator].get(n, 0), at_least))
            for n, exactly, at_least_n in reversed(per_n):
                rows.append({"period_grain": grain, "period_start": start, "creator_id": creator,
                             "days_active": n, "users": exactly, "users_at_least": at_least_n})
    return pd.DataFrame(rows, columns=STICKINESS_COLUMNS)


KEYS_V2 = {
    "retention": ["definition", "cohort_start", "period"],
    "stickiness_distribution": ["period_grain", "period_start", "creator_id", "days_active"],
}


def compare_v2(con: duckdb.DuckDBPyConnection,
               metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The version 2 marts retention (signup -> any activity, weekly, on / on_or_after,
    '__all__') and stickiness_distribution against this reference; ``mismatches`` is the
    total number of rows that differ."""
    metrics = _metrics() if metrics is None else metrics
    tz = metrics.get("reporting_timezone") or "UTC"
    events, users = load_frames(con)
    events = events.assign(event_date=_local_dates(events["event_ts"], tz))
    as_of_var = metrics.get("as_of_date")
    as_of = (date.fromisoformat(str(as_of_var)) if as_of_var
             else pd.Timestamp(events["export_date"].max()).date())
    definitions = _signup_weekly_definitions(metrics)
    names = sorted(definitions)
    built = {
        "retention": con.execute(
            f"SELECT {', '.join(RETENTION_V2_COLUMNS)} FROM marts.retention "
            "WHERE creator_id = '__all__' AND list_contains(?, definition)", [names]).df(),
        "stickiness_distribution": con.execute(
            f"SELECT {', '.join(STICKINESS_COLUMNS)} FROM marts.stickiness_distribution").df(),
    }
    reference = {
        "retention": retention_signup_weekly(events, users, as_of, tz, definitions),
        "stickiness_distribution": stickiness_distribution(events, as_of),
    }
    results = {name: diff(reference[name], built[name], KEYS_V2[name]) for name in KEYS_V2}
    return {"as_of_date": as_of.isoformat(), "definitions": definitions,
            "mismatches": sum(r["mismatches"] for r in results.values()), "marts": results}


# --- version 2 funnels: funnel_breakdowns and funnel_trends ('__all__' rows) ----------

BREAKDOWN_COLUMNS = ["funnel", "breakdown_field", "attribution", "breakdown_value", "step",
                     "users", "conversion_rate", "dropoff_users"]
TREND_COLUMNS = ["funnel", "entry_period_grain", "entry_period", "step", "users",
                 "conversion_rate", "is_complete"]
KEYS_FUNNELS = {
    "funnel_breakdowns": ["funnel", "breakdown_field", "attribution", "breakdown_value", "step"],
    "funnel_trends": ["funnel", "entry_period_grain", "entry_period", "step"],
}
_FIELD_COLUMNS = ("session_id", "channel", "platform", "topic", "intent", "data")


def _field(row: dict, field_name: str) -> Any:
    """An event field as the marts read it: a column, or data.<key> as JSON text."""
    if field_name.startswith("data."):
        data = row.get("data")
        if not data:
            return None
        value = json.loads(data).get(field_name[5:])
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)
    return _none(row.get(field_name))


def _selector(raw: Any) -> list[dict]:
    """A selector's alternatives (any shorthand), or a v1 step's event_type + filters."""
    if isinstance(raw, str):
        return [{"event_type": raw, "filters": []}]
    if isinstance(raw, list):
        return [a if isinstance(a, dict) else {"event_type": a} for a in raw]
    if "any_of" in raw:
        return [a if isinstance(a, dict) else {"event_type": a} for a in raw["any_of"]]
    return [raw]


def _step_alternatives(step: dict) -> list[dict]:
    if "selector" in step:
        return _selector(step["selector"])
    filters = [{"field": c, "op": "is_null", "value": True} if v is None
               else {"field": c, "op": "eq", "value": v}
               for c, v in (step.get("filters") or {}).items()]
    return [{"event_type": step["event_type"], "filters": filters}]


def _filter_holds(row: dict, f: dict) -> bool:
    value, op, want = _field(row, f["field"]), f.get("op", "eq"), f.get("value")
    if op == "is_null":
        return (value is None) == bool(want)
    if value is None:
        return False
    wants = want if isinstance(want, list) else [want]
    if all(isinstance(w, int | float) and not isinstance(w, bool) for w in wants) and \
            f["field"].startswith("data."):
        try:
            value = float(value)
        except ValueError:
            return False
    elif isinstance(want, bool) or (isinstance(want, list) and any(
            isinstance(w, bool) for w in want)):
        wants = [str(w).lower() if isinstance(w, bool) else w for w in wants]
    if op == "in":
        return value in wants
    if op == "not_in":
        return value not in wants
    return {"eq": value == wants[0], "gt": value > wants[0], "gte": value >= wants[0],
            "lt": value < wants[0], "lte": value <= wants[0]}[op]


def _matches_any(row: dict, alternatives: list[dict]) -> bool:
    return any(row["event_type"] == a["event_type"]
               and all(_filter_holds(row, f) for f in a.get("filters") or [])
               for a in alternatives)


def _window(funnel: dict, default_days: int) -> timedelta | None:
    window = funnel.get("window")
    if window == "session":
        return None
    if not window:
        return timedelta(days=default_days)
    (unit, n), = window.items()
    return timedelta(**{unit: n})


def _user_attempts(evs: list[dict], funnel: dict, window: timedelta | None,
                   active: frozenset[str]) -> list[dict]:
    """One user's attempts (events sorted by time, then event_id): start, deepest step,
    the event of each reached step, as int_funnel_attempts defines them."""
    steps = [_step_alternatives(s) for s in funnel["steps"]]
    n = len(steps)
    hold = list(funnel.get("hold_constant") or []) + (["session_id"] if window is None else [])
    exclusions = [(_selector(x["selector"]), x["between"][0]) for x in funnel.get(
        "exclusions") or []]
    match = [[_matches_any(e, alts) for alts in steps] for e in evs]
    key = [tuple(_field(e, h) for h in hold) for e in evs]
    is_active = [e["event_type"] in active for e in evs]
    excluded = [[_matches_any(e, alts) for alts, _ in exclusions] for e in evs]
    # strict: an event of step k after step k-1's with no other active event between
    active_before = list(_cumulative(is_active))
    attempts = []
    order = funnel.get("order", "ordered")
    if order == "any":
        for i, e in enumerate(evs):
            if not any(match[i]):
                continue
            reached = []
            for k in range(n):
                j = next((j for j in range(i, len(evs)) if match[j][k] and key[j] == key[i]),
                         None)
                if j is not None and (window is None or evs[j]["event_ts"]
                                      <= e["event_ts"] + window):
                    reached.append((evs[j]["event_ts"], j, k))
            reached.sort()
            attempts.append({"start": e["event_ts"], "day": e["event_date"], "seq": i,
                             "depth": len(reached),
                             "events": [evs[j] for _, j, _ in reached]})
        return attempts
    for i, e in enumerate(evs):
        if not match[i][0]:
            continue
        chain = [i]
        for k in range(1, n):
            prev = chain[-1]
            if order == "strict":
                j = next((j for j in range(prev + 1, len(evs))
                          if active_before[j] - is_active[j] <= active_before[prev]
                          and match[j][k] and key[j] == key[i]), None)
                if j is not None and active_before[j] - is_active[j] != active_before[prev]:
                    j = None
            else:
                j = min((j for j in range(len(evs)) if match[j][k] and key[j] == key[i]
                         and evs[j]["event_ts"] >= evs[prev]["event_ts"]), default=None)
            if j is None or (window is not None
                             and evs[j]["event_ts"] > e["event_ts"] + window):
                break
            chain.append(j)
        if any(len(chain) > b and any(excluded[m][x] for m in range(chain[b - 1] + 1,
                                                                   chain[b]))
               for x, (_, b) in enumerate(exclusions)):
            continue
        attempts.append({"start": e["event_ts"], "day": e["event_date"], "seq": i,
                         "depth": len(chain),
                         "events": [evs[j] for j in chain]})
    return attempts


def _cumulative(flags: list[bool]):
    total = 0
    for f in flags:
        total += int(f)
        yield total


def _breakdown_value(attempt: dict, b: dict) -> Any:
    attribution = b.get("attribution", "first_touch")
    if attribution == "first_touch":
        event = attempt["events"][0]
    elif attribution == "last_touch":
        event = attempt["events"][-1]
    else:
        k = b["step"]
        event = attempt["events"][k - 1] if attempt["depth"] >= k else None
    return None if event is None else _field(event, b["field"])


def _funnel_rows(counts: dict[Any, list[int]], n: int) -> list[tuple[Any, int, int, Any, int]]:
    """(group, step, users, conversion, dropoff) from per-group deepest steps."""
    rows = []
    for group, depths in counts.items():
        users = [sum(d >= k for d in depths) for k in range(1, n + 1)]
        for k in range(n):
            rows.append((group, k + 1, users[k], users[k] / users[0] if users[0] else None,
                         users[k - 1] - users[k] if k else 0))
    return rows


def funnels_v2(events: pd.DataFrame, as_of: date, metrics: dict[str, Any],
               coverage_start: date | None) -> dict[str, pd.DataFrame]:
    """funnel_breakdowns and funnel_trends ('__all__' rows) of every configured funnel."""
    active = frozenset(metrics.get("active_events") or ACTIVE_EVENT_TYPES)
    default_days = int(metrics.get("conversion_window_days", 14))
    per_user: dict[str, list[dict]] = defaultdict(list)
    ordered = events.sort_values(["event_ts", "event_id"], kind="stable")
    for row in ordered.to_dict("records"):
        if _none(row["user_id"]) is not None and row["event_date"] <= as_of:
            per_user[row["user_id"]].append(row)
    breakdowns, trends = [], []
    for funnel in metrics.get("funnels", []):
        window = _window(funnel, default_days)
        n = len(funnel["steps"])
        attempts = {u: _user_attempts(evs, funnel, window, active)
                    for u, evs in per_user.items()}
        attempts = {u: a for u, a in attempts.items() if a}
        best = {u: min(a, key=lambda x: (-x["depth"], x["start"], x["seq"]))
                for u, a in attempts.items()}
        for b in funnel.get("breakdowns") or []:
            label = (f"step_{b['step']}" if b.get("attribution") == "step_k"
                     else b.get("attribution", "first_touch"))
            groups: dict[Any, list[int]] = defaultdict(list)
            for attempt in best.values():
                groups[_breakdown_value(attempt, b)].append(attempt["depth"])
            for value, step, users, rate, drop in _funnel_rows(groups, n):
                breakdowns.append((funnel["name"], b["field"], label, value, step, users, rate,
                                   drop))
        closes = timedelta(0) if window is None else window
        for grain in funnel.get("trend_grains", ["day", "week"]):
            groups = defaultdict(dict)
            for u, user_attempts in attempts.items():
                for a in user_attempts:
                    period = a["day"] if grain == "day" else _monday(a["day"])
                    groups[period][u] = max(groups[period].get(u, 0), a["depth"])
            for period, step, users, rate, _drop in _funnel_rows(
                    {p: list(d.values()) for p, d in groups.items()}, n):
                end = period + timedelta(days=1 if grain == "day" else 7)
                complete = (datetime.combine(end, datetime.min.time()) + closes
                            <= datetime.combine(as_of + timedelta(days=1), datetime.min.time())
                            and coverage_start is not None and period >= coverage_start)
                trends.append((funnel["name"], grain, period, step, users,
                               rate if complete else None, complete))
    return {"funnel_breakdowns": pd.DataFrame(breakdowns, columns=BREAKDOWN_COLUMNS),
            "funnel_trends": pd.DataFrame(trends, columns=TREND_COLUMNS)}


def compare_funnels(con: duckdb.DuckDBPyConnection,
                    metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """marts.funnel_breakdowns and marts.funnel_trends ('__all__') against
    :func:`funnels_v2`; ``mismatches`` is the total number of rows that differ."""
    metrics = _metrics() if metrics is None else metrics
    tz = metrics.get("reporting_timezone") or "UTC"
    events, _ = load_frames(con)
    extra = con.execute(f"SELECT event_id, {', '.join(_FIELD_COLUMNS[1:])} FROM raw.events "
                        "WHERE is_current").df()
    events = events.merge(extra, on="event_id", how="left")
    events = events.assign(event_date=_local_dates(events["event_ts"], tz))
    as_of_var = metrics.get("as_of_date")
    as_of = (date.fromisoformat(str(as_of_var)) if as_of_var
             else pd.Timestamp(events["export_date"].max()).date())
    t0 = time.perf_counter()
    reference = funnels_v2(events, as_of, metrics, coverage_start(events, as_of))
    seconds = time.perf_counter() - t0
    built = {
        "funnel_breakdowns": con.execute(
            f"SELECT {', '.join(BREAKDOWN_COLUMNS)} FROM marts.funnel_breakdowns "
            "WHERE creator_id = '__all__'").df(),
        "funnel_trends": con.execute(
            f"SELECT {', '.join(TREND_COLUMNS)} FROM marts.funnel_trends "
            "WHERE creator_id = '__all__'").df(),
    }
    results = {name: diff(reference[name], built[name], keys)
               for name, keys in KEYS_FUNNELS.items()}
    return {"as_of_date": as_of.isoformat(), "events": len(events),
            "compute_s": round(seconds, 3),
            "mismatches": sum(r["mismatches"] for r in results.values()), "marts": results}


def marts(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The dbt marts' rows that the reference computes."""
    return {
        "engagement_daily": con.execute(
            f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in ENGAGEMENT_COLUMNS)} "
            "FROM marts.engagement_daily").df(),
        "retention_cohorts": con.execute(
            f"SELECT {', '.join(RETENTION_COLUMNS)} FROM marts.retention_cohorts "
            "WHERE cohort_grain = 'week'").df(),
        "funnel_steps": con.execute(
            f"SELECT {', '.join(FUNNEL_COLUMNS)} FROM marts.funnel_steps WHERE funnel = ? "
            "AND creator_id = '__all__'",
            [FUNNEL]).df(),
    }


KEYS = {
    "engagement_daily": ["date", "creator_id"],
    "retention_cohorts": ["cohort_start", "period"],
    "funnel_steps": ["funnel", "step"],
}


def _same(a: Any, b: Any) -> bool:
    a, b = _none(_py(a)), _none(_py(b))
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _py(value: Any) -> Any:
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if hasattr(value, "item"):
        return value.item()
    return value


def diff(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str],
         show: int = 5) -> dict[str, Any]:
    """Rows only in one side, and rows whose values differ (with a few examples)."""
    def index(df: pd.DataFrame) -> dict[tuple, dict]:
        return {tuple(_py(r[k]) for k in keys): r for r in df.to_dict("records")}

    a, b = index(ours), index(theirs)
    only_ref = sorted(set(a) - set(b), key=str)
    only_mart = sorted(set(b) - set(a), key=str)
    differing = []
    for key in sorted(set(a) & set(b), key=str):
        cols = [c for c in ours.columns if c not in keys and not _same(a[key][c], b[key][c])]
        if cols:
            differing.append({"key": [str(k) for k in key],
                              **{c: [_py(a[key][c]), _py(b[key][c])] for c in cols}})
    return {
        "rows_reference": len(a), "rows_mart": len(b),
        "only_in_reference": len(only_ref), "only_in_mart": len(only_mart),
        "differing_rows": len(differing),
        "mismatches": len(only_ref) + len(only_mart) + len(differing),
        "examples": {"only_in_reference": [[str(k) for k in x] for x in only_ref[:show]],
                     "only_in_mart": [[str(k) for k in x] for x in only_mart[:show]],
                     "differing ([reference, mart])": differing[:show]},
    }


def compare(con: duckdb.DuckDBPyConnection,
            metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time the reference on the warehouse behind ``con`` (load + compute) and compare it
    with the dbt marts. ``mismatches`` is the total number of rows that differ."""
    t0 = time.perf_counter()
    events, users = load_frames(con)
    load_s = time.perf_counter() - t0
    ref = compute(events, users, metrics)
    compute_s = sum(ref.seconds.values())
    built = marts(con)
    results = {name: diff(getattr(ref, name), built[name], KEYS[name]) for name in KEYS}
    return {
        "events": len(events),
        "as_of_date": ref.as_of.isoformat(),
        "load_s": round(load_s, 3),
        "compute_s": round(compute_s, 3),
        "total_s": round(load_s + compute_s, 3),
        "compute_steps_s": {k: round(v, 3) for k, v in ref.seconds.items()},
        "mismatches": sum(r["mismatches"] for r in results.values()),
        "marts": results,
    }


# --- version 2: paths (metrics.md v2 "Paths") -----------------------------------------

PATH_COLUMNS = ["path", "direction", "creator_id", "step", "source", "target", "users"]
_OPS = {"eq": lambda a, b: a == b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _path_field(row: dict[str, Any], data: dict[str, Any], name: str) -> Any:
    if name.startswith("data."):
        return data.get(name[5:])
    return _none(row.get(name))


def _path_filter_holds(row: dict[str, Any], data: dict[str, Any], f: dict[str, Any]) -> bool:
    value, op, want = _path_field(row, data, f["field"]), f.get("op", "eq"), f.get("value")
    if op == "is_null":
        return (value is None) == bool(want)
    if value is None:  # SQL: a comparison with null is not true
        return False
    if f["field"].startswith("data."):  # data fields compare as numbers or as text
        numeric = all(isinstance(w, int | float) and not isinstance(w, bool)
                      for w in (want if isinstance(want, list) else [want]))
        try:
            value = float(value) if numeric else (
                str(value).lower() if isinstance(value, bool) else str(value))
        except (TypeError, ValueError):
            return False
        conv = (lambda w: w) if numeric else (
            lambda w: str(w).lower() if isinstance(w, bool) else str(w))
        want = [conv(w) for w in want] if isinstance(want, list) else conv(want)
    if op in ("in", "not_in"):
        return (value in want) == (op == "in")
    return bool(_OPS[op](value, want))


def selector_matches(row: dict[str, Any], data: dict[str, Any], selector: Any) -> bool:
    """Whether an event (a row of raw.events and its parsed ``data``) is picked by a
    selector of the settings (metrics.md v2 "Event selectors")."""
    if isinstance(selector, str):
        selector = {"any_of": [{"event_type": selector}]}
    for alt in selector["any_of"]:
        if row["event_type"] == alt["event_type"] and all(
                _path_filter_holds(row, data, f) for f in alt.get("filters") or []):
            return True
    return False


def _label(event_type: str, data: dict[str, Any], label: str) -> str:
    if label == "event_type":
        return event_type
    value = data.get(label[5:])
    if value is None:
        return event_type
    text = json.dumps(value) if isinstance(value, dict | list) else (
        str(value).lower() if isinstance(value, bool) else str(value))
    return f"{label[5:]}:{text}"


def path_edges(events: pd.DataFrame, as_of: date, definitions: list[dict[str, Any]]
               ) -> pd.DataFrame:
    """marts.path_edges from the events (resolved users, ``data`` as JSON text), row by
    row: per creator scope and user, the first anchor event, then the events after (or
    before) it in its session, labelled, repeats merged, up to N steps after the anchor's
    step; an ``end`` edge when the path stops within N + 1 steps."""
    records = [r for r in events.sort_values(["event_ts", "event_id"]).to_dict("records")
               if _none(r["user_id"]) is not None and r["event_date"] <= as_of]
    for r in records:
        r["parsed"] = json.loads(r["data"]) if _none(r.get("data")) else {}
    by_scope: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        by_scope[(ALL, r["user_id"])].append(r)
        if _none(r["creator_id"]) is not None:
            by_scope[(r["creator_id"], r["user_id"])].append(r)
    counts: dict[tuple, int] = defaultdict(int)
    for d in definitions:
        n, after = int(d.get("steps", 5)), d.get("direction", "after") == "after"
        for (scope, _user), evs in by_scope.items():
            anchor = next((i for i, r in enumerate(evs)
                           if selector_matches(r, r["parsed"], d["anchor"])), None)
            if anchor is None:
                continue
            session = evs[anchor]["session_id"]
            ordered = evs[anchor:] if after else evs[anchor::-1]
            labels = [_label(r["event_type"], r["parsed"], d.get("label", "event_type"))
                      for r in ordered if r["session_id"] == session]
            steps = [x for i, x in enumerate(labels) if i == 0 or labels[i - 1] != x]
            for i in range(min(len(steps), n + 1)):
                target = steps[i + 1] if i + 1 < len(steps) else "end"
                if i + 1 <= n or target == "end":
                    counts[(d["name"], d.get("direction", "after"), scope, i + 1,
                            steps[i], target)] += 1
    rows = [dict(zip(PATH_COLUMNS, (*key, users), strict=True))
            for key, users in sorted(counts.items())]
    return pd.DataFrame(rows, columns=PATH_COLUMNS)


def compare_paths(con: duckdb.DuckDBPyConnection,
                  metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """marts.path_edges of the settings' paths against :func:`path_edges`."""
    metrics = _metrics() if metrics is None else metrics
    tz = metrics.get("reporting_timezone") or "UTC"
    events, _ = load_frames(con)
    data = con.execute("SELECT event_id, CAST(data AS VARCHAR) AS data FROM raw.events "
                       "WHERE is_current").df()
    events = events.merge(data, on="event_id", how="left")
    events = events.assign(event_date=_local_dates(events["event_ts"], tz))
    as_of_var = metrics.get("as_of_date")
    as_of = (date.fromisoformat(str(as_of_var)) if as_of_var
             else pd.Timestamp(events["export_date"].max()).date())
    t0 = time.perf_counter()
    reference = path_edges(events, as_of, metrics.get("paths", []))
    seconds = time.perf_counter() - t0
    built = con.execute(f"SELECT {', '.join(PATH_COLUMNS)} FROM marts.path_edges").df()
    result = diff(reference, built, ["path", "creator_id", "step", "source", "target"])
    return {"as_of_date": as_of.isoformat(), "compute_s": round(seconds, 3),
            "paths": [d["name"] for d in metrics.get("paths", [])], **result}


# --- money, experiments and learning: revenue_daily, experiment_results, topic_mastery --

REVENUE_COLUMNS = ["date", "currency", "creator_id", "charges", "refunds", "net_revenue"]
EXPERIMENT_COLUMNS = ["experiment_id", "variant", "users", "conversions", "conversion_rate",
                      "lift", "p_value", "ci_low", "ci_high", "significant", "srm_p_value",
                      "is_control", "control_variant", "rate_difference", "z_score"]
MASTERY_COLUMNS = ["user_id", "topic", "creator_id", "attempts", "correct_attempts", "mastery",
                   "level", "params_source"]
KEYS_MONEY_LEARNING = {
    "revenue_daily": ["date", "currency", "creator_id"],
    "experiment_results": ["experiment_id", "variant"],
    "topic_mastery": ["user_id", "topic", "creator_id"],
}
#: the mart's normal CDF is Abramowitz & Stegun's (error < 1.5e-7): p-values agree to 1e-6
P_VALUE_TOLERANCE = 1e-6
#: metrics.md "Mastery": the lowest mastery of each level, highest first
MASTERY_LEVELS = ((0.95, "mastered"), (0.75, "proficient"), (0.5, "familiar"),
                  (0.0, "attempted"))
Z_95 = 1.959963984540054


def _as_of(con: duckdb.DuckDBPyConnection, metrics: dict[str, Any]) -> date:
    """metrics.as_of_date, else the last export date of the current events."""
    as_of_var = metrics.get("as_of_date")
    if as_of_var:
        return date.fromisoformat(str(as_of_var))
    return pd.Timestamp(con.execute(
        "SELECT max(export_date) FROM raw.events WHERE is_current").fetchone()[0]).date()


def revenue_daily(payments: pd.DataFrame, programs: pd.DataFrame, as_of: date,
                  tz: str) -> pd.DataFrame:
    """Charges, refunds and net revenue per paid date (reporting time zone), currency (upper
    case) and creator of the paid program, and '__all__' per date and currency (every
    payment, programs without a known creator included); never across currencies."""
    creator_of = {r["program_id"]: r["creator_id"] for r in programs.to_dict("records")}
    paid = payments.assign(paid_date=_local_dates(payments["paid_at"], tz))
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in paid.to_dict("records"):
        if r["currency"] is None or r["paid_date"] is None or r["paid_date"] > as_of:
            continue
        cell = 0 if r["kind"] == "charge" else 1
        creator = creator_of.get(r["program_id"])
        for who in ([creator] if creator is not None else []) + [ALL]:
            sums[(r["paid_date"], r["currency"].upper(), who)][cell] += float(r["amount"])
    return pd.DataFrame([
        {"date": d, "currency": c, "creator_id": who, "charges": ch, "refunds": rf,
         "net_revenue": ch - rf} for (d, c, who), (ch, rf) in sums.items()],
        columns=REVENUE_COLUMNS)


def _normal_sf(z: float) -> float:
    """P(Z > z) of the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def experiment_results(assignments: pd.DataFrame, payments: pd.DataFrame, as_of: date,
                       tz: str, window_days: int) -> pd.DataFrame:
    """Per experiment and variant: users assigned up to the as-of date, those with a charge
    paid (up to the as-of date) at or after their assignment and at most ``window_days``
    later; against the control ('control', else the first variant alphabetically): lift,
    the pooled two-proportion z-test (two-sided), the unpooled 95 % interval of the
    difference, significant = p < 0.05, and the chi-square test of an equal split."""
    assigned = assignments.assign(assigned_date=_local_dates(assignments["assigned_at"], tz))
    paid = payments.assign(paid_date=_local_dates(payments["paid_at"], tz))
    charges: dict[str, list[datetime]] = defaultdict(list)
    for r in paid.to_dict("records"):
        if r["kind"] == "charge" and r["paid_date"] is not None and r["paid_date"] <= as_of:
            charges[r["user_id"]].append(pd.Timestamp(r["paid_at"]).to_pydatetime())
    window = timedelta(days=window_days)
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in assigned.to_dict("records"):
        if r["assigned_at"] is None or pd.isna(r["assigned_at"]) or r["assigned_date"] > as_of:
            continue
        at = pd.Timestamp(r["assigned_at"]).to_pydatetime()
        cell = counts[r["experiment_id"]][r["variant"]]
        cell[0] += 1
        cell[1] += any(at <= t <= at + window for t in charges.get(r["user_id"], []))
    rows = []
    for exp, variants in counts.items():
        names = sorted(variants)
        control = next((v for v in names if v.lower() == "control"), names[0])
        n0, x0 = variants[control]
        p0 = x0 / n0
        mean = sum(n for n, _ in variants.values()) / len(variants)
        chi2 = sum((n - mean) ** 2 / mean for n, _ in variants.values())
        df = len(variants) - 1
        srm = (None if df < 1 else 1.0 if chi2 <= 0 else 2 * _normal_sf(math.sqrt(chi2))
               if df == 1 else math.exp(-chi2 / 2) if df == 2 else None)
        for v in names:
            n, x = variants[v]
            p1 = x / n
            row = {"experiment_id": exp, "variant": v, "users": n, "conversions": x,
                   "conversion_rate": p1, "is_control": v == control, "control_variant": control,
                   "srm_p_value": srm, "lift": None, "p_value": None, "ci_low": None,
                   "ci_high": None, "significant": False, "rate_difference": None,
                   "z_score": None}
            if v != control:
                d = p1 - p0
                pooled = (x + x0) / (n + n0)
                se = math.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n0)
                row.update(rate_difference=d, ci_low=d - Z_95 * se, ci_high=d + Z_95 * se,
                           lift=d / p0 if p0 else None)
                if 0 < pooled < 1:
                    z = d / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
                    row.update(z_score=z, p_value=2 * _normal_sf(abs(z)))
                    row["significant"] = row["p_value"] < 0.05
            rows.append(row)
    return pd.DataFrame(rows, columns=EXPERIMENT_COLUMNS)


def bkt_parameters(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[float, ...]]:
    """The fitted (p_init, p_transit, p_guess, p_slip) per topic of ml.bkt_params when that
    table exists: the latest valid fit (every parameter a probability, guess and slip
    strictly between 0 and 1)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'ml' AND table_name = 'bkt_params'").fetchone()[0]
    if not exists:
        return {}
    out: dict[str, tuple[Any, tuple[float, ...]]] = {}
    for r in con.execute("SELECT topic, p_init, p_transit, p_guess, p_slip, fitted_at "
                         "FROM ml.bkt_params").df().to_dict("records"):
        ps = (r["p_init"], r["p_transit"], r["p_guess"], r["p_slip"])
        if r["topic"] is None or any(p is None or pd.isna(p) or not 0 <= p <= 1 for p in ps):
            continue
        if not (0 < r["p_guess"] < 1 and 0 < r["p_slip"] < 1):
            continue
        if r["topic"] not in out or r["fitted_at"] > out[r["topic"]][0]:
            out[r["topic"]] = (r["fitted_at"], tuple(float(p) for p in ps))
    return {t: ps for t, (_, ps) in out.items()}


def topic_mastery(attempts: pd.DataFrame, fitted: dict[str, tuple[float, ...]],
                  defaults: tuple[float, float, float, float], as_of: date) -> pd.DataFrame:
    """Per user, topic and creator of the attempt (and '__all__'): attempts and correct
    ones up to the as-of date, and the BKT mastery after the user's last such attempt.
    The recursion runs over every attempt of the user on the topic in time order (ties by
    event_id): before the first, p_init; after each, the posterior of the outcome moved on
    by p_transit. Level: metrics.md's bands."""
    ordered = attempts.sort_values(["event_ts", "event_id"], kind="stable")
    by_user_topic: dict[tuple, list[dict]] = defaultdict(list)
    for r in ordered.to_dict("records"):
        by_user_topic[(r["user_id"], r["topic"])].append(r)
    rows = []
    for (user, topic), seq in by_user_topic.items():
        p_init, p_transit, p_guess, p_slip = fitted.get(topic, defaults)
        m = p_init
        cells: dict[str, list] = {}
        for r in seq:
            if r["correct"]:
                post = m * (1 - p_slip) / (m * (1 - p_slip) + (1 - m) * p_guess)
            else:
                post = m * p_slip / (m * p_slip + (1 - m) * (1 - p_guess))
            m = post + (1 - post) * p_transit
            if r["event_date"] > as_of:
                continue
            for who in ([r["creator_id"]] if r["creator_id"] is not None else []) + [ALL]:
                cell = cells.setdefault(who, [0, 0, 0.0])
                cell[0] += 1
                cell[1] += bool(r["correct"])
                cell[2] = m
        for who, (n, k, mastery) in cells.items():
            level = next(name for low, name in MASTERY_LEVELS if mastery >= low)
            rows.append({"user_id": user, "topic": topic, "creator_id": who, "attempts": n,
                         "correct_attempts": k, "mastery": mastery, "level": level,
                         "params_source": "fitted" if topic in fitted else "default"})
    return pd.DataFrame(rows, columns=MASTERY_COLUMNS)


def compare_money_learning(con: duckdb.DuckDBPyConnection,
                           metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """revenue_daily, experiment_results and topic_mastery (every row) against this
    reference; ``mismatches`` is the total number of rows that differ. The marts' p-values
    (an approximate normal CDF) are compared to P_VALUE_TOLERANCE."""
    metrics = _metrics() if metrics is None else metrics
    tz = metrics.get("reporting_timezone") or "UTC"
    as_of = _as_of(con, metrics)
    t0 = time.perf_counter()
    payments = con.execute("SELECT payment_id, user_id, program_id, kind, amount, currency, "
                           "paid_at FROM raw.payments WHERE is_current").df()
    programs = con.execute("SELECT program_id, creator_id FROM raw.programs "
                           "WHERE is_current").df()
    assignments = con.execute("SELECT experiment_id, variant, user_id, assigned_at "
                              "FROM raw.experiment_assignments WHERE is_current").df()
    events = resolve_users(con.execute(
        "SELECT event_id, session_id, user_id, anonymous_id, creator_id, event_type, event_ts, "
        "topic, correct FROM raw.events WHERE is_current").df())
    attempts = events[(events["event_type"] == "exercise_attempted") & events["user_id"].notna()
                      & events["topic"].notna() & events["correct"].notna()]
    attempts = attempts.assign(event_date=_local_dates(attempts["event_ts"], tz))
    defaults = tuple(float(metrics[f"bkt_{k}"]) for k in ("p_init", "p_transit", "p_guess",
                                                           "p_slip"))
    reference = {
        "revenue_daily": revenue_daily(payments, programs, as_of, tz),
        "experiment_results": experiment_results(
            assignments, payments, as_of, tz, int(metrics["experiment_conversion_window_days"])),
        "topic_mastery": topic_mastery(attempts, bkt_parameters(con), defaults, as_of),
    }
    seconds = time.perf_counter() - t0
    quoted = {"revenue_daily": [f'"{c}"' if c == "date" else c for c in REVENUE_COLUMNS],
              "experiment_results": EXPERIMENT_COLUMNS, "topic_mastery": MASTERY_COLUMNS}
    built = {name: con.execute(f"SELECT {', '.join(cols)} FROM marts.{name}").df()
             for name, cols in quoted.items()}
    p_cols = ["p_value", "srm_p_value"]
    results = {}
    for name, keys in KEYS_MONEY_LEARNING.items():
        ours, theirs = reference[name], built[name]
        if name == "experiment_results":  # p-values to P_VALUE_TOLERANCE, the rest exactly
            results["experiment_p_values"] = _close(ours, theirs, keys, p_cols)
            ours, theirs = ours.drop(columns=p_cols), theirs.drop(columns=p_cols)
        results[name] = diff(ours, theirs, keys)
    return {"as_of_date": as_of.isoformat(), "compute_s": round(seconds, 3),
            "mismatches": sum(r["mismatches"] for r in results.values()), "marts": results}


def _close(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str],
           columns: list[str]) -> dict[str, Any]:
    """Rows whose ``columns`` differ by more than P_VALUE_TOLERANCE (or in being null)."""
    merged = ours[keys + columns].merge(theirs[keys + columns], on=keys, how="outer",
                                        suffixes=("_ref", "_mart"), indicator=True)
    bad = []
    for r in merged.to_dict("records"):
        for c in columns:
            a, b = _none(_py(r[f"{c}_ref"])), _none(_py(r[f"{c}_mart"]))
            if r["_merge"] != "both" or (a is None) != (b is None) or (
                    a is not None and abs(float(a) - float(b)) > P_VALUE_TOLERANCE):
                bad.append({"key": [str(r[k]) for k in keys], c: [a, b]})
    return {"rows_reference": len(ours), "rows_mart": len(theirs), "differing_rows": len(bad),
            "mismatches": len(bad), "examples": bad[:5]}


def main() -> None:
    warehouse = Path(sys.argv[1])
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    print(json.dumps({"version_1": compare(con), "version_2": compare_v2(con),
                      "paths": compare_paths(con),
                      "funnels_v2": compare_funnels(con),
                      "money_learning": compare_money_learning(con)}, indent=2, default=str))


if __name__ == "__main__":
    main()
